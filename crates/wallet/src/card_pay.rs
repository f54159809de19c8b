//! Paying by card when the balance is short, if the owner chose a card for it.
//!
//! The owner picks one linked card (`PUT /v1/me/payment-card`). When a payment finds the
//! wallet short, the shortfall is debited from that card as a top-up made for this payment:
//! the same pending-then-posted ledger movement as any top-up, made once per payment: its key
//! is derived from the payment's own identity (the Idempotency-Key of a scan, the payment code
//! the cashier scanned, the id of a payment being confirmed), a retry awaits the same debit,
//! and money already on its way in counts before any new debit. The payment waits for the bank's confirmation (up to
//! `WalletConfig::card_fallback_wait`) and then takes the whole amount from the wallet.
//!
//! What can go wrong stays clear and loses nothing: the bank declines (`card_payment_failed`,
//! nothing moved); the bank is slow (`card_payment_pending`, 409: the money reaches the
//! balance when the bank confirms, and paying again finishes the payment without a second
//! debit); the order closes while the bank thinks (the money stays in the balance). The
//! statement shows both lines: the card top-up and the payment.

use std::sync::Arc;
use std::time::Instant;

use cashless_ledger::{Currency, Money};
use cashless_partners::RequestStatus;
use cashless_store::Param;
use serde_json::json;

use crate::cards::{active_card, card_not_found};
use crate::funding::TopUpRequest;
use crate::idempotency::idempotency_record;
use crate::ids::CardId;
use crate::users;
use crate::wire::{self, Amount};
use crate::{ServiceError, ServiceResult, Session, Wallet};

/// Why a payment card could not cover a payment's shortfall, by whose side it is (a merchant
/// charging a payment code learns only that the payer cannot pay, or must wait).
#[derive(Debug, thiserror::Error)]
pub enum CardFundingError {
    /// The bank declined the debit (`card_payment_failed`); nothing moved.
    #[error("{0}")]
    Declined(ServiceError),
    /// The bank has not confirmed yet (`card_payment_pending`): the money may still arrive.
    #[error("{0}")]
    Pending(ServiceError),
    /// A rule refused the top-up (the card, the wallet's limits, the account).
    #[error("{0}")]
    Refused(ServiceError),
    /// The platform itself: storage, shutting down.
    #[error("{0}")]
    Platform(ServiceError),
}

impl CardFundingError {
    /// A refusal from a step of the top-up, or the platform failing under it.
    fn refused(error: ServiceError) -> CardFundingError {
        if error.is_platform() {
            CardFundingError::Platform(error)
        } else {
            CardFundingError::Refused(error)
        }
    }
}

impl From<CardFundingError> for ServiceError {
    fn from(error: CardFundingError) -> ServiceError {
        match error {
            CardFundingError::Declined(error)
            | CardFundingError::Pending(error)
            | CardFundingError::Refused(error)
            | CardFundingError::Platform(error) => error,
        }
    }
}

impl Wallet {
    /// Chooses the card a payment falls back to when the balance is short (`None`: no card).
    /// Choosing one takes the PIN: it lets payments reach beyond the balance.
    pub async fn set_payment_card(
        self: &Arc<Self>,
        session: &Session,
        card_id: Option<&CardId>,
        pin: Option<&str>,
    ) -> ServiceResult<Option<String>> {
        if card_id.is_some() {
            let pin = pin.ok_or_else(|| {
                ServiceError::invalid("pin_required", "choosing a payment card takes the PIN")
            })?;
            self.verify_pin(session, pin).await?;
        }
        let user_id = session.user_id.clone();
        let card_id = card_id.map(|id| id.as_str().to_owned());
        self.store
            .write(move |tx| {
                let conn = tx.conn()?;
                if let Some(card_id) = &card_id
                    && active_card(conn, &user_id, card_id)?.is_none()
                {
                    return Err(card_not_found());
                }
                conn.execute(
                    "UPDATE users SET fallback_card_id = $2 WHERE id = $1",
                    &[Param::Text(&user_id), Param::opt_text(card_id.as_deref())],
                )?;
                Ok(card_id)
            })
            .await
    }

    /// What the user's CNY wallet can spend now, and what is on its way in (top-ups the bank
    /// has not confirmed yet).
    pub async fn balance_cny(&self, user_id: &str) -> ServiceResult<(u64, u64)> {
        let id = user_id.to_owned();
        let user = self
            .store
            .read(move |conn| users::by_id(conn, &id))
            .await?
            .ok_or_else(ServiceError::unauthorized)?;
        let balances = self
            .store
            .account(user.wallet)
            .await?
            .map(|row| row.account.balances);
        let available = balances.map_or(0, |b| b.credit_balance_available().max(0));
        let incoming = balances.map_or(0, |b| b.credits_pending);
        Ok((u64::try_from(available).unwrap_or(0), incoming))
    }

