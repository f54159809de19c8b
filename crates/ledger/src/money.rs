//! Money: integer minor units with an ISO 4217 currency. No floats, ever.
//!
//! Amounts are parsed from and formatted to decimal strings ("12.34") digit by digit, and all
//! arithmetic is checked: an overflow is an error value, never a wrapped number.

use std::fmt;

/// The largest amount (in minor units) the ledger stores: storage columns are signed 64-bit.
pub const AMOUNT_MAX: u64 = i64::MAX as u64;

macro_rules! currencies {
    ($( $variant:ident = ($numeric:literal, $exponent:literal, $name:literal) ),* $(,)?) => {
        /// An ISO 4217 currency the platform knows, with its numeric code and minor-unit exponent.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum Currency { $( $variant ),* }

        impl Currency {
            /// Every supported currency, in declaration order.
            pub const ALL: &'static [Currency] = &[$( Currency::$variant ),*];

            /// The three-letter alphabetic code, e.g. "CNY".
            pub fn code(self) -> &'static str {
                match self { $( Currency::$variant => stringify!($variant) ),* }
            }

            /// The ISO 4217 numeric code, e.g. 156 for CNY. This is what storage keeps.
            pub fn numeric(self) -> u16 {
                match self { $( Currency::$variant => $numeric ),* }
            }

            /// Digits after the decimal point: CNY 2, JPY 0, KWD 3.
            pub fn exponent(self) -> u8 {
                match self { $( Currency::$variant => $exponent ),* }
            }

                        /// A dense index (declaration order), for per-currency arrays.
            pub fn index(self) -> usize {
                self as usize
            }

            /// The English name, for people.
            pub fn name(self) -> &'static str {
                match self { $( Currency::$variant => $name ),* }
            }

            pub fn from_numeric(numeric: u16) -> Option<Currency> {
                match numeric { $( $numeric => Some(Currency::$variant), )* _ => None }
            }

            /// Parses an alphabetic code; upper case only, as ISO 4217 writes them.
            pub fn from_code(code: &str) -> Option<Currency> {
                match code { $( stringify!($variant) => Some(Currency::$variant), )* _ => None }
            }
        }
    };
}

currencies! {
    CNY = (156, 2, "Chinese yuan renminbi"),
    HKD = (344, 2, "Hong Kong dollar"),
    MOP = (446, 2, "Macanese pataca"),
    TWD = (901, 2, "New Taiwan dollar"),
    USD = (840, 2, "US dollar"),
    EUR = (978, 2, "Euro"),
    GBP = (826, 2, "Pound sterling"),
    JPY = (392, 0, "Japanese yen"),
    KRW = (410, 0, "South Korean won"),
    SGD = (702, 2, "Singapore dollar"),
    THB = (764, 2, "Thai baht"),
    MYR = (458, 2, "Malaysian ringgit"),
    IDR = (360, 2, "Indonesian rupiah"),
    VND = (704, 0, "Vietnamese dong"),
    PHP = (608, 2, "Philippine peso"),
    INR = (356, 2, "Indian rupee"),
    BRL = (986, 2, "Brazilian real"),
    AUD = (36, 2, "Australian dollar"),
    CAD = (124, 2, "Canadian dollar"),
    CHF = (756, 2, "Swiss franc"),
    KWD = (414, 3, "Kuwaiti dinar"),
    BHD = (48, 3, "Bahraini dinar"),
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a decimal string is not an amount.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AmountError {
    /// Empty, or a character that is not a digit or the one decimal point.
    Syntax,
    /// More digits after the point than the currency has (e.g. "1.234" CNY, "1.5" JPY).
    TooManyDecimals,
    /// A minus sign: amounts on the wire are never negative.
    Negative,
    /// Larger than [`AMOUNT_MAX`] minor units.
    TooLarge,
}

impl AmountError {
    pub fn code(self) -> &'static str {
        match self {
            AmountError::Syntax => "amount_syntax",
            AmountError::TooManyDecimals => "amount_too_many_decimals",
            AmountError::Negative => "amount_negative",
            AmountError::TooLarge => "amount_too_large",
        }
    }
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AmountError::Syntax => {
                "an amount is digits with at most one decimal point, like \"12.34\""
            }
            AmountError::TooManyDecimals => "the amount has more decimals than the currency allows",
            AmountError::Negative => "the amount must not be negative",
            AmountError::TooLarge => "the amount is too large",
        })
    }
}

impl std::error::Error for AmountError {}

