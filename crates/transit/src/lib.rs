//! Transit: ride the bus and the metro with a QR code on the phone.
//!
//! - [`code`]: the certificate the platform issues for a device and the ride code the phone
//!   makes from it offline, and their compact wire format.
//! - [`gate`]: the gate's offline verifier: open or refuse, with a reason, and the taps it
//!   records for upload.
//! - [`fares`]: the metro's distances, fare tables, and pairing entries with exits.
//! - [`base45`]: bytes as QR alphanumeric characters (RFC 9285).

pub mod base45;
pub mod code;
pub mod fares;
pub mod gate;

pub use code::{Certificate, CertificateBody, FormatError, RideCode};
pub use gate::{
    Blacklist, Decision, Direction, Freshness, Gate, GatePlace, Refusal, Tap, verify_certificate,
    verify_code,
};
