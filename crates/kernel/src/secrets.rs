//! Keyed fingerprints and random tokens.
//!
//! Identity and card numbers are never stored; a keyed fingerprint (HMAC-SHA-256 with the
//! platform's secret pepper) lets the platform recognise the same document or card without
//! being able to read it back. Session tokens and SMS codes are stored as fingerprints too.

use std::fmt;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The platform's secret pepper. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secrets {
    pepper: [u8; 32],
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets(***)")
    }
}

impl Secrets {
    pub fn from_pepper(pepper: [u8; 32]) -> Secrets {
        Secrets { pepper }
    }

    /// A fresh random pepper (tests, throwaway instances).
    pub fn random() -> Secrets {
        use rand::RngExt;
        Secrets {
            pepper: rand::rng().random(),
        }
    }

    /// Loads the pepper from `path` (hex), creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> std::io::Result<Secrets> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = decode_hex(text.trim())
                    .filter(|bytes| bytes.len() == 32)
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("{} is not a 32-byte hex key", path.display()),
                        )
                    })?;
                let mut pepper = [0u8; 32];
                pepper.copy_from_slice(&bytes);
                Ok(Secrets { pepper })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let secrets = Secrets::random();
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                writeln!(file, "{}", hex(&secrets.pepper))?;
                file.sync_all()?;
                Ok(secrets)
            }
            Err(error) => Err(error),
        }
    }

    /// The pepper itself, for keyed hashes (argon2's secret input).
    pub fn pepper(&self) -> &[u8] {
        &self.pepper
    }

    /// HMAC-SHA-256 of `parts` (joined unambiguously), as hex.
    #[allow(clippy::expect_used)] // HMAC accepts keys of any length: this cannot fail.
    pub fn fingerprint(&self, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.pepper)
            .expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex(&mac.finalize().into_bytes())
    }
}

/// `bytes` random bytes as lower-case hex, from the operating system's CSPRNG.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex(&raw)
}

/// `count` random decimal digits.
pub fn random_digits(count: usize) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..count)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Hex to bytes; `None` for anything else (including non-ASCII text, which must not be sliced).
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    // Hex digits only: `from_str_radix` alone would also take a sign ("+f").
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10, // only hex digits get here
    };
    Some(
        text.as_bytes()
            .chunks_exact(2)
            .map(|pair| digit(pair[0]) << 4 | digit(pair[1]))
            .collect(),
    )
}

/// Compares two fingerprints in constant time.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_keyed_and_unambiguous() {
        let a = Secrets::random();
        let b = Secrets::random();
        assert_eq!(a.fingerprint(&["x", "y"]), a.fingerprint(&["x", "y"]));
        assert_ne!(a.fingerprint(&["x", "y"]), b.fingerprint(&["x", "y"]));
        assert_ne!(a.fingerprint(&["xy", ""]), a.fingerprint(&["x", "y"]));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        assert_eq!(format!("{a:?}"), "Secrets(***)");
    }

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = hex(&bytes);
        assert_eq!(&text[..8], "00010203");
        assert_eq!(&text[text.len() - 4..], "feff");
        assert_eq!(decode_hex(&text), Some(bytes));
        assert_eq!(decode_hex("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex(""), Some(vec![]));
        for bad in ["0", "0g", "+f", "é1", " 1"] {
            assert_eq!(decode_hex(bad), None, "{bad:?}");
        }
    }
}
