//! 128-bit identifiers, one newtype per kind, written as UUIDs on the wire.
//!
//! Ids are chosen by the caller (they are the idempotency keys). Time-ordered ids (UUIDv7
//! layout) keep the storage indexes append-only; [`TimeOrderedIds`] makes them.

use std::fmt;
use std::str::FromStr;

/// Why a string is not an id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IdParseError;

impl fmt::Display for IdParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id is a UUID like 0190a5f4-3c2e-7b1a-9f00-5d3e2a1b4c6d, or 32 hex digits")
    }
}

impl std::error::Error for IdParseError {}

/// Parses the hyphenated UUID form (8-4-4-4-12) or 32 bare hex digits, either case.
pub fn parse_u128(text: &str) -> Result<u128, IdParseError> {
    let bytes = text.as_bytes();
    let hex: Vec<u8> = match bytes.len() {
        32 => bytes.to_vec(),
        36 => {
            for position in [8, 13, 18, 23] {
                if bytes[position] != b'-' {
                    return Err(IdParseError);
                }
            }
            bytes.iter().copied().filter(|&b| b != b'-').collect()
        }
        _ => return Err(IdParseError),
    };
    if hex.len() != 32 {
        return Err(IdParseError);
    }
    let mut value: u128 = 0;
    for byte in hex {
        let nibble = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            b'A'..=b'F' => byte - b'A' + 10,
            _ => return Err(IdParseError),
        };
        value = (value << 4) | u128::from(nibble);
    }
    Ok(value)
}

/// Writes the lower-case hyphenated UUID form.
pub fn format_u128(value: u128, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let hex = format!("{value:032x}");
    write!(
        f,
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u128);

        impl $name {
            pub const ZERO: $name = $name(0);

            pub fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// Big-endian bytes: byte order equals numeric order, so storage indexes sort by time
            /// for time-ordered ids.
            pub fn to_bytes(self) -> [u8; 16] {
                self.0.to_be_bytes()
            }

            pub fn from_bytes(bytes: [u8; 16]) -> $name {
                $name(u128::from_be_bytes(bytes))
            }

            pub fn from_slice(bytes: &[u8]) -> Option<$name> {
                <[u8; 16]>::try_from(bytes).ok().map($name::from_bytes)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(text: &str) -> Result<$name, IdParseError> {
                parse_u128(text).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                format_u128(self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                format_u128(self.0, f)?;
                f.write_str(")")
            }
        }
    };
}

id_type!(
    /// A ledger account.
    AccountId
);
id_type!(
    /// A ledger transfer; also its idempotency key.
    TransferId
);

/// Makes UUIDv7-layout ids: 48 bits of Unix milliseconds, then version and variant bits, then
/// randomness. Ids from one generator strictly increase, even within one millisecond and when
/// the clock steps back, so a burst of ids is still append-only in an index.
#[derive(Debug, Default)]
pub struct TimeOrderedIds {
    last: u128,
}

impl TimeOrderedIds {
    pub fn new() -> TimeOrderedIds {
        TimeOrderedIds { last: 0 }
    }

    /// The next id for `unix_ms`, mixing in the caller's `entropy` (from a CSPRNG when ids must
    /// be unguessable). Pure: the caller brings the clock and the randomness.
    pub fn next(&mut self, unix_ms: u64, entropy: u128) -> u128 {
        const VERSION_7: u128 = 0x7 << 76;
        const VARIANT_RFC: u128 = 0b10 << 62;
        let timestamp = u128::from(unix_ms & 0xFFFF_FFFF_FFFF) << 80;
        let rand_a = (entropy & 0xFFF) << 64;
        let rand_b = (entropy >> 12) & ((1u128 << 62) - 1);
        let candidate = timestamp | VERSION_7 | rand_a | VARIANT_RFC | rand_b;
        let id = if candidate > self.last {
            candidate
        } else {
            // Same millisecond (or the clock went back): count up from the last id, keeping the
            // version and variant bits intact by stepping in the random tail.
            self.last + 1
        };
        self.last = id;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_round_trip() {
        let id = TransferId(0x0190a5f4_3c2e_7b1a_9f00_5d3e2a1b4c6d);
        let text = id.to_string();
        assert_eq!(text, "0190a5f4-3c2e-7b1a-9f00-5d3e2a1b4c6d");
        assert_eq!(text.parse::<TransferId>(), Ok(id));
        assert_eq!(
            "0190A5F43C2E7B1A9F005D3E2A1B4C6D".parse::<TransferId>(),
            Ok(id)
        );
        for bad in [
            "",
            "0190a5f4",
            "0190a5f4-3c2e-7b1a-9f00-5d3e2a1b4c6g",
            "0190a5f4+3c2e-7b1a-9f00-5d3e2a1b4c6d",
        ] {
            assert_eq!(bad.parse::<TransferId>(), Err(IdParseError), "{bad}");
        }
    }

    #[test]
    fn bytes_sort_like_numbers() {
        let small = AccountId(1);
        let big = AccountId(1 << 100);
        assert!(small.to_bytes() < big.to_bytes());
        assert_eq!(AccountId::from_bytes(big.to_bytes()), big);
    }

    #[test]
    fn time_ordered_ids_increase() {
        let mut ids = TimeOrderedIds::new();
        let a = ids.next(1_700_000_000_000, u128::MAX);
        let b = ids.next(1_700_000_000_000, 0);
        let c = ids.next(1_699_999_999_999, 12345);
        let d = ids.next(1_700_000_000_001, 0);
        assert!(a < b && b < c && c < d);
        assert_eq!((a >> 76) & 0xF, 7, "version nibble");
        assert_eq!((d >> 80) as u64, 1_700_000_000_001);
    }
}
