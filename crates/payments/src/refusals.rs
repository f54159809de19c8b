//! Why a payment did not happen, typed by whose side the reason is.
//!
//! The consumer paying sees every refusal as it is ([`From<PayError> for ServiceError`]). The
//! merchant charging a consumer's payment code sees the merchant's own mistakes and the
//! platform's state as they are, and of the payer only that they cannot pay or must wait:
//! never their balance, limits, level, card or bank's reason. [`for_merchant`] maps every
//! variant explicitly, with no wildcard, so a new kind of refusal does not compile until
//! someone decides what a merchant may learn of it.

use cashless_kernel::{ErrorKind, ServiceError};
use cashless_store::{DbError, StoreError};
use cashless_wallet::CardFundingError;

#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// The request, the code scanned, the order, or the merchant's limits, places and keys.
    #[error("{0}")]
    Request(ServiceError),
    /// A payment code no signed-in device made lately: a wrong guess (it spends one).
    #[error("no valid payment code matches")]
    CodeUnknown,
    /// The payer's balance does not cover the payment; a card they chose may.
    #[error("{0}")]
    InsufficientBalance(ServiceError),
    /// The payer's limits, level, PIN or account.
    #[error("{0}")]
    Payer(ServiceError),
    /// The payer's card, debited for the shortfall.
    #[error("{0}")]
    Card(#[from] CardFundingError),
    /// The platform itself: storage, the ledger, shutting down, a bug.
    #[error("{0}")]
    Platform(ServiceError),
}

impl PayError {
    /// A refusal of the request, or the platform failing under its check.
    pub(crate) fn request(error: ServiceError) -> PayError {
        if error.is_platform() {
            PayError::Platform(error)
        } else {
            PayError::Request(error)
        }
    }

    /// A refusal by the payer's rules, or the platform failing under their check.
    pub(crate) fn payer(error: ServiceError) -> PayError {
        if error.is_platform() {
            PayError::Platform(error)
        } else {
            PayError::Payer(error)
        }
    }

    /// The platform failing (whatever the error says: the step cannot refuse by a rule).
    pub(crate) fn platform(error: impl Into<ServiceError>) -> PayError {
        PayError::Platform(error.into())
    }
}

impl From<StoreError> for PayError {
    fn from(error: StoreError) -> PayError {
        PayError::Platform(error.into())
    }
}

impl From<DbError> for PayError {
    fn from(error: DbError) -> PayError {
        PayError::Platform(error.into())
    }
}

impl From<PayError> for ServiceError {
    /// What the payer sees: every reason as it is.
    fn from(error: PayError) -> ServiceError {
        match error {
            PayError::Request(error)
            | PayError::InsufficientBalance(error)
            | PayError::Payer(error)
            | PayError::Platform(error) => error,
            PayError::CodeUnknown => paycode_unknown(),
            PayError::Card(error) => error.into(),
        }
    }
}

/// What the merchant charging a payment code may learn of a refusal (see the module docs).
pub(crate) fn for_merchant(error: PayError) -> ServiceError {
    match error {
        PayError::Request(error) | PayError::Platform(error) => error,
        PayError::Card(CardFundingError::Platform(error)) => error,
        PayError::CodeUnknown => paycode_unknown(),
        PayError::InsufficientBalance(_) | PayError::Card(CardFundingError::Declined(_)) => {
            buyer_balance_not_enough()
        }
        PayError::Card(CardFundingError::Pending(_)) => ServiceError::conflict(
            "buyer_payment_pending",
            "the payer's payment is still being confirmed; query the order or try again shortly",
        ),
        PayError::Payer(error) | PayError::Card(CardFundingError::Refused(error)) => {
            tracing::debug!(
                code = error.code,
                "a payer's refusal shown to the merchant as buyer_cannot_pay"
            );
            ServiceError::unprocessable(
                "buyer_cannot_pay",
                "the payer cannot pay this amount with Cashless now: ask them to pay another way",
            )
        }
    }
}

pub(crate) fn buyer_balance_not_enough() -> ServiceError {
    ServiceError::unprocessable(
        "buyer_balance_not_enough",
        "the payer cannot cover this payment: ask them to pay another way",
    )
}

/// A code that does not pay, whatever the reason (no such slot, a wrong or expired value, a
/// signed-out device): one answer, so a guesser learns nothing about which slots exist.
pub(crate) fn paycode_unknown() -> ServiceError {
    ServiceError::new(
        ErrorKind::NotFound,
        "paycode_unknown",
        "no valid payment code matches: ask the payer to refresh it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payer_refusals() -> Vec<PayError> {
        vec![
            PayError::InsufficientBalance(ServiceError::unprocessable(
                "insufficient_balance",
                "the balance is not enough: 3.00 CNY available",
            )),
            PayError::Payer(ServiceError::unprocessable(
                "daily_limit_exceeded",
                "today's limit for level 1 is 1000.00 CNY",
            )),
            PayError::Card(CardFundingError::Declined(ServiceError::unprocessable(
                "card_payment_failed",
                "the bank declined the card: insufficient funds",
            ))),
            PayError::Card(CardFundingError::Refused(ServiceError::unprocessable(
                "top_up_limit",
                "above the card's limit",
            ))),
            PayError::Card(CardFundingError::Pending(ServiceError::conflict(
                "card_payment_pending",
                "the bank has not confirmed",
            ))),
        ]
    }

    #[test]
    fn the_merchant_never_learns_the_payers_reason() {
        for refusal in payer_refusals() {
            let seen = for_merchant(refusal);
            assert!(seen.code.starts_with("buyer_"), "{seen}");
            for secret in ["CNY", "level", "card", "bank", "limit"] {
                assert!(!seen.message.contains(secret), "{seen}");
            }
        }
    }

    #[test]
    fn the_merchant_sees_its_own_mistakes_and_the_platform_as_they_are() {
        let own = ServiceError::invalid("out_trade_no_invalid", "out_trade_no is 1 to 64");
        assert_eq!(
            for_merchant(PayError::request(own)).code,
            "out_trade_no_invalid"
        );
        let down = ServiceError::unavailable("store_unavailable", "retry");
        // A platform failure under a payer's check is still the platform's.
        assert_eq!(
            for_merchant(PayError::payer(down)).code,
            "store_unavailable"
        );
        assert_eq!(for_merchant(PayError::CodeUnknown).code, "paycode_unknown");
    }

    #[test]
    fn the_payer_sees_every_reason_as_it_is() {
        for refusal in payer_refusals() {
            let code = ServiceError::from(refusal).code;
            assert!(!code.starts_with("buyer_"), "{code}");
        }
    }
}
