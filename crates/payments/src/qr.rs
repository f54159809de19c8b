//! Between orders and EMVCo payloads (`cashless_emvqr`): our codes out, scanned codes in.

use cashless_emvqr::{CashlessMerchant, CashlessOrder, Scheme};
use cashless_kernel::{ServiceError, ServiceResult};
use cashless_ledger::{Currency, Money};

use crate::ids::{MerchantId, StoreId};
use serde_json::json;

/// What makes a code dynamic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dynamic<'a> {
    pub amount: Money,
    pub reference: &'a str,
    pub terminal: Option<&'a str>,
}

/// A payload for the merchant (or one of its stores), static or dynamic.
pub(crate) fn encode(
    code: CashlessMerchant,
    dynamic: Option<Dynamic<'_>>,
) -> Result<String, String> {
    let payload = match dynamic {
        None => cashless_emvqr::encode_static(&code).map(|mpm| mpm.payload()),
        Some(dynamic) => {
            let minor = dynamic
                .amount
                .unsigned()
                .map_err(|error| error.to_string())?;
            let amount = cashless_emvqr::Amount::from_minor_units(
                minor,
                dynamic.amount.currency().exponent(),
            )
            .map_err(|error| error.to_string())?;
            // A terminal label longer than EMVCo's 25 characters (our ids are 36) stays off the code.
            let terminal = dynamic
                .terminal
                .filter(|t| t.chars().count() <= 25)
                .map(str::to_owned);
            cashless_emvqr::dynamic_payload(
                &code,
                &CashlessOrder {
                    amount,
                    reference: dynamic.reference.to_owned(),
                    terminal,
                },
            )
        }
    };
    // The order adds only values the builder checks (amount, a base-36 token, a short
    // terminal id) to a merchant whose fields onboarding checked, so no parse-back is needed;
    // debug builds (the tests) still make sure.
    if let Ok(text) = &payload {
        debug_assert!(
            cashless_emvqr::parse(text).is_ok(),
            "an order's code the parser refuses: {text}"
        );
    }
    payload.map_err(|error| {
        format!(
            "encoding the code of merchant {}: {error}",
            code.merchant_id
        )
    })
}

/// The refusal for a code that names no merchant or order of ours (answered alike for both).
pub(crate) fn unknown() -> ServiceError {
    ServiceError::not_found(
        "qr_unknown",
        "this code does not name a Cashless merchant or order",
    )
}

/// A scanned code of ours.
#[derive(Clone, Debug)]
pub(crate) struct Scanned {
    pub merchant_id: MerchantId,
    pub store_id: Option<StoreId>,
    /// The order token of a dynamic code.
    pub reference: Option<String>,
    pub amount: Option<Money>,
}

/// What a code that is no merchant code at all is (`web_link`, `transit_code` or `other`), and
/// that in words (the parser's reason goes in the error's details, for integrators).
fn not_a_payment_code(payload: &str) -> (&'static str, &'static str) {
    let lower = payload.get(..8).unwrap_or(payload).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("www.") {
        (
            "web_link",
            "this code is a web link, not a payment code: scan the shop's payment QR code",
        )
    } else if payload.starts_with("CT1:") {
        (
            "transit_code",
            "this is a transit ride code: show it at the gate, it is not for paying a shop",
        )
    } else {
        (
            "other",
            "this is not a payment code: scan the shop's payment QR code",
        )
    }
}

