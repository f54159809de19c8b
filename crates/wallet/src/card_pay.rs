//! Paying by card when the balance is short, if the owner chose a card for it.
//!
//! The owner picks one linked card (`PUT /v1/me/payment-card`). When a payment finds the
//! wallet short, the shortfall is debited from that card as a top-up made for this payment:
//! the same pending-then-posted ledger movement as any top-up, idempotent by a key derived
//! from the payment's own Idempotency-Key (a retried payment reuses the same debit, never a
//! second one). The payment waits for the bank's confirmation (up to
//! `WalletConfig::card_fallback_wait`) and then takes the whole amount from the wallet.
//!
//! What can go wrong stays clear and loses nothing: the bank declines (`card_payment_failed`,
//! nothing moved); the bank is slow (`card_payment_pending`: the money reaches the balance
//! when the bank confirms, and paying again with the same key finishes the payment); the
//! order closes while the bank thinks (the money stays in the balance). The statement shows
//! both lines: the card top-up and the payment.

use std::sync::Arc;
use std::time::Instant;

use cashless_ledger::{Currency, format_amount};
use cashless_partners::RequestStatus;
use cashless_store::Param;
use serde_json::json;

use crate::cards::{active_card, card_not_found};
use crate::funding::{FundingView, TopUpRequest};
use crate::users;
use crate::wire::{self, Amount};
use crate::{Session, Wallet, WalletError, WalletResult};

impl Wallet {
    /// Chooses the card a payment falls back to when the balance is short (`None`: no card).
    pub async fn set_payment_card(
        &self,
        session: &Session,
        card_id: Option<&str>,
    ) -> WalletResult<Option<String>> {
        if let Some(card_id) = card_id
            && !wire::is_id(card_id)
        {
            return Err(card_not_found());
        }
        let user_id = session.user_id.clone();
        let card_id = card_id.map(str::to_owned);
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

    /// What the user's CNY wallet can spend now.
    pub async fn available_cny(&self, user_id: &str) -> WalletResult<u64> {
        let id = user_id.to_owned();
        let user = self
            .store
            .read(move |conn| users::by_id(conn, &id))
            .await?
            .ok_or_else(WalletError::unauthorized)?;
        let available = self.store.account(user.wallet).await?.map_or(0, |row| {
            row.account.balances.credit_balance_available().max(0)
        });
        Ok(u64::try_from(available).unwrap_or(0))
    }

    /// The card payments fall back to, if it is still linked.
    pub async fn payment_card(&self, user_id: &str) -> WalletResult<Option<String>> {
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
            .map_err(WalletError::from)
    }

    /// Debits `shortfall` (CNY) from the user's payment card into the wallet for the payment
    /// made with `payment_key`, and waits for the bank. `Ok(None)`: the user chose no card.
    pub async fn fund_from_payment_card(
        self: &Arc<Self>,
        user_id: &str,
        payment_key: &str,
        shortfall: u64,
    ) -> WalletResult<Option<FundingView>> {
        let Some(card_id) = self.payment_card(user_id).await? else {
            return Ok(None);
        };
        let key = format!(
            "card-pay:{}",
            &self.secrets.fingerprint(&["card-pay", payment_key])[..48]
        );
        let request = TopUpRequest {
            card_id,
            amount: format_amount(shortfall, Currency::CNY),
            currency: "CNY".to_owned(),
        };
        let mut funding = self.top_up_for(user_id, Some(&key), request).await?;
        let deadline = Instant::now() + self.config.card_fallback_wait;
        loop {
            match funding.status.as_str() {
                "succeeded" => return Ok(Some(funding)),
                "failed" => {
                    return Err(WalletError::unprocessable(
                        "card_payment_failed",
                        format!(
                            "the balance is short and the bank declined the card: {}",
                            funding
                                .failure_reason
                                .as_deref()
                                .unwrap_or("no reason given")
                        ),
                    )
                    .with_details(json!({ "card": funding.card, "funding_id": funding.id })));
                }
                _ if Instant::now() >= deadline => {
                    return Err(WalletError::unavailable(
                        "card_payment_pending",
                        "the bank has not confirmed the card debit yet; the money reaches the balance when it does: pay again with the same Idempotency-Key then",
                    )
                    .with_details(json!({
                        "funding_id": funding.id,
                        "amount": Amount::new(shortfall, Currency::CNY),
                    })));
                }
                _ => {
                    tokio::time::sleep(CARD_POLL).await;
                    self.ask_bank(&funding.id).await;
                    funding = self.funding_of(user_id, &funding.id).await?;
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

/// How often a payment waiting for a card debit asks the bank.
const CARD_POLL: std::time::Duration = std::time::Duration::from_millis(50);
