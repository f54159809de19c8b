//! Bills and city services: what the city offers to pay and book, and the rules of each biller.
//!
//! This is the pure part, with no storage and no network (the service built on it comes with
//! the bill payments):
//!
//! - [`catalogue`]: 9 categories and 58 service types, named in Chinese and English, searched
//!   in either language; the seed of the table an operator edits.
//! - [`registry`]: what a biller's entry says, as BBPS and Alipay's bill APIs do: how a bill is
//!   found, the amount rule, prepaid or postpaid, and the customer parameters with their
//!   validation, checked before any biller is asked.
//! - [`fines`]: a traffic fine's late fee, quoted to the day.
//!
//! It must never know a wallet, an order, a database or HTTP.

pub mod catalogue;
pub mod fines;
pub mod registry;
