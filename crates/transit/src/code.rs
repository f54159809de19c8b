//! The transit credential and the code the phone shows at the gate.
//!
//! A **certificate** is issued by the platform for one device and one transit operator, for a
//! short time (a day): it binds an opaque account reference, the device's Ed25519 public key
//! and a credit limit, and is signed by one of the platform's transit issuer keys (each with
//! an id, so keys can rotate while gates hold the current and the previous one).
//!
//! A **ride code** is made on the phone, offline, every 30–60 s: the certificate, the time,
//! and the device's Ed25519 signature over both. No name, phone or card number is in it: only
//! the account reference, which means nothing outside the platform.
//!
//! Wire format, version 1 (all integers big-endian):
//!
//! ```text
//! certificate (129 bytes)
//!   0  version        u8   = 1
//!   1  issuer key id  u16
//!   3  serial         u64  (the certificate's own id)
//!  11  account ref    [8]  (opaque)
//!  19  device key     [32] (Ed25519 public key)
//!  51  credit limit   u32  (CNY fen)
//!  55  not before     u32  (Unix seconds)
//!  59  not after      u32
//!  63  operator       u16  (the transit operator it is for)
//!  65  issuer sig.    [64] Ed25519 over "cashless-transit-cert-v1" ‖ bytes 0..65
//! ride code (197 bytes)
//!   0  certificate    [129]
//! 129  made at        u32  (Unix seconds, the phone's clock)
//! 133  device sig.    [64] Ed25519 over "cashless-transit-code-v1" ‖ bytes 0..133
//! ```
//!
//! In the QR code it is `CT1:` followed by the 197 bytes in Base45 (296 characters), all in
//! the QR alphanumeric alphabet: 300 characters fit a version 10 symbol (57 × 57 modules) at
//! error correction level M, which phones show and gate scanners read easily.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::base45;

pub const CERTIFICATE_LEN: usize = 129;
pub const CODE_LEN: usize = 197;
const CERT_SIGNED_LEN: usize = 65;
const CODE_SIGNED_LEN: usize = 133;
const VERSION: u8 = 1;
/// What a transit QR code's text starts with.
pub const PREFIX: &str = "CT1:";
/// The QR symbol version a ride code needs at level M (alphanumeric mode).
pub const QR_VERSION: u8 = 10;

const CERT_DOMAIN: &[u8] = b"cashless-transit-cert-v1";
const CODE_DOMAIN: &[u8] = b"cashless-transit-code-v1";

/// Why a text is not a well-formed ride code (its signatures are not looked at here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a Cashless transit code (it does not start with {PREFIX})")]
    NotTransit,
    #[error("the code is not valid Base45")]
    Encoding,
    #[error("the code has {0} bytes, not {CODE_LEN}")]
    Length(usize),
    #[error("unknown transit code version {0}")]
    Version(u8),
    #[error("the certificate's validity ends before it begins")]
    Validity,
}

impl FormatError {
    pub fn code(self) -> &'static str {
        match self {
            FormatError::NotTransit => "not_transit",
            FormatError::Encoding => "bad_encoding",
            FormatError::Length(_) => "bad_length",
            FormatError::Version(_) => "bad_version",
            FormatError::Validity => "bad_validity",
        }
    }
}

/// What the platform vouches for when it issues a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateBody {
    pub issuer_key_id: u16,
    pub serial: u64,
    pub account_ref: [u8; 8],
    pub device_key: [u8; 32],
    pub credit_limit: u32,
    pub not_before: u32,
    pub not_after: u32,
    pub operator: u16,
}

/// A certificate: its body and the issuer's signature, as the bytes that travel.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Certificate {
    bytes: [u8; CERTIFICATE_LEN],
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("body", &self.body())
            .finish_non_exhaustive()
    }
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn signed_message(domain: &[u8], signed: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(domain.len() + signed.len());
    message.extend_from_slice(domain);
    message.extend_from_slice(signed);
    message
}

impl CertificateBody {
    fn to_bytes(self) -> [u8; CERT_SIGNED_LEN] {
        let mut b = [0u8; CERT_SIGNED_LEN];
        b[0] = VERSION;
        b[1..3].copy_from_slice(&self.issuer_key_id.to_be_bytes());
        b[3..11].copy_from_slice(&self.serial.to_be_bytes());
        b[11..19].copy_from_slice(&self.account_ref);
        b[19..51].copy_from_slice(&self.device_key);
        b[51..55].copy_from_slice(&self.credit_limit.to_be_bytes());
        b[55..59].copy_from_slice(&self.not_before.to_be_bytes());
        b[59..63].copy_from_slice(&self.not_after.to_be_bytes());
        b[63..65].copy_from_slice(&self.operator.to_be_bytes());
        b
    }

