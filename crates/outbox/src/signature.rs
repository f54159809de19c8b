//! The platform's signature on the events it delivers.
//!
//! A delivery carries `Cashless-Event-Id`, `Cashless-Timestamp` and
//! `Cashless-Signature: key_id="…",signature="<128 hex>"`, the platform's Ed25519 signature
//! over `timestamp \n event_id \n body`. The public key is published at
//! `GET /v1/platform/keys`; [`verify_notification`] is what a merchant's server does.

use std::fmt;
use std::path::Path;

use cashless_kernel::keys::{key_id, verify};
use cashless_kernel::secrets::{decode_hex, hex};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// The text the platform signs for a notification.
pub fn notification_string(timestamp: i64, event_id: &str, body: &str) -> String {
    format!("{timestamp}\n{event_id}\n{body}")
}

/// The platform's notification-signing key. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct PlatformKey {
    key: SigningKey,
}

impl fmt::Debug for PlatformKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlatformKey({})", self.key_id())
    }
}

impl PlatformKey {
    pub fn generate() -> PlatformKey {
        PlatformKey {
            key: SigningKey::from_bytes(&random_seed()),
        }
    }

    /// Loads the key from `path` (the seed in hex), creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> std::io::Result<PlatformKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let seed = decode_hex(text.trim())
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("{} is not a 32-byte hex key", path.display()),
                        )
                    })?;
                Ok(PlatformKey {
                    key: SigningKey::from_bytes(&seed),
                })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let key = PlatformKey::generate();
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                file.write_all(hex(&key.key.to_bytes()).as_bytes())?;
                file.sync_all()?;
                Ok(key)
            }
            Err(error) => Err(error),
        }
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn public_key_hex(&self) -> String {
        hex(self.key.verifying_key().as_bytes())
    }

    pub fn key_id(&self) -> String {
        key_id(&self.key.verifying_key())
    }

    /// The `Cashless-Signature` header value for a notification.
    pub fn sign_notification(&self, timestamp: i64, event_id: &str, body: &str) -> String {
        let message = notification_string(timestamp, event_id, body);
        let signature = self.key.sign(message.as_bytes()).to_bytes();
        format!(
            "key_id=\"{}\",signature=\"{}\"",
            self.key_id(),
            hex(&signature)
        )
    }
}

/// Checks a notification's `Cashless-Signature` header against the platform's public key (what
/// a merchant's server does; the tests do it too).
pub fn verify_notification(
    public_key: &VerifyingKey,
    header: &str,
    timestamp: i64,
    event_id: &str,
    body: &str,
) -> bool {
    let signature = header
        .split(',')
        .find_map(|part| part.trim().strip_prefix("signature=\""))
        .and_then(|value| value.strip_suffix('"'))
        .and_then(decode_hex)
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok());
    signature.is_some_and(|signature| {
        verify(
            public_key,
            notification_string(timestamp, event_id, body).as_bytes(),
            &signature,
        )
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
    fn notifications_verify_with_the_published_key() {
        let key = PlatformKey::generate();
        let header = key.sign_notification(5, "e1", "{}");
        assert!(verify_notification(
            &key.public_key(),
            &header,
            5,
            "e1",
            "{}"
        ));
        assert!(!verify_notification(
            &key.public_key(),
            &header,
            6,
            "e1",
            "{}"
        ));
        assert!(!format!("{key:?}").contains(&hex(&key.key.to_bytes())));
    }
}
