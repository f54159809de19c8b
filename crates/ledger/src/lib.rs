//! The double-entry ledger's rules, pure: no I/O, no async, no clock, no randomness.
//!
//! Every movement of money is a [`Transfer`] between two [`Account`]s of the same currency,
//! applied inside a [`Batch`] that either commits whole or is undone. Rejections are values
//! ([`CreateTransferResult`]), never panics. Storage and the group-commit writer live in
//! `cashless-store`; this crate only decides.

#![deny(clippy::float_arithmetic)]

mod account;
mod hash;
mod id;
mod money;
mod state;
mod transfer;

pub use account::{Account, AccountFlags, AccountKind, Balances, CreateAccountResult};
pub use hash::{IdHashBuilder, IdHasher, IdMap};
pub use id::{AccountId, IdParseError, TimeOrderedIds, TransferId, format_u128, parse_u128};
pub use money::{
    AMOUNT_MAX, AmountError, Currency, Money, MoneyError, convert_minor, format_amount,
    parse_amount,
};
pub use state::{Batch, Changes, ColdStore, Ledger, LedgerConfig, NoColdStore, Savepoint, Totals};
pub use transfer::{CreateTransferResult, PendingStatus, Transfer, TransferFlags, TransferRecord};
