//! Confirming a payment: the payment PIN, or the phone itself ("pay with fingerprint or face").
//!
//! A device registers an Ed25519 public key when it signs in; the private half lives in the
//! phone's secure hardware and signs only once the owner is recognised (fingerprint, face).
//! Before that key may stand in for the PIN, the owner turns it on **with the PIN** on that
//! device: someone who intercepts an SMS code can sign in on a phone of their own, but cannot
//! pay from it. Signing in again with a different key turns it off.
//!
//! What the device signs, as UTF-8, lines joined by `\n` (see [`device_message`]):
//!
//! ```text
//! cashless-device-v1
//! <purpose>        pay | confirm
//! <device id>
//! <signed at>      Unix seconds; the platform accepts ±5 minutes
//! <fields …>       pay: the idempotency key, the scanned payload, the amount typed ("" if none)
//!                  confirm: the payment id
//! ```
//!
//! The signature is 64 bytes as 128 hex digits, verified strictly (no malleable encodings).
//! It is bound to one payment by the idempotency key: replaying it answers the same payment.

use cashless_store::Param;
use ed25519_dalek::VerifyingKey;

use crate::users::int;
use crate::{ServiceError, ServiceResult, Session, Wallet};

/// How far a device's clock may be from ours.
pub const DEVICE_SIGNATURE_SKEW_SECS: u64 = 300;

/// How the payer confirms a payment that needs more than the password-free allowance.
#[derive(Clone)]
pub enum Confirmation {
    Pin(String),
    Device(DeviceSignature),
}

impl std::fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Confirmation::Pin(_) => f.write_str("Pin(..)"),
            Confirmation::Device(signature) => f.debug_tuple("Device").field(signature).finish(),
        }
    }
}

/// A device's signature over [`device_message`].
#[derive(Clone, Debug)]
pub struct DeviceSignature {
    pub signed_at: i64,
    /// 128 hex digits.
    pub signature: String,
}

impl Confirmation {
    /// The confirmation a request carries: a PIN, or a device signature with its time; both
    /// or half of one is refused.
    pub fn from_request(
        pin: Option<String>,
        device_signature: Option<String>,
        signed_at: Option<i64>,
    ) -> ServiceResult<Option<Confirmation>> {
        match (pin, device_signature, signed_at) {
            (None, None, None) => Ok(None),
            (Some(pin), None, None) => Ok(Some(Confirmation::Pin(pin))),
            (None, Some(signature), Some(signed_at)) => {
                Ok(Some(Confirmation::Device(DeviceSignature {
                    signed_at,
                    signature,
                })))
            }
            (None, Some(_), None) | (None, None, Some(_)) => Err(ServiceError::invalid(
                "device_signature_incomplete",
                "a device signature needs both `device_signature` and `signed_at`",
            )),
            (Some(_), _, _) => Err(ServiceError::invalid(
                "confirmation_ambiguous",
                "confirm with the PIN or with the device, not both",
            )),
        }
    }
}

/// An Ed25519 public key from 64 hex digits, or `None` if it is malformed or weak (small
/// order: it would accept signatures anyone can make).
///
/// Decompressing a key costs about as much as a third of a signature check, and the same few
/// keys sign request after request: decompressed keys are remembered (by their bytes, so the
/// database still decides which keys are valid), up to [`KEY_CACHE_MAX`].
pub fn verifying_key(hex: &str) -> Option<VerifyingKey> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let bytes: [u8; 32] =
        crate::secrets::decode_hex(hex.trim()).and_then(|bytes| bytes.try_into().ok())?;
    if let Some(key) = CACHE.lock().ok()?.get(&bytes) {
        return Some(*key);
    }
    let key = VerifyingKey::from_bytes(&bytes)
        .ok()
        .filter(|key| !key.is_weak())?;
    let mut cache = CACHE.lock().ok()?;
    if cache.len() >= KEY_CACHE_MAX {
        cache.clear();
    }
    cache.insert(bytes, key);
    Some(key)
}

/// How many decompressed keys [`verifying_key`] keeps (32 + 160 bytes each).
pub const KEY_CACHE_MAX: usize = 100_000;

/// The exact text a device signs to confirm `purpose`.
pub fn device_message(purpose: &str, device_id: &str, signed_at: i64, fields: &[&str]) -> String {
    let mut message = format!("cashless-device-v1\n{purpose}\n{device_id}\n{signed_at}");
    for field in fields {
        message.push('\n');
        message.push_str(field);
    }
    message
}

fn signature_invalid() -> ServiceError {
    ServiceError::forbidden(
        "device_signature_invalid",
        "the device signature does not verify: sign the exact text in the API documentation with this device's key",
    )
}

