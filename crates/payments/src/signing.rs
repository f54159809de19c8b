//! Signatures between merchants and the platform, both ways, with Ed25519.
//!
//! **Requests from a merchant's server** carry
//!
//! ```text
//! Authorization: CASHLESS-ED25519 merchant_id="…",key_id="…",timestamp="1764000000",nonce="…",signature="<128 hex>"
//! ```
//!
//! where the signature is over the string-to-sign, six lines joined by `\n` (no trailing
//! newline):
//!
//! ```text
//! CASHLESS-ED25519
//! POST
//! /v1/merchant/orders?optional=query
//! 1764000000
//! 5f0c1b9a6e2d4c8b
//! <lowercase hex SHA-256 of the exact body bytes; of the empty string for no body>
//! ```
//!
//! The platform refuses timestamps more than `signature_skew` (5 min) from its clock and a
//! nonce the merchant already used within that window. `cashless merchant sign` prints both
//! the string-to-sign and the header, to debug a mismatch.
//!
//! Notifications the other way are signed by the platform: `cashless_outbox::signature`.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

pub use cashless_kernel::secrets::{decode_hex, hex};

pub const SCHEME: &str = "CASHLESS-ED25519";
pub const NONCE_CHARS_MIN: usize = 8;
pub const NONCE_CHARS_MAX: usize = 64;

/// A refusal of a signature, with a stable code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningError {
    pub code: &'static str,
    pub message: String,
}

impl SigningError {
    fn new(code: &'static str, message: impl Into<String>) -> SigningError {
        SigningError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for SigningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SigningError {}

pub use cashless_kernel::keys::{key_id, sha256_hex, verify};

/// The exact text a merchant signs for a request.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{SCHEME}\n{}\n{path_and_query}\n{timestamp}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        sha256_hex(body)
    )
}

/// The parsed `Authorization` header of a signed request.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    pub merchant_id: String,
    pub key_id: String,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: [u8; 64],
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("merchant_id", &self.merchant_id)
            .field("key_id", &self.key_id)
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl Authorization {
    pub fn parse(header: &str) -> Result<Authorization, SigningError> {
        let malformed = |why: &str| {
            SigningError::new(
                "signature_malformed",
                format!(
                    "Authorization: {why}; expected {SCHEME} merchant_id=\"…\",key_id=\"…\",timestamp=\"…\",nonce=\"…\",signature=\"…\""
                ),
            )
        };
        let rest = header
            .strip_prefix(SCHEME)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| malformed("wrong scheme"))?;
        let (mut merchant_id, mut key_id, mut timestamp, mut nonce, mut signature) =
            (None, None, None, None, None);
        for part in rest.split(',') {
            let (name, value) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| malformed("a parameter without a value"))?;
            let value = value
                .strip_prefix('"')
                .and_then(|value| value.strip_suffix('"'))
                .ok_or_else(|| malformed("values are quoted"))?;
            let slot = match name {
                "merchant_id" => &mut merchant_id,
                "key_id" => &mut key_id,
                "timestamp" => &mut timestamp,
                "nonce" => &mut nonce,
                "signature" => &mut signature,
                _ => return Err(malformed("an unknown parameter")),
            };
            if slot.replace(value).is_some() {
                return Err(malformed("a repeated parameter"));
            }
        }
        let timestamp = timestamp
            .ok_or_else(|| malformed("no timestamp"))?
            .parse::<i64>()
            .map_err(|_| malformed("the timestamp is Unix seconds"))?;
        let nonce = nonce.ok_or_else(|| malformed("no nonce"))?;
        let nonce_ok = (NONCE_CHARS_MIN..=NONCE_CHARS_MAX).contains(&nonce.len())
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !nonce_ok {
            return Err(malformed(
                "the nonce is 8 to 64 characters of A-Z, a-z, 0-9, - and _",
            ));
        }
        let signature = decode_hex(signature.ok_or_else(|| malformed("no signature"))?)
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .ok_or_else(|| malformed("the signature is 128 hex digits"))?;
        Ok(Authorization {
            merchant_id: merchant_id
                .ok_or_else(|| malformed("no merchant_id"))?
                .to_owned(),
            key_id: key_id.ok_or_else(|| malformed("no key_id"))?.to_owned(),
            timestamp,
            nonce: nonce.to_owned(),
            signature,
        })
    }

    pub fn to_header(&self) -> String {
        format!(
            "{SCHEME} merchant_id=\"{}\",key_id=\"{}\",timestamp=\"{}\",nonce=\"{}\",signature=\"{}\"",
            self.merchant_id,
            self.key_id,
            self.timestamp,
            self.nonce,
            hex(&self.signature)
        )
    }
}

