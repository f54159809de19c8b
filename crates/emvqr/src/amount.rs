//! Decimal amounts as EMVCo writes them (4.7.4), converted to integer minor units without
//! floats.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::AmountError;
use crate::limits::{AMOUNT_CHARS_MAX, FEE_PERCENTAGE_CHARS_MAX};

/// A non-zero decimal amount: digits with at most one ".", e.g. "98.73", "98", "98.".
/// The text is kept as written so that re-encoding is faithful.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Amount(String);

impl Amount {
    pub fn parse(text: &str) -> Result<Self, AmountError> {
        check_decimal(text, AMOUNT_CHARS_MAX)?;
        Ok(Self(text.to_owned()))
    }

    /// Writes `minor` units of a currency with `exponent` decimals: 1250 at 2 is "12.50".
    pub fn from_minor_units(minor: u64, exponent: u8) -> Result<Self, AmountError> {
        if minor == 0 {
            return Err(AmountError::Zero);
        }
        let digits = format!("{minor:0>width$}", width = usize::from(exponent) + 1);
        let (integer, fraction) = digits.split_at(digits.len() - usize::from(exponent));
        let text = if fraction.is_empty() {
            integer.to_owned()
        } else {
            format!("{integer}.{fraction}")
        };
        Self::parse(&text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the ".", 0 for "98" and "98.".
    pub fn decimals(&self) -> usize {
        split_decimal(&self.0).1.len()
    }

    /// The amount in minor units of a currency with `exponent` decimals ("12.5" at 2 is
    /// 1250). Refuses more decimals than the currency has rather than rounding money.
    pub fn to_minor_units(&self, exponent: u8) -> Result<u64, AmountError> {
        let (integer, fraction) = split_decimal(&self.0);
        if fraction.len() > usize::from(exponent) {
            return Err(AmountError::TooManyDecimals {
                decimals: fraction.len(),
                max: exponent,
            });
        }
        let padding = usize::from(exponent) - fraction.len();
        let digits = integer
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', padding));
        let mut minor: u64 = 0;
        for digit in digits {
            minor = minor
                .checked_mul(10)
                .and_then(|value| value.checked_add(u64::from(digit - b'0')))
                .ok_or(AmountError::Overflow)?;
        }
        Ok(minor)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Convenience fee percentage (ID 57): "00.01" to "99.99", without "%".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct FeePercentage(String);

/// At most two integer digits ("99.99") and two decimals ("00.01").
const FEE_PERCENTAGE_DIGITS_MAX: usize = 2;

impl FeePercentage {
    /// `None` unless the text is a non-zero decimal below 100 with at most 2 decimals.
    pub fn parse(text: &str) -> Option<Self> {
        check_decimal(text, FEE_PERCENTAGE_CHARS_MAX).ok()?;
        let (integer, fraction) = split_decimal(text);
        let fits = integer.len() <= FEE_PERCENTAGE_DIGITS_MAX
            && fraction.len() <= FEE_PERCENTAGE_DIGITS_MAX;
        fits.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hundredths of a percent: "5" is 500, "00.01" is 1.
    pub fn basis_points(&self) -> u16 {
        let (integer, fraction) = split_decimal(&self.0);
        let digits = integer
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(
                b'0',
                FEE_PERCENTAGE_DIGITS_MAX - fraction.len(),
            ));
        // At most 4 digits (checked in `parse`), so the value stays below 10_000.
        digits.fold(0, |value, digit| value * 10 + u16::from(digit - b'0'))
    }
}

/// The decimal syntax shared by 54, 56 and 57: digits, one optional ".", not leading,
/// not all zeros, at most `chars_max` characters.
fn check_decimal(text: &str, chars_max: usize) -> Result<(), AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    let len = text.chars().count();
    if len > chars_max {
        return Err(AmountError::TooLong {
            len,
            max: chars_max,
        });
    }
    if let Some(found) = text.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
        return Err(AmountError::BadCharacter { found });
    }
    if text.starts_with('.') {
        return Err(AmountError::LeadingDot);
    }
    if text.matches('.').count() > 1 {
        return Err(AmountError::MultipleDots);
    }
    if !text.bytes().any(|byte| matches!(byte, b'1'..=b'9')) {
        return Err(AmountError::Zero);
    }
    Ok(())
}

/// Integer and fraction digits of a checked decimal ("98." gives ("98", "")).
fn split_decimal(text: &str) -> (&str, &str) {
    text.split_once('.').unwrap_or((text, ""))
}

/// Decimals of an ISO 4217 numeric currency code. Most currencies have 2; the exceptions
/// that matter for payments are listed. Amounts with more decimals than this are rejected.
pub fn currency_exponent(numeric: u16) -> u8 {
    match numeric {
        // BIF, CLP, DJF, GNF, KMF, ISK, JPY, KRW, PYG, RWF, UGX, VUV, VND, UYI, XAF, XOF, XPF
        108 | 152 | 262 | 324 | 174 | 352 | 392 | 410 | 600 | 646 | 800 | 548 | 704 | 940 | 950
        | 952 | 953 => 0,
        // BHD, IQD, JOD, KWD, LYD, OMR, TND
        48 | 368 | 400 | 414 | 434 | 512 | 788 => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        for valid in ["98.73", "98", "98.", "0.01", "1000", "9999999999.99"] {
            assert!(Amount::parse(valid).is_ok(), "{valid}");
        }
        assert_eq!(
            Amount::parse("98,73"),
            Err(AmountError::BadCharacter { found: ',' })
        );
        assert_eq!(
            Amount::parse("3 705"),
            Err(AmountError::BadCharacter { found: ' ' })
        );
        assert_eq!(
            Amount::parse("-5"),
            Err(AmountError::BadCharacter { found: '-' })
        );
        assert_eq!(Amount::parse("0"), Err(AmountError::Zero));
        assert_eq!(Amount::parse("0.00"), Err(AmountError::Zero));
        assert_eq!(Amount::parse(".5"), Err(AmountError::LeadingDot));
        assert_eq!(Amount::parse("1.2.3"), Err(AmountError::MultipleDots));
        assert_eq!(Amount::parse(""), Err(AmountError::Empty));
        assert_eq!(
            Amount::parse("12345678901.23"),
            Err(AmountError::TooLong { len: 14, max: 13 })
        );
    }

    #[test]
    fn minor_units() {
        let amount = Amount::parse("12.5").unwrap();
        assert_eq!(amount.to_minor_units(2), Ok(1250));
        assert_eq!(amount.to_minor_units(3), Ok(12500));
        assert_eq!(
            amount.to_minor_units(0),
            Err(AmountError::TooManyDecimals {
                decimals: 1,
                max: 0
            })
        );
        assert_eq!(Amount::parse("98.").unwrap().to_minor_units(0), Ok(98));
        assert_eq!(
            Amount::parse("9999999999999").unwrap().to_minor_units(18),
            Err(AmountError::Overflow)
        );
    }

    #[test]
    fn from_minor_units_round_trips() {
        assert_eq!(Amount::from_minor_units(1250, 2).unwrap().as_str(), "12.50");
        assert_eq!(Amount::from_minor_units(5, 2).unwrap().as_str(), "0.05");
        assert_eq!(Amount::from_minor_units(1000, 0).unwrap().as_str(), "1000");
        assert_eq!(Amount::from_minor_units(0, 2), Err(AmountError::Zero));
        let amount = Amount::from_minor_units(123_456, 3).unwrap();
        assert_eq!(amount.to_minor_units(3), Ok(123_456));
    }

    #[test]
    fn fee_percentage() {
        assert_eq!(FeePercentage::parse("00.01").unwrap().basis_points(), 1);
        assert_eq!(FeePercentage::parse("5").unwrap().basis_points(), 500);
        assert_eq!(FeePercentage::parse("99.99").unwrap().basis_points(), 9999);
        for invalid in ["100", "0", "00.00", "1.234", "5%", "", ".5"] {
            assert_eq!(FeePercentage::parse(invalid), None, "{invalid}");
        }
    }

    #[test]
    fn exponents() {
        assert_eq!(currency_exponent(156), 2);
        assert_eq!(currency_exponent(704), 0);
        assert_eq!(currency_exponent(48), 3);
    }
}
