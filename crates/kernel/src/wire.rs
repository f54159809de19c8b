//! Shapes the wallet answers with. Money is a decimal string with its currency, never a float;
//! times are RFC 3339 in UTC.

use cashless_ledger::{AmountError, Currency, Money, MoneyError, format_amount, parse_amount};
use serde::Serialize;

use crate::ServiceError;

/// An amount of money: `{"amount": "-12.50", "currency": "CNY"}`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, utoipa::ToSchema)]
pub struct Amount {
    /// Decimal, with the currency's digits after the point; negative for money going out.
    #[schema(example = "100.00")]
    pub amount: String,
    /// ISO 4217 code.
    #[schema(example = "CNY")]
    pub currency: String,
}

impl From<Money> for Amount {
    fn from(money: Money) -> Amount {
        Amount::signed(i128::from(money.minor()), money.currency())
    }
}

/// Arithmetic on amounts the platform itself holds went wrong (two currencies met, or a sum
/// overflowed): the platform's fault, never the caller's.
pub fn money_fault(error: MoneyError) -> ServiceError {
    ServiceError::internal(format!("amount arithmetic: {error}"))
}

impl Amount {
    pub fn new(minor: u64, currency: Currency) -> Amount {
        Amount {
            amount: format_amount(minor, currency),
            currency: currency.code().to_owned(),
        }
    }

    /// A signed amount: money in is positive, money out negative.
    pub fn signed(minor: i128, currency: Currency) -> Amount {
        let magnitude = u64::try_from(minor.unsigned_abs()).unwrap_or(u64::MAX);
        let text = format_amount(magnitude, currency);
        Amount {
            amount: if minor < 0 { format!("-{text}") } else { text },
            currency: currency.code().to_owned(),
        }
    }
}

/// Whether `text` is shaped like an id this platform issues (a UUID). Anything else cannot
/// name a resource, and is answered "not found" without reaching the database.
pub fn is_id(text: &str) -> bool {
    text.len() <= 36 && cashless_ledger::parse_u128(text).is_ok()
}

/// Parses a currency code from the wire.
pub fn currency(code: &str) -> Result<Currency, ServiceError> {
    Currency::from_code(code).ok_or_else(|| {
        ServiceError::invalid(
            "currency_invalid",
            format!("{code:?} is not a currency this platform knows (ISO 4217, e.g. CNY)"),
        )
    })
}

/// An amount as a person typed it: the text (a device signs what was typed, byte for byte)
/// and the money it says.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TypedAmount {
    pub text: String,
    pub money: Money,
}

impl TypedAmount {
    /// Parses a positive amount typed in `currency`.
    pub fn parse(text: &str, currency: Currency) -> Result<TypedAmount, ServiceError> {
        Ok(TypedAmount {
            text: text.to_owned(),
            money: money(text, currency)?,
        })
    }
}

/// Parses a positive amount such as `"100.00"` in `currency`: what a request's amount
/// becomes at the edge, before any service sees it.
pub fn money(text: &str, currency: Currency) -> Result<Money, ServiceError> {
    let minor = positive_amount(text, currency)?;
    Money::from_unsigned(minor, currency).map_err(|_| {
        ServiceError::invalid("amount_invalid", format!("amount {text:?} is too large"))
    })
}

/// A request's amount and optional currency code (CNY when absent), parsed.
pub fn money_in(text: &str, currency_code: Option<&str>) -> Result<Money, ServiceError> {
    money(text, currency(currency_code.unwrap_or("CNY"))?)
}

/// Parses a positive amount such as `"100.00"` in `currency`.
pub fn positive_amount(text: &str, currency: Currency) -> Result<u64, ServiceError> {
    let minor = parse_amount(text, currency).map_err(|error: AmountError| {
        ServiceError::invalid(
            "amount_invalid",
            format!("amount {text:?}: {error} (write it like \"100.00\")"),
        )
    })?;
    if minor == 0 {
        return Err(ServiceError::invalid(
            "amount_invalid",
            "the amount must be greater than zero",
        ));
    }
    Ok(minor)
}

/// A page cursor `<created_ns>.<id>` as this platform hands it out (`next_cursor`).
pub fn parse_cursor(text: &str) -> Result<(i64, String), ServiceError> {
    let invalid =
        || ServiceError::invalid("cursor_invalid", "pass a next_cursor exactly as received");
    let (ns, id) = text.split_once('.').ok_or_else(invalid)?;
    let ns: i64 = ns.parse().map_err(|_| invalid())?;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(invalid());
    }
    Ok((ns, id.to_owned()))
}
