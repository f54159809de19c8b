//! Mobile phone numbers: mainland China (`1[3-9]` + 9 digits) or any E.164 number for
//! visitors. Stored and compared in E.164 form (`+8613812345678`).

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Phone(String);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PhoneError {
    /// Not digits (spaces and hyphens aside), or the wrong length.
    Syntax,
    /// A +86 number that is not a mainland mobile number (1[3-9] and 9 more digits).
    NotMainlandMobile,
    /// Digits without a `+` that are no mainland mobile number: a visitor's number as it is
    /// dialled at home (`07911 123456`), which needs its country code.
    NeedsCountryCode,
}

impl PhoneError {
    pub fn code(self) -> &'static str {
        match self {
            PhoneError::Syntax => "invalid_phone",
            PhoneError::NotMainlandMobile => "invalid_phone",
            PhoneError::NeedsCountryCode => "phone_needs_country_code",
        }
    }
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PhoneError::Syntax => {
                "a phone number is a mainland mobile number (13812345678) or an international number with its country code (+447911123456)"
            }
            PhoneError::NotMainlandMobile => {
                "a mainland mobile number has 11 digits and starts with 13 to 19"
            }
            PhoneError::NeedsCountryCode => {
                "this is not a mainland mobile number: for a number from another country, start with + and its country code, without the leading 0 (+44 7911 123456)"
            }
        })
    }
}

impl std::error::Error for PhoneError {}

impl Phone {
    /// Accepts `13812345678`, `+86 138 1234 5678`, `+447911123456`; spaces and hyphens are
    /// ignored.
    pub fn parse(text: &str) -> Result<Phone, PhoneError> {
        let compact: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
        let (international, digits) = match compact.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, compact.as_str()),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::Syntax);
        }
        let national = match (international, digits.strip_prefix("86")) {
            (true, Some(national)) => national,
            (true, None) => return Phone::international(digits),
            // A mainland number typed with its country code but no `+`.
            (false, Some(national)) if national.len() == 11 && national.starts_with('1') => {
                national
            }
            (false, _) => digits,
        };
        let bytes = national.as_bytes();
        let mainland = bytes.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]);
        if mainland {
            Ok(Phone(format!("+86{national}")))
        } else if international || bytes.len() == 11 && bytes[0] == b'1' {
            Err(PhoneError::NotMainlandMobile)
        } else if bytes[0] == b'1' {
            // A mainland number with a digit too many or too few.
            Err(PhoneError::Syntax)
        } else {
            Err(PhoneError::NeedsCountryCode)
        }
    }

    fn international(digits: &str) -> Result<Phone, PhoneError> {
        // E.164: at most 15 digits, country codes never start with 0.
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(PhoneError::Syntax);
        }
        Ok(Phone(format!("+{digits}")))
    }

    /// The E.164 form, e.g. `+8613812345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_mainland(&self) -> bool {
        self.0.starts_with("+86")
    }

    /// For screens and logs: `+86 138****5678`.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let keep_end = 4;
        let (start, end) = if self.is_mainland() {
            (5, digits.len() - keep_end)
        } else {
            (4, digits.len() - keep_end)
        };
        let start = start.min(end);
        format!(
            "+{}{}{}",
            &digits[..start],
            "*".repeat(end - start),
            &digits[end..]
        )
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mainland_and_international_numbers() {
        assert_eq!(
            Phone::parse("13812345678").unwrap().as_str(),
            "+8613812345678"
        );
        assert_eq!(
            Phone::parse("+86 138-1234-5678").unwrap().as_str(),
            "+8613812345678"
        );
        assert_eq!(
            Phone::parse("+447911123456").unwrap().as_str(),
            "+447911123456"
        );
        assert!(Phone::parse("+447911123456").is_ok_and(|p| !p.is_mainland()));
        assert_eq!(
            Phone::parse("12812345678"),
            Err(PhoneError::NotMainlandMobile)
        );
        assert_eq!(
            Phone::parse("+8612812345678"),
            Err(PhoneError::NotMainlandMobile)
        );
        assert_eq!(Phone::parse("1381234567"), Err(PhoneError::Syntax));
        assert_eq!(
            Phone::parse("8613812345678").unwrap().as_str(),
            "+8613812345678"
        );
        // A visitor's number as dialled at home: the hint is the country code.
        for local in ["07911 123456", "0412 345 678", "91234567"] {
            assert_eq!(
                Phone::parse(local),
                Err(PhoneError::NeedsCountryCode),
                "{local}"
            );
        }
        assert_eq!(Phone::parse("+0447911123456"), Err(PhoneError::Syntax));
        assert_eq!(Phone::parse("phone"), Err(PhoneError::Syntax));
        assert_eq!(Phone::parse(""), Err(PhoneError::Syntax));
        assert_eq!(Phone::parse("+1234567890123456"), Err(PhoneError::Syntax));
    }

    #[test]
    fn masks_the_middle() {
        assert_eq!(
            Phone::parse("13812345678").unwrap().masked(),
            "+86138****5678"
        );
    }
}
