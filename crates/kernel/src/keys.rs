//! Ed25519 public keys as the platform takes them (raw, 64 hex digits, no weak keys), strict
//! verification, and key ids.

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::ServiceError;
use crate::secrets::{decode_hex, hex};

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A raw Ed25519 public key from 64 hex digits, refusing weak (small-order) keys:
/// `public_key_invalid` otherwise.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, ServiceError> {
    let invalid = || {
        ServiceError::invalid(
            "public_key_invalid",
            "a public key is a raw Ed25519 key as 64 hex digits",
        )
    };
    let bytes = decode_hex(text.trim())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(invalid)?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| invalid())?;
    if key.is_weak() {
        return Err(invalid());
    }
    Ok(key)
}

/// Verifies with the strict rules (no malleable signatures, no small-order points).
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    key.verify_strict(message, &Signature::from_bytes(signature))
        .is_ok()
}

/// A key id: the first 16 hex digits of the SHA-256 of the public key.
pub fn key_id(public_key: &VerifyingKey) -> String {
    sha256_hex(public_key.as_bytes())[..16].to_owned()
}