    /// Signs the body with the issuer key `key` (whose id the body names).
    pub fn issue(self, key: &SigningKey) -> Certificate {
        let signed = self.to_bytes();
        let signature = key.sign(&signed_message(CERT_DOMAIN, &signed));
        let mut bytes = [0u8; CERTIFICATE_LEN];
        bytes[..CERT_SIGNED_LEN].copy_from_slice(&signed);
        bytes[CERT_SIGNED_LEN..].copy_from_slice(&signature.to_bytes());
        Certificate { bytes }
    }
}

impl Certificate {
    /// A certificate from its bytes (as the platform handed it to the phone).
    pub fn from_bytes(bytes: &[u8]) -> Result<Certificate, FormatError> {
        let bytes: [u8; CERTIFICATE_LEN] = bytes
            .try_into()
            .map_err(|_| FormatError::Length(bytes.len()))?;
        if bytes[0] != VERSION {
            return Err(FormatError::Version(bytes[0]));
        }
        let certificate = Certificate { bytes };
        let body = certificate.body();
        if body.not_after < body.not_before {
            return Err(FormatError::Validity);
        }
        Ok(certificate)
    }

    pub fn as_bytes(&self) -> &[u8; CERTIFICATE_LEN] {
        &self.bytes
    }

    pub fn body(&self) -> CertificateBody {
        let b = &self.bytes;
        CertificateBody {
            issuer_key_id: be16(b, 1),
            serial: u64::from_be_bytes(array(b, 3)),
            account_ref: array(b, 11),
            device_key: array(b, 19),
            credit_limit: be32(b, 51),
            not_before: be32(b, 55),
            not_after: be32(b, 59),
            operator: be16(b, 63),
        }
    }

    /// Whether `issuer` signed this certificate.
    pub fn signed_by(&self, issuer: &VerifyingKey) -> bool {
        let signature = Signature::from_bytes(&array(&self.bytes, CERT_SIGNED_LEN));
        issuer
            .verify_strict(
                &signed_message(CERT_DOMAIN, &self.bytes[..CERT_SIGNED_LEN]),
                &signature,
            )
            .is_ok()
    }

    /// The phone's side: a ride code for `made_at` (Unix seconds), signed with the device key
    /// the certificate names.
    pub fn ride_code(&self, device: &SigningKey, made_at: u32) -> RideCode {
        let mut bytes = [0u8; CODE_LEN];
        bytes[..CERTIFICATE_LEN].copy_from_slice(&self.bytes);
        bytes[CERTIFICATE_LEN..CODE_SIGNED_LEN].copy_from_slice(&made_at.to_be_bytes());
        let signature = device.sign(&signed_message(CODE_DOMAIN, &bytes[..CODE_SIGNED_LEN]));
        bytes[CODE_SIGNED_LEN..].copy_from_slice(&signature.to_bytes());
        RideCode { bytes }
    }
}

/// A ride code as the gate reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RideCode {
    bytes: [u8; CODE_LEN],
}

impl std::fmt::Debug for RideCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RideCode")
            .field("certificate", &self.certificate().body())
            .field("made_at", &self.made_at())
            .finish_non_exhaustive()
    }
}