/// Parses a scanned payload: one of ours, or a precise refusal (malformed, or another
/// scheme's code that this platform cannot pay).
pub(crate) fn scan(payload: &str) -> Result<Scanned, ServiceError> {
    let payload = payload.trim();
    let mpm = cashless_emvqr::parse(payload).map_err(|error| {
        let (kind, message) = not_a_payment_code(payload);
        ServiceError::unprocessable("qr_invalid", message).with_details(
            json!({ "kind": kind, "reason": error.code(), "detail": error.to_string() }),
        )
    })?;
    let Some(target) = cashless_emvqr::cashless_target(&mpm) else {
        let schemes: Vec<&str> = mpm
            .schemes()
            .iter()
            .filter(|s| **s != Scheme::Cashless)
            .map(|s| s.name())
            .collect();
        let named = if schemes.is_empty() {
            "another payment scheme".to_owned()
        } else {
            schemes.join(" / ")
        };
        return Err(ServiceError::unprocessable(
            "qr_foreign_scheme",
            format!("this is a {named} code; Cashless cannot pay it — pay with that scheme's app"),
        )
        .with_details(json!({ "schemes": schemes })));
    };
    if target.currency != Currency::CNY.numeric() {
        return Err(ServiceError::unprocessable(
            "currency_not_supported",
            format!(
                "the code asks for currency {}; Cashless codes are in CNY",
                target.currency
            ),
        ));
    }
    let amount = target
        .amount
        .map(|amount| {
            let minor = amount
                .to_minor_units(Currency::CNY.exponent())
                .map_err(|error| error.to_string())?;
            Money::from_unsigned(minor, Currency::CNY).map_err(|error| error.to_string())
        })
        .transpose()
        .map_err(|error| {
            ServiceError::unprocessable("qr_invalid", format!("the code's amount: {error}"))
        })?;
    // A code of ours names a merchant (and a store) by ids we issued; anything else names none.
    let merchant_id = MerchantId::parse(&target.merchant_id).map_err(|_| unknown())?;
    let store_id = StoreId::parse_opt(target.store_id.as_deref()).map_err(|_| unknown())?;
    Ok(Scanned {
        merchant_id,
        store_id,
        reference: target.order_reference,
        amount,
    })
}

/// Dynamic codes name their order by an unguessable token (the reference label, EMVCo ID 62
/// sub-ID 05, holds at most 25 characters: a UUID does not fit): 24 characters of 0-9A-Z, the
/// first 8 the time in milliseconds (so a new order's token appends to the token index rather
/// than dirtying a random page of it), the other 16 random: about 82 bits to guess.
pub const QR_TOKEN_CHARS: usize = 24;

/// Characters of a token's time prefix: 36^8 ms is about 89 years from 1970.
const QR_TOKEN_TIME_CHARS: usize = 8;

pub(crate) fn new_qr_token() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let base = ALPHABET.len() as u64;
    let mut token = vec![b'0'; QR_TOKEN_CHARS];
    let mut ms = cashless_partners::unix_ms();
    for slot in token[..QR_TOKEN_TIME_CHARS].iter_mut().rev() {
        *slot = ALPHABET[(ms % base) as usize];
        ms /= base;
    }
    for slot in &mut token[QR_TOKEN_TIME_CHARS..] {
        // 2^32 is not a multiple of 36: the bias is below 1e-8 per character.
        *slot = ALPHABET[(u64::from(rand::random::<u32>()) % base) as usize];
    }
    token.into_iter().map(char::from).collect()
}

/// A merchant's (or one store's) static code.
pub(crate) fn static_code(merchant: CashlessMerchant) -> ServiceResult<String> {
    encode(merchant, None).map_err(ServiceError::internal)
}

#[cfg(test)]
mod tests {
    use super::{QR_TOKEN_CHARS, QR_TOKEN_TIME_CHARS, new_qr_token};

    #[test]
    fn qr_tokens_start_with_the_time_and_end_unguessable() {
        let first = new_qr_token();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let tokens: Vec<String> = (0..1000).map(|_| new_qr_token()).collect();
        for token in std::iter::once(&first).chain(&tokens) {
            assert_eq!(token.len(), QR_TOKEN_CHARS);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            );
            assert!(token.len() <= 25, "EMVCo 62/05 holds at most 25 characters");
        }
        // A later millisecond sorts after: new tokens append to the token index.
        assert!(first[..QR_TOKEN_TIME_CHARS] < tokens[0][..QR_TOKEN_TIME_CHARS]);
        // The random part: 1,000 tokens made within a few milliseconds are all different.
        let mut random: Vec<&str> = tokens.iter().map(|t| &t[QR_TOKEN_TIME_CHARS..]).collect();
        random.sort_unstable();
        random.dedup();
        assert_eq!(random.len(), tokens.len());
    }
}