/// Parses a non-negative decimal string into minor units of `currency`.
///
/// Accepts "12", "12.3", "12.34" (CNY); rejects "", ".5", "12.", "1,00", "+1", "1e3", " 1",
/// "-1", and more decimals than the currency's exponent.
pub fn parse_amount(text: &str, currency: Currency) -> Result<u64, AmountError> {
    let exponent = u32::from(currency.exponent());
    if text.starts_with('-') {
        return Err(AmountError::Negative);
    }
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::Syntax);
    }
    let fraction = fraction.unwrap_or("");
    if text.contains('.') && fraction.is_empty() {
        return Err(AmountError::Syntax);
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::Syntax);
    }
    if fraction.len() > exponent as usize {
        return Err(AmountError::TooManyDecimals);
    }
    let mut minor: u64 = 0;
    let digits = whole
        .bytes()
        .chain(fraction.bytes())
        .chain(std::iter::repeat_n(
            b'0',
            exponent as usize - fraction.len(),
        ));
    for digit in digits {
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(digit - b'0')))
            .ok_or(AmountError::TooLarge)?;
    }
    if minor > AMOUNT_MAX {
        return Err(AmountError::TooLarge);
    }
    Ok(minor)
}

/// Formats minor units as a decimal string with exactly the currency's decimals: 1234 CNY →
/// "12.34", 5 JPY → "5", 7 KWD → "0.007".
pub fn format_amount(minor: u64, currency: Currency) -> String {
    let exponent = currency.exponent() as usize;
    let digits = minor.to_string();
    if exponent == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (whole, fraction) = padded.split_at(padded.len() - exponent);
    format!("{whole}.{fraction}")
}

/// Converts `amount` minor units of `from` into minor units of `to` at `rate_micros` (units of
/// `to` per unit of `from`, in millionths), rounding down: the customer is never credited more
/// than the converted value (the remainder, under one minor unit, stays with the platform's
/// FX position). `None` on overflow.
pub fn convert_minor(amount: u64, from: Currency, to: Currency, rate_micros: u64) -> Option<u64> {
    const MICROS: u128 = 1_000_000;
    let scale_to = 10u128.pow(u32::from(to.exponent()));
    let scale_from = 10u128.pow(u32::from(from.exponent()));
    let numerator = u128::from(amount)
        .checked_mul(u128::from(rate_micros))?
        .checked_mul(scale_to)?;
    let converted = numerator / (MICROS * scale_from);
    u64::try_from(converted)
        .ok()
        .filter(|&minor| minor <= AMOUNT_MAX)
}

/// An amount of money: signed minor units and a currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

/// Checked money arithmetic failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MoneyError {
    CurrencyMismatch {
        left: Currency,
        right: Currency,
    },
    Overflow,
    /// A negative amount where only money that exists can be moved (a transfer's amount).
    Negative,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::CurrencyMismatch { left, right } => {
                write!(f, "cannot combine {left} with {right}")
            }
            MoneyError::Overflow => f.write_str("amount overflow"),
            MoneyError::Negative => f.write_str("a negative amount cannot be moved"),
        }
    }
}