    /// The card payments fall back to, if it is still linked.
    pub async fn payment_card(&self, user_id: &str) -> ServiceResult<Option<String>> {
        let user_id = user_id.to_owned();
        self.store
            .read(move |conn| {
                let Some(user) = users::by_id(conn, &user_id)? else {
                    return Ok(None);
                };
                match user.fallback_card_id {
                    Some(card_id) => Ok(active_card(conn, &user_id, &card_id)?.map(|_| card_id)),
                    None => Ok(None),
                }
            })
            .await
            .map_err(ServiceError::from)
    }

    /// Makes sure the wallet can cover a payment of `amount` (CNY) named `payment_key` (unique
    /// per payment, namespaced by the caller: `pay:<key>`, `confirm:<id>`, `paycode:<code>`),
    /// debiting the shortfall from the user's payment card and waiting for the bank.
    ///
    /// `Ok(false)`: the user chose no card. The debit is made once per payment whatever
    /// happens meanwhile: a retry finds and awaits the same debit (even if the balance
    /// changed since), and money already on its way in counts before a new debit is made.
    pub async fn fund_from_payment_card(
        self: &Arc<Self>,
        user_id: &str,
        payment_key: &str,
        amount: Money,
    ) -> Result<bool, CardFundingError> {
        let refused = CardFundingError::refused;
        if amount.currency() != Currency::CNY {
            return Err(refused(ServiceError::internal(format!(
                "card fallback in {}: the wallet holds CNY",
                amount.currency()
            ))));
        }
        let amount = amount
            .unsigned()
            .map_err(|error| refused(cashless_kernel::wire::money_fault(error)))?;
        let Some(card_id) = self.payment_card(user_id).await.map_err(refused)? else {
            return Ok(false);
        };
        let key = format!(
            "card-pay:{}",
            &self.secrets.fingerprint(&["card-pay", payment_key])[..48]
        );
        let (user, key_r) = (user_id.to_owned(), key.clone());
        let earlier = self
            .store
            .read(move |conn| idempotency_record(conn, &user, &key_r))
            .await
            .map_err(|error| refused(error.into()))?;
        let mut funding = match earlier {
            Some((_, id)) => self.funding_of(user_id, &id).await.map_err(refused)?,
            None => {
                let (available, incoming) = self.balance_cny(user_id).await.map_err(refused)?;
                let shortfall = amount.saturating_sub(available).saturating_sub(incoming);
                if shortfall == 0 {
                    // Enough is on its way in already: do not debit the card again for it.
                    return Err(CardFundingError::Pending(pending(Amount::new(
                        incoming,
                        Currency::CNY,
                    ))));
                }
                let request = TopUpRequest {
                    card_id: CardId::parse(&card_id).map_err(refused)?,
                    amount: Money::from_unsigned(shortfall, Currency::CNY)
                        .map_err(|error| refused(wire::money_fault(error)))?,
                };
                self.top_up_for(user_id, Some(&key), request)
                    .await
                    .map_err(refused)?
            }
        };
        let deadline = Instant::now() + self.config.card_fallback_wait;
        let mut wait = CARD_POLL_FIRST;
        loop {
            match funding.status.as_str() {
                "succeeded" => return Ok(true),
                "failed" => {
                    return Err(CardFundingError::Declined(
                        ServiceError::unprocessable(
                            "card_payment_failed",
                            format!(
                                "the balance is short and the bank declined the card: {}",
                                funding
                                    .failure_reason
                                    .as_deref()
                                    .unwrap_or("no reason given")
                            ),
                        )
                        .with_details(json!({ "card": funding.card, "funding_id": funding.id })),
                    ));
                }
                _ if Instant::now() >= deadline => {
                    return Err(CardFundingError::Pending(pending(funding.amount)));
                }
                _ => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(CARD_POLL_MAX);
                    self.ask_bank(&funding.id).await;
                    funding = self
                        .funding_of(user_id, &funding.id)
                        .await
                        .map_err(refused)?;
                }
            }
        }
    }

    /// Asks the bank where one movement stands and settles it if the bank has answered.
    async fn ask_bank(&self, id: &str) {
        match self.partners.bank.status(id).await {
            Ok(RequestStatus::Processing) => {}
            Ok(RequestStatus::NotFound) => self.drive(id).await,
            answer => {
                if let Some(movement) = self.movement(id).await {
                    self.act_on(&movement, answer).await;
                }
            }
        }
    }
}

/// A payment waiting for a card debit asks the bank after 50 ms, then twice as long each
/// time, up to once a second.
const CARD_POLL_FIRST: std::time::Duration = std::time::Duration::from_millis(50);
const CARD_POLL_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// The bank has not confirmed yet; nothing was paid.
fn pending(incoming: Amount) -> ServiceError {
    ServiceError::conflict(
        "card_payment_pending",
        "the bank has not confirmed the card debit yet: the money reaches the balance when it does; pay again then",
    )
    .with_details(json!({ "incoming": incoming }))
}
