//! A consumer's rules, pure: who may sign up (phone numbers), who they are (resident ID cards,
//! passports), what they pay with (bank card numbers), how they confirm (the PIN policy), and
//! how much they may send (KYC levels and limits). No I/O; the caller passes today's date.

#![deny(clippy::float_arithmetic)]

pub mod card;
pub mod date;
pub mod kyc;
pub mod name;
pub mod passport;
pub mod phone;
pub mod pin;
pub mod resident_id;

pub use card::{BinInfo, CardError, CardKind, CardNumber, Issuer, Network};
pub use date::{Date, china_day_start_ns, china_time, rfc3339};
pub use kyc::{KycLevel, LimitError, Limits};
pub use name::{is_plausible_name, names_match};
pub use passport::{Passport, PassportError};
pub use phone::{Phone, PhoneError};
pub use pin::{PinError, check_new_pin, is_pin_shaped};
pub use resident_id::{ResidentId, ResidentIdError};
