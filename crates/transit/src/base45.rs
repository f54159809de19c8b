//! Base45 (RFC 9285): bytes as the 45 characters of a QR code's alphanumeric mode, which packs
//! 5.5 bits per character where byte mode needs 8: two bytes become three characters.

const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Why a text is not Base45.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Base45Error {
    #[error("character {0:?} is not in the Base45 alphabet")]
    BadCharacter(char),
    #[error("a Base45 text cannot have {0} characters (3 per 2 bytes, 2 for a last byte)")]
    BadLength(usize),
    #[error("a Base45 group is larger than its bytes can hold")]
    Overflow,
}

pub fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(2) * 3);
    for pair in bytes.chunks(2) {
        let (mut value, count) = match pair {
            [a, b] => (u32::from(*a) * 256 + u32::from(*b), 3),
            [a] => (u32::from(*a), 2),
            _ => unreachable!("chunks(2) yields one or two bytes"),
        };
        for _ in 0..count {
            text.push(char::from(ALPHABET[(value % 45) as usize]));
            value /= 45;
        }
    }
    text
}

fn digit(c: u8) -> Result<u32, Base45Error> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .map(|p| p as u32)
        .ok_or(Base45Error::BadCharacter(char::from(c)))
}

pub fn decode(text: &str) -> Result<Vec<u8>, Base45Error> {
    let bytes = text.as_bytes();
    if bytes.len() % 3 == 1 {
        return Err(Base45Error::BadLength(bytes.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() / 3 * 2 + 1);
    for group in bytes.chunks(3) {
        let mut value = 0u32;
        for &c in group.iter().rev() {
            value = value * 45 + digit(c)?;
        }
        if group.len() == 3 {
            let value = u16::try_from(value).map_err(|_| Base45Error::Overflow)?;
            out.extend_from_slice(&value.to_be_bytes());
        } else {
            out.push(u8::try_from(value).map_err(|_| Base45Error::Overflow)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of RFC 9285, section 4.
    #[test]
    fn rfc_9285_examples() {
        assert_eq!(encode(b"AB"), "BB8");
        assert_eq!(encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(decode("QED8WEX0").unwrap(), b"ietf!");
        assert_eq!(decode("GGW").unwrap_err(), Base45Error::Overflow);
        assert_eq!(decode("ZZZ").unwrap_err(), Base45Error::Overflow);
        assert_eq!(decode("A").unwrap_err(), Base45Error::BadLength(1));
        assert_eq!(decode("aB8").unwrap_err(), Base45Error::BadCharacter('a'));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(bytes: Vec<u8>) {
            proptest::prop_assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }
    }
}