fn not_enabled() -> ServiceError {
    ServiceError::conflict(
        "device_pay_not_enabled",
        "paying with this device is not turned on: turn it on with the PIN first",
    )
}

impl Wallet {
    /// Turns on paying with this device's key, after checking the PIN.
    pub async fn enable_device_pay(
        self: &std::sync::Arc<Self>,
        session: &Session,
        pin: &str,
    ) -> ServiceResult<()> {
        self.verify_pin(session, pin).await?;
        let (user_id, device_id) = (session.user_id.clone(), session.device_id.clone());
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                // Only a key that can verify (one registered before keys were checked might not).
                let usable = conn
                    .query_opt(
                        "SELECT public_key FROM devices WHERE id = $1 AND user_id = $2",
                        &[Param::Text(&device_id), Param::Text(&user_id)],
                    )?
                    .and_then(|row| row.opt_text(0).ok().flatten().map(str::to_owned))
                    .is_some_and(|key| verifying_key(&key).is_some());
                let changed = if usable {
                    conn.execute(
                        "UPDATE devices SET pay_enabled_ns = $3 WHERE id = $1 AND user_id = $2",
                        &[Param::Text(&device_id), Param::Text(&user_id), int(now)],
                    )?
                } else {
                    0
                };
                if changed == 0 {
                    return Err(ServiceError::conflict(
                        "device_key_missing",
                        "this device registered no usable public key when it signed in",
                    ));
                }
                Ok(())
            })
            .await
    }

    /// Turns off paying with this device's key.
    pub async fn disable_device_pay(&self, session: &Session) -> ServiceResult<()> {
        let (user_id, device_id) = (session.user_id.clone(), session.device_id.clone());
        self.store
            .write(move |tx| {
                tx.conn()?.execute(
                    "UPDATE devices SET pay_enabled_ns = NULL WHERE id = $1 AND user_id = $2",
                    &[Param::Text(&device_id), Param::Text(&user_id)],
                )?;
                Ok::<_, ServiceError>(())
            })
            .await
    }

    /// Checks a device's signature over `purpose` and `fields`.
    pub async fn verify_device_signature(
        &self,
        session: &Session,
        purpose: &str,
        fields: &[&str],
        signature: &DeviceSignature,
    ) -> ServiceResult<()> {
        // Lines are the message's separators: a field holding one could shift the others.
        if fields.iter().any(|field| field.contains(['\n', '\r'])) {
            return Err(signature_invalid());
        }
        let now_secs = crate::now_ns() / 1_000_000_000;
        if signature.signed_at < 0
            || signature.signed_at.unsigned_abs().abs_diff(now_secs) > DEVICE_SIGNATURE_SKEW_SECS
        {
            return Err(ServiceError::forbidden(
                "device_signature_stale",
                "the device signature's time is more than 5 minutes from ours: check the phone's clock",
            ));
        }
        let bytes: [u8; 64] = crate::secrets::decode_hex(&signature.signature)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(signature_invalid)?;
        let (user_id, device_id) = (session.user_id.clone(), session.device_id.clone());
        let cache_key = (user_id.clone(), device_id.clone());
        let key = self
            .store
            .read_credential(&self.device_keys, cache_key, move |conn| {
                let row = conn.query_opt(
                    "SELECT public_key FROM devices \
                     WHERE id = $1 AND user_id = $2 AND pay_enabled_ns IS NOT NULL",
                    &[Param::Text(&device_id), Param::Text(&user_id)],
                )?;
                Ok(match row {
                    Some(row) => row.opt_text(0)?.and_then(verifying_key),
                    None => None,
                })
            })
            .await?
            .ok_or_else(not_enabled)?;
        let message = device_message(purpose, &session.device_id, signature.signed_at, fields);
        let check = crate::signatures::Check {
            key,
            message: message.into_bytes(),
            signature: bytes,
        };
        if self.signatures.verify(check).await {
            Ok(())
        } else {
            Err(signature_invalid())
        }
    }

    /// Checks a confirmation: the PIN (counting failures) or the device's signature.
    pub async fn confirm(
        self: &std::sync::Arc<Self>,
        session: &Session,
        confirmation: &Confirmation,
        purpose: &str,
        fields: &[&str],
    ) -> ServiceResult<()> {
        match confirmation {
            Confirmation::Pin(pin) => self.verify_pin(session, pin).await,
            Confirmation::Device(signature) => {
                self.verify_device_signature(session, purpose, fields, signature)
                    .await
            }
        }
    }
}