impl RideCode {
    /// Reads the text of a scanned QR code. Checks the form only, not the signatures.
    pub fn parse(text: &str) -> Result<RideCode, FormatError> {
        let encoded = text
            .trim_end_matches(['\r', '\n'])
            .strip_prefix(PREFIX)
            .ok_or(FormatError::NotTransit)?;
        // A longer text cannot be a code: refuse it before decoding anything.
        if encoded.len() != CODE_LEN / 2 * 3 + 2 {
            return Err(FormatError::Length(encoded.len() / 3 * 2));
        }
        let bytes = base45::decode(encoded).map_err(|_| FormatError::Encoding)?;
        RideCode::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<RideCode, FormatError> {
        let bytes: [u8; CODE_LEN] = bytes
            .try_into()
            .map_err(|_| FormatError::Length(bytes.len()))?;
        Certificate::from_bytes(&bytes[..CERTIFICATE_LEN])?;
        Ok(RideCode { bytes })
    }

    /// The text to put in the QR code.
    pub fn to_text(&self) -> String {
        format!("{PREFIX}{}", base45::encode(&self.bytes))
    }

    pub fn as_bytes(&self) -> &[u8; CODE_LEN] {
        &self.bytes
    }

    pub fn certificate(&self) -> Certificate {
        Certificate {
            bytes: array(&self.bytes, 0),
        }
    }

    pub fn made_at(&self) -> u32 {
        be32(&self.bytes, CERTIFICATE_LEN)
    }

    /// Whether the device key `key` signed this code.
    pub fn signed_by(&self, key: &VerifyingKey) -> bool {
        let signature = Signature::from_bytes(&array(&self.bytes, CODE_SIGNED_LEN));
        key.verify_strict(
            &signed_message(CODE_DOMAIN, &self.bytes[..CODE_SIGNED_LEN]),
            &signature,
        )
        .is_ok()
    }

    /// The code's fingerprint (first 16 bytes of its SHA-256): how taps name it, and how a
    /// gate or the platform knows it saw it before.
    pub fn digest(&self) -> [u8; 16] {
        use sha2::Digest;
        array(&sha2::Sha256::digest(self.bytes), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn body(device: &SigningKey) -> CertificateBody {
        CertificateBody {
            issuer_key_id: 7,
            serial: 0x0102_0304_0506_0708,
            account_ref: *b"ACCOUNT1",
            device_key: device.verifying_key().to_bytes(),
            credit_limit: 5_000,
            not_before: 1_800_000_000,
            not_after: 1_800_086_400,
            operator: 1,
        }
    }

    #[test]
    fn a_code_round_trips_through_its_qr_text() {
        let (issuer, device) = (key(1), key(2));
        let certificate = body(&device).issue(&issuer);
        assert!(certificate.signed_by(&issuer.verifying_key()));
        assert!(!certificate.signed_by(&device.verifying_key()));
        let code = certificate.ride_code(&device, 1_800_000_100);
        let text = code.to_text();
        assert_eq!(text.len(), 300, "fits QR version 10-M alphanumeric (311)");
        assert!(
            text.bytes()
                .all(|c| b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(&c))
        );
        let read = RideCode::parse(&text).unwrap();
        assert_eq!(read, code);
        assert_eq!(read.certificate().body(), body(&device));
        assert_eq!(read.made_at(), 1_800_000_100);
        assert!(read.signed_by(&device.verifying_key()));
        assert!(!read.signed_by(&issuer.verifying_key()));
    }

    #[test]
    fn malformed_texts_are_refused_with_a_reason() {
        let (issuer, device) = (key(1), key(2));
        let text = body(&device)
            .issue(&issuer)
            .ride_code(&device, 1_800_000_100)
            .to_text();
        assert_eq!(RideCode::parse("hello"), Err(FormatError::NotTransit));
        assert_eq!(
            RideCode::parse(&text[..text.len() - 3]).unwrap_err().code(),
            "bad_length"
        );
        let lower = text.replacen('A', "a", 1);
        if lower != text {
            assert_eq!(RideCode::parse(&lower), Err(FormatError::Encoding));
        }
        let mut bytes = *RideCode::parse(&text).unwrap().as_bytes();
        bytes[0] = 2;
        assert_eq!(RideCode::from_bytes(&bytes), Err(FormatError::Version(2)));
        // A certificate whose validity ends before it starts is not a certificate.
        let mut backwards = body(&device);
        backwards.not_after = backwards.not_before - 1;
        let code = backwards.issue(&issuer).ride_code(&device, 1);
        assert_eq!(
            RideCode::from_bytes(code.as_bytes()),
            Err(FormatError::Validity)
        );
    }

    #[test]
    fn any_changed_byte_breaks_a_signature() {
        let (issuer, device) = (key(1), key(2));
        let code = body(&device)
            .issue(&issuer)
            .ride_code(&device, 1_800_000_100);
        for at in [1, 12, 40, 52, 60, 64, 100, 130, 150, 196] {
            let mut bytes = *code.as_bytes();
            bytes[at] ^= 0x01;
            let Ok(changed) = RideCode::from_bytes(&bytes) else {
                continue;
            };
            let certificate_ok = changed.certificate().signed_by(&issuer.verifying_key());
            let device_key = VerifyingKey::from_bytes(&changed.certificate().body().device_key);
            let code_ok = device_key.is_ok_and(|key| changed.signed_by(&key));
            assert!(!(certificate_ok && code_ok), "byte {at} changed unnoticed");
        }
    }
}
