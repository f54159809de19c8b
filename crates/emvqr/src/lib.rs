//! EMV QRCPS Merchant-Presented Mode (MPM) payloads: the text inside a merchant's QR code.
//!
//! - [`parse`] turns a payload into an [`Mpm`], checking the ID/length/value structure
//!   (lengths count characters, not bytes), the CRC, the mandatory data objects and the
//!   syntax of every field it knows. Every root data object is kept, in order, so
//!   [`Mpm::payload`] re-encodes a parsed payload faithfully.
//! - [`MpmBuilder`] writes generic payloads; [`encode_static`] and [`encode_dynamic`]
//!   write our own codes (template 26, GUI [`CASHLESS_GUI`]).
//! - [`cashless_target`] tells one of our codes from a foreign scheme; [`Scheme`] names
//!   the foreign ones it recognises.
//! - With the `images` feature, `images` renders QR symbols (PNG, SVG) and reads them back
//!   from photos (PNG, JPEG).
//!
//! The crate is pure: no I/O, no clocks, no floats near money. Rejections are values
//! ([`ParseError`], [`EncodeError`]), each with a stable machine-readable `code()`.

mod amount;
mod cashless;
mod crc;
mod encode;
mod error;
mod fields;
#[cfg(feature = "images")]
pub mod images;
pub mod limits;
mod mpm;
mod parse;
mod path;
mod scheme;
mod tlv;

pub use amount::{Amount, FeePercentage, currency_exponent};
pub use cashless::{
    CASHLESS_GUI, CASHLESS_TEMPLATE_ID, CashlessMerchant, CashlessOrder, CashlessTarget,
    cashless_target, dynamic_payload, encode_dynamic, encode_static,
};
pub use crc::crc16_ccitt_false;
pub use encode::MpmBuilder;
pub use error::{AmountError, EncodeError, ParseError};
pub use fields::{
    AdditionalData, FormatIndicator, LanguageTemplate, MerchantAccount, PointOfInitiation,
    SubField, Tip,
};
pub use mpm::Mpm;
pub use parse::parse;
pub use path::FieldPath;
pub use scheme::{Scheme, scheme_for_gui, scheme_for_network_id};
pub use tlv::{DataObject, Value};