impl std::error::Error for MoneyError {}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Minor units as the ledger counts them (unsigned); above `i64::MAX` is an overflow.
    pub fn from_unsigned(minor: u64, currency: Currency) -> Result<Money, MoneyError> {
        let minor = i64::try_from(minor).map_err(|_| MoneyError::Overflow)?;
        Ok(Money { minor, currency })
    }

    /// The minor units a ledger transfer moves: never negative.
    pub fn unsigned(self) -> Result<u64, MoneyError> {
        u64::try_from(self.minor).map_err(|_| MoneyError::Negative)
    }

    /// The smaller of two amounts of one currency.
    pub fn checked_min(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if other.minor < self.minor {
            other
        } else {
            self
        })
    }

    /// Parses a non-negative decimal string, e.g. `Money::parse("12.34", Currency::CNY)`.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, AmountError> {
        let minor = parse_amount(text, currency)?;
        let minor = i64::try_from(minor).map_err(|_| AmountError::TooLarge)?;
        Ok(Money { minor, currency })
    }

    pub fn minor(self) -> i64 {
        self.minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn is_zero(self) -> bool {
        self.minor == 0
    }

    pub fn is_negative(self) -> bool {
        self.minor < 0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// The decimal string without the currency: "-12.34".
    pub fn to_decimal_string(self) -> String {
        let magnitude = format_amount(self.minor.unsigned_abs(), self.currency);
        if self.minor < 0 {
            format!("-{magnitude}")
        } else {
            magnitude
        }
    }
}

/// Amounts compare only within a currency: 1 CNY and 1 USD are unordered (every comparison
/// between them is false), so a mixed-currency comparison can never pass a check by accident.
impl PartialOrd for Money {
    fn partial_cmp(&self, other: &Money) -> Option<std::cmp::Ordering> {
        (self.currency == other.currency).then(|| self.minor.cmp(&other.minor))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_of_two_currencies_never_compares_or_combines() {
        let cny = Money::new(100, Currency::CNY);
        let usd = Money::new(100, Currency::USD);
        assert_eq!(cny.partial_cmp(&usd), None);
        let comparisons = [cny < usd, cny > usd, cny <= usd, cny >= usd];
        assert_eq!(comparisons, [false; 4]);
        assert_ne!(cny, usd);
        assert!(matches!(
            cny.checked_add(usd),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert!(matches!(
            cny.checked_min(usd),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert!(Money::new(99, Currency::CNY) < cny);
        assert_eq!(
            cny.checked_min(Money::new(7, Currency::CNY)),
            Ok(Money::new(7, Currency::CNY))
        );
    }

    #[test]
    fn unsigned_amounts_round_trip_or_refuse() {
        assert_eq!(
            Money::from_unsigned(5, Currency::CNY).unwrap().unsigned(),
            Ok(5)
        );
        assert_eq!(
            Money::from_unsigned(u64::MAX, Currency::CNY),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::new(-1, Currency::CNY).unsigned(),
            Err(MoneyError::Negative)
        );
        assert_eq!(
            Money::new(i64::MAX, Currency::CNY).checked_add(Money::new(1, Currency::CNY)),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn parses_by_exponent() {
        assert_eq!(parse_amount("12.34", Currency::CNY), Ok(1234));
        assert_eq!(parse_amount("12.3", Currency::CNY), Ok(1230));
        assert_eq!(parse_amount("12", Currency::CNY), Ok(1200));
        assert_eq!(parse_amount("0.01", Currency::CNY), Ok(1));
        assert_eq!(parse_amount("007", Currency::CNY), Ok(700));
        assert_eq!(parse_amount("500", Currency::JPY), Ok(500));
        assert_eq!(
            parse_amount("1.5", Currency::JPY),
            Err(AmountError::TooManyDecimals)
        );
        assert_eq!(parse_amount("1.234", Currency::KWD), Ok(1234));
        assert_eq!(
            parse_amount("1.234", Currency::CNY),
            Err(AmountError::TooManyDecimals)
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "", ".5", "12.", "98,73", "+1", "1e3", " 1", "1 ", "1.2.3", "١", "0x10",
        ] {
            assert_eq!(
                parse_amount(bad, Currency::CNY),
                Err(AmountError::Syntax),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_amount("-1", Currency::CNY),
            Err(AmountError::Negative)
        );
        assert_eq!(
            parse_amount("92233720368547758.07", Currency::CNY),
            Ok(AMOUNT_MAX)
        );
        assert_eq!(
            parse_amount("92233720368547758.08", Currency::CNY),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            parse_amount("99999999999999999999999", Currency::CNY),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn formats_by_exponent() {
        assert_eq!(format_amount(1234, Currency::CNY), "12.34");
        assert_eq!(format_amount(5, Currency::CNY), "0.05");
        assert_eq!(format_amount(0, Currency::CNY), "0.00");
        assert_eq!(format_amount(5, Currency::JPY), "5");
        assert_eq!(format_amount(7, Currency::KWD), "0.007");
        assert_eq!(Money::new(-1234, Currency::CNY).to_string(), "-12.34 CNY");
    }

    #[test]
    fn round_trips_every_currency() {
        for &currency in Currency::ALL {
            assert_eq!(Currency::from_code(currency.code()), Some(currency));
            assert_eq!(Currency::from_numeric(currency.numeric()), Some(currency));
            for minor in [0, 1, 9, 10, 99, 100, 12345, AMOUNT_MAX] {
                let text = format_amount(minor, currency);
                assert_eq!(
                    parse_amount(&text, currency),
                    Ok(minor),
                    "{currency} {text}"
                );
            }
        }
    }

    #[test]
    fn converts_currencies_rounding_down() {
        // 100.00 USD at 7.1234 = 712.34 CNY exactly.
        assert_eq!(
            convert_minor(10_000, Currency::USD, Currency::CNY, 7_123_400),
            Some(71_234)
        );
        // 0.01 USD at 7.1234 = 0.071234 CNY: 0.07 CNY, the rest is not credited.
        assert_eq!(
            convert_minor(1, Currency::USD, Currency::CNY, 7_123_400),
            Some(7)
        );
        // 1,000 JPY (no decimals) at 0.0476 = 47.60 CNY.
        assert_eq!(
            convert_minor(1_000, Currency::JPY, Currency::CNY, 47_600),
            Some(4_760)
        );
        // 1.000 KWD (3 decimals) at 23.5 = 23.50 CNY.
        assert_eq!(
            convert_minor(1_000, Currency::KWD, Currency::CNY, 23_500_000),
            Some(2_350)
        );
        assert_eq!(
            convert_minor(AMOUNT_MAX, Currency::USD, Currency::CNY, 7_123_400),
            None
        );
    }

    #[test]
    fn checked_arithmetic() {
        let a = Money::new(i64::MAX, Currency::CNY);
        assert_eq!(
            a.checked_add(Money::new(1, Currency::CNY)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            a.checked_add(Money::new(1, Currency::USD)),
            Err(MoneyError::CurrencyMismatch {
                left: Currency::CNY,
                right: Currency::USD
            })
        );
        assert_eq!(
            Money::new(i64::MIN, Currency::CNY).checked_neg(),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::new(5, Currency::CNY).checked_sub(Money::new(7, Currency::CNY)),
            Ok(Money::new(-2, Currency::CNY))
        );
    }
}
