//! CRC-16/CCITT-FALSE, the checksum of data object 63 (EMVCo MPM 4.7.3).

/// ISO/IEC 13239 generator polynomial x^16 + x^12 + x^5 + 1.
const POLYNOMIAL: u16 = 0x1021;
/// EMVCo starts from all ones, so leading zero bytes still change the checksum.
const INITIAL: u16 = 0xFFFF;

/// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR.
///
/// EMVCo computes it over the UTF-8 bytes of the payload up to and including the "6304"
/// header of the CRC object itself.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc = INITIAL;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ POLYNOMIAL
            };
        }
    }
    crc
}

/// The four uppercase hex digits EMVCo shows (leading zeros kept: `007B`).
pub(crate) fn crc_hex(crc: u16) -> String {
    format!("{crc:04X}")
}

/// Reads the 4 hex digits of object 63; lowercase is accepted because real bank codes use it.
pub(crate) fn parse_crc_hex(text: &str) -> Option<u16> {
    if text.len() != 4 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
    }

    #[test]
    fn empty_input_is_the_initial_value() {
        assert_eq!(crc16_ccitt_false(b""), 0xFFFF);
    }

    #[test]
    fn hex_keeps_leading_zeros_and_accepts_lowercase() {
        assert_eq!(crc_hex(0x007B), "007B");
        assert_eq!(parse_crc_hex("79db"), Some(0x79DB));
        assert_eq!(parse_crc_hex("xxxx"), None);
        assert_eq!(parse_crc_hex("+123"), None);
        assert_eq!(parse_crc_hex("12345"), None);
    }
}