/// A merchant's signing key, as the merchant (or a test, or the CLI) holds it.
pub struct MerchantSigner {
    pub merchant_id: String,
    pub key_id: String,
    key: SigningKey,
}

impl fmt::Debug for MerchantSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerchantSigner")
            .field("merchant_id", &self.merchant_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// What [`MerchantSigner::sign`] produced, for printing.
#[derive(Clone, Debug)]
pub struct SignedParts {
    pub string_to_sign: String,
    pub authorization: String,
}

impl MerchantSigner {
    /// `secret_key_hex`: the 32-byte Ed25519 seed as 64 hex digits.
    pub fn new(
        merchant_id: &str,
        key_id: &str,
        secret_key_hex: &str,
    ) -> Result<MerchantSigner, SigningError> {
        let seed = decode_hex(secret_key_hex.trim())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| SigningError::new("key_malformed", "a secret key is 64 hex digits"))?;
        Ok(MerchantSigner {
            merchant_id: merchant_id.to_owned(),
            key_id: key_id.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// A new random key pair: `(secret key hex, public key hex)`.
    pub fn generate_key() -> (String, String) {
        let key = SigningKey::from_bytes(&random_seed());
        (hex(&key.to_bytes()), hex(key.verifying_key().as_bytes()))
    }

    pub fn public_key_hex(&self) -> String {
        hex(self.key.verifying_key().as_bytes())
    }

    pub fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        timestamp: i64,
        nonce: &str,
        body: &[u8],
    ) -> SignedParts {
        let string_to_sign = string_to_sign(method, path_and_query, timestamp, nonce, body);
        let signature = self.key.sign(string_to_sign.as_bytes()).to_bytes();
        let authorization = Authorization {
            merchant_id: self.merchant_id.clone(),
            key_id: self.key_id.clone(),
            timestamp,
            nonce: nonce.to_owned(),
            signature,
        }
        .to_header();
        SignedParts {
            string_to_sign,
            authorization,
        }
    }
}

/// [`cashless_kernel::keys::parse_public_key`], its refusal as a [`SigningError`].
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, SigningError> {
    cashless_kernel::keys::parse_public_key(text).map_err(|error| SigningError {
        code: error.code,
        message: error.message,
    })
}

fn random_seed() -> [u8; 32] {
    use rand::RngExt;
    rand::rng().random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_and_a_changed_one_does_not() {
        let (secret, public) = MerchantSigner::generate_key();
        let signer = MerchantSigner::new("m1", "k1", &secret).unwrap();
        let body = br#"{"amount":"12.00"}"#;
        let parts = signer.sign(
            "post",
            "/v1/merchant/orders",
            1_764_000_000,
            "nonce-0001",
            body,
        );
        assert!(
            parts.string_to_sign.starts_with(
                "CASHLESS-ED25519\nPOST\n/v1/merchant/orders\n1764000000\nnonce-0001\n"
            )
        );
        let auth = Authorization::parse(&parts.authorization).unwrap();
        assert_eq!(auth.merchant_id, "m1");
        let key = parse_public_key(&public).unwrap();
        assert!(verify(
            &key,
            parts.string_to_sign.as_bytes(),
            &auth.signature
        ));
        let tampered = string_to_sign(
            "POST",
            "/v1/merchant/orders",
            1_764_000_000,
            "nonce-0001",
            br#"{"amount":"13.00"}"#,
        );
        assert!(!verify(&key, tampered.as_bytes(), &auth.signature));
    }

    #[test]
    fn malformed_headers_are_refused_with_a_reason() {
        for header in [
            "Bearer x",
            "CASHLESS-ED25519 merchant_id=m",
            "CASHLESS-ED25519 merchant_id=\"m\",key_id=\"k\",timestamp=\"x\",nonce=\"abcdefgh\",signature=\"00\"",
            "CASHLESS-ED25519 merchant_id=\"m\",key_id=\"k\",timestamp=\"1\",nonce=\"short\",signature=\"00\"",
            "CASHLESS-ED25519 merchant_id=\"m\",merchant_id=\"m\"",
        ] {
            assert_eq!(
                Authorization::parse(header).unwrap_err().code,
                "signature_malformed",
                "{header}"
            );
        }
    }
}
