//! PRC resident identity card numbers (GB 11643-1999): 6-digit address code, 8-digit birth
//! date, 3-digit sequence, and an ISO 7064 MOD 11-2 check character (0–9 or X).

use std::fmt;

use crate::date::Date;

/// A structurally valid resident ID number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentId {
    number: String,
    birth_date: Date,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ResidentIdError {
    /// Not 17 digits followed by a digit or X.
    Syntax,
    /// The first two digits are not a province, region or municipality code.
    AreaCode,
    /// Digits 7–14 are not a real date, or a date in the future or before 1900.
    BirthDate,
    /// The check character does not match (a typo).
    CheckCharacter,
}

impl ResidentIdError {
    pub fn code(self) -> &'static str {
        match self {
            ResidentIdError::Syntax => "id_number_syntax",
            ResidentIdError::AreaCode => "id_number_area_code",
            ResidentIdError::BirthDate => "id_number_birth_date",
            ResidentIdError::CheckCharacter => "id_number_check_character",
        }
    }
}

impl fmt::Display for ResidentIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResidentIdError::Syntax => {
                "a resident ID number has 18 characters: 17 digits and a digit or X"
            }
            ResidentIdError::AreaCode => "the ID number does not start with a known province code",
            ResidentIdError::BirthDate => {
                "the birth date in the ID number (characters 7 to 14) is not a valid past date"
            }
            ResidentIdError::CheckCharacter => {
                "the ID number's last character does not match: please check for a typo"
            }
        })
    }
}

impl std::error::Error for ResidentIdError {}

/// The provinces, autonomous regions and municipalities of GB/T 2260, plus Taiwan (71),
/// Hong Kong (81), Macao (82) and the residence permit code for Taiwan residents (83).
const PROVINCE_CODES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS: &[u8; 11] = b"10X98765432";

/// The ISO 7064 MOD 11-2 check character of the first 17 digits.
pub fn check_character(first_17: &[u8]) -> u8 {
    let sum: u32 = first_17
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    CHECK_CHARACTERS[(sum % 11) as usize]
}

impl ResidentId {
    /// Validates `text` (a lower-case x is accepted and stored upper-case) as of `today`.
    pub fn parse(text: &str, today: Date) -> Result<ResidentId, ResidentIdError> {
        let number = text.trim().to_ascii_uppercase();
        let bytes = number.as_bytes();
        let well_formed = bytes.len() == 18
            && bytes[..17].iter().all(u8::is_ascii_digit)
            && (bytes[17].is_ascii_digit() || bytes[17] == b'X');
        if !well_formed {
            return Err(ResidentIdError::Syntax);
        }
        let province = (bytes[0] - b'0') * 10 + (bytes[1] - b'0');
        if !PROVINCE_CODES.contains(&province) {
            return Err(ResidentIdError::AreaCode);
        }
        let birth_date = Date::parse_compact(&number[6..14])
            .filter(|date| date.year() >= 1900 && *date <= today)
            .ok_or(ResidentIdError::BirthDate)?;
        if check_character(&bytes[..17]) != bytes[17] {
            return Err(ResidentIdError::CheckCharacter);
        }
        Ok(ResidentId { number, birth_date })
    }

    pub fn as_str(&self) -> &str {
        &self.number
    }

    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// For screens: the first and last characters only (`1*****************X`).
    pub fn masked(&self) -> String {
        let n = &self.number;
        format!(
            "{}{}{}",
            &n[..1],
            "*".repeat(n.len() - 2),
            &n[n.len() - 1..]
        )
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentId({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::new(2026, 11, 24).unwrap()
    }

    /// Makes a valid number from 17 digits by appending the right check character.
    fn with_check(first_17: &str) -> String {
        format!("{first_17}{}", check_character(first_17.as_bytes()) as char)
    }

    #[test]
    fn accepts_valid_numbers() {
        // The example number of GB 11643 itself.
        let id = ResidentId::parse("11010519491231002X", today()).unwrap();
        assert_eq!(id.birth_date(), Date::new(1949, 12, 31).unwrap());
        assert_eq!(id.masked(), "1****************X");
        assert!(ResidentId::parse("11010519491231002x", today()).is_ok());
        assert!(ResidentId::parse(&with_check("33010619900307123"), today()).is_ok());
    }

    #[test]
    fn rejects_each_kind_of_error() {
        let cases = [
            ("11010519491231002", ResidentIdError::Syntax),
            ("1101051949123100200", ResidentIdError::Syntax),
            ("11010519491231002Y", ResidentIdError::Syntax),
            ("11010519491231002Y", ResidentIdError::Syntax),
            ("110105194912310021", ResidentIdError::CheckCharacter),
            (&with_check("99010519491231002"), ResidentIdError::AreaCode),
            (&with_check("11010519490231002"), ResidentIdError::BirthDate),
            (&with_check("11010520301231002"), ResidentIdError::BirthDate),
            (&with_check("11010518991231002"), ResidentIdError::BirthDate),
        ];
        for (number, error) in cases {
            assert_eq!(ResidentId::parse(number, today()), Err(error), "{number}");
        }
    }
}
