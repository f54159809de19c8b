//! Money between a bank card and the wallet.
//!
//! A top-up is a pending ledger transfer from bank clearing to the wallet: the money shows as
//! incoming but cannot be spent until the bank confirms the debit, when it is posted; it is
//! voided if the bank fails it or never confirms it. A withdrawal is the reverse: the money
//! leaves the available balance at once (held by the pending transfer) and is posted when the
//! bank confirms the payout, or returned if the payout fails.
//!
//! A top-up from a foreign card (Visa, Mastercard …) in its own currency becomes two linked
//! pending transfers: card currency from clearing to the platform's FX position, and CNY from
//! the FX position to the wallet, at the `FxRates` quote (rounded down, never in the
//! customer's disfavour by more than a fen). The rate and both amounts are on the statement.
//!
//! Every request carries the client's Idempotency-Key: a retry answers the same movement, and
//! the key is also the bank's request id (via the movement's id), so the bank never moves money
//! twice. The state lives in the database; the reconciler (see [`Wallet::reconcile_once`])
//! asks the bank about every movement still in flight, so a restart mid-flight loses nothing.

use std::sync::Arc;

use cashless_consumer::rfc3339;
use cashless_ledger::{
    AccountId, AccountKind, CreateTransferResult, Currency, Money, MoneyError, Transfer,
    TransferFlags, TransferId, convert_minor, parse_u128,
};
use cashless_partners::{BankError, BankRequest, CardToken, Direction, RequestStatus};
use cashless_store::{Conn, DbError, Param, Row, WriteTx};
use serde::Serialize;
use serde_json::json;

use crate::auth::Session;
use crate::cards::{active_card, card_not_found};
use crate::idempotency::{idempotency_key, idempotency_record, idempotency_record_in, replayed};
use crate::ids::{CardId, FundingId};
use crate::statement::{release_outflow, reserve_outflow};
use crate::users::{self, int};
use crate::wire::{self, Amount};
use crate::{ServiceError, ServiceResult, Wallet, codes, duration_ns, ensure_account, platform};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FundingKind {
    TopUp,
    Withdrawal,
}

impl FundingKind {
    pub fn name(self) -> &'static str {
        match self {
            FundingKind::TopUp => "top_up",
            FundingKind::Withdrawal => "withdrawal",
        }
    }

    fn from_name(name: &str) -> Option<FundingKind> {
        match name {
            "top_up" => Some(FundingKind::TopUp),
            "withdrawal" => Some(FundingKind::Withdrawal),
            _ => None,
        }
    }
}

/// The conversion of a foreign-currency top-up.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FxView {
    /// CNY per unit of the card's currency, as a decimal: `"7.1234"`.
    pub rate: String,
    pub from: String,
    pub to: String,
}

/// What a top-up would do, asked before it is made.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TopUpQuote {
    /// What the card would be charged, in the card's currency.
    pub card_charge: Amount,
    /// What the wallet would receive, in CNY.
    pub credited: Amount,
    /// The conversion, for a foreign-currency top-up.
    pub fx: Option<FxView>,
}

/// A top-up's checked terms: the card, the CNY it credits, the rate used.
struct TopUpTerms {
    card: crate::cards::CardRow,
    cny: u64,
    rate_micros: Option<u64>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FundingView {
    pub id: String,
    #[schema(example = "top_up")]
    pub kind: String,
    /// `processing`, `succeeded` or `failed`.
    #[schema(example = "processing")]
    pub status: String,
    /// What the wallet receives (top-up) or sends (withdrawal), in CNY.
    pub amount: Amount,
    /// What the card is charged or paid, in the card's currency.
    pub card_amount: Amount,
    pub fx: Option<FxView>,
    pub card_id: String,
    pub card: String,
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A top-up as the client asks for it.
#[derive(Clone, Debug)]
pub struct TopUpRequest {
    pub card_id: CardId,
    /// In the card's currency (a foreign card's amount is converted to CNY).
    pub amount: Money,
}

#[derive(Clone)]
pub struct WithdrawalRequest {
    pub card_id: CardId,
    /// In CNY.
    pub amount: Money,
    pub pin: String,
}

impl std::fmt::Debug for WithdrawalRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithdrawalRequest")
            .field("card_id", &self.card_id)
            .field("amount", &self.amount)
            .field("pin", &"***")
            .finish()
    }
}

/// Everything about a movement that decides its ledger transfers.
#[derive(Clone, Debug)]
pub(crate) struct Movement {
    id: String,
    user_id: String,
    kind: FundingKind,
    status: String,
    card_id: String,
    amount: u64,
    card_amount: u64,
    card_currency: Currency,
    rate_micros: Option<u64>,
    transfer_ids: Vec<TransferId>,
    created_ns: u64,
}

const MOVEMENT_COLUMNS: &str = "id, user_id, kind, status, card_id, amount, card_amount, \
                                card_currency, rate_micros, transfer_ids, created_ns";

fn decode_movement(row: &Row) -> Result<Movement, DbError> {
    let currency = row.text(7)?;
    let ids = row.text(9)?;
    Ok(Movement {
        id: row.text(0)?.to_owned(),
        user_id: row.text(1)?.to_owned(),
        kind: FundingKind::from_name(row.text(2)?)
            .ok_or_else(|| DbError::Decode("funding kind".into()))?,
        status: row.text(3)?.to_owned(),
        card_id: row.text(4)?.to_owned(),
        amount: row.unsigned(5)?,
        card_amount: row.unsigned(6)?,
        card_currency: Currency::from_code(currency)
            .ok_or_else(|| DbError::Decode(format!("currency {currency}")))?,
        rate_micros: row.opt_int(8)?.map(|rate| rate as u64),
        transfer_ids: ids
            .split(',')
            .map(|id| parse_u128(id).map(TransferId))
            .collect::<Result<_, _>>()
            .map_err(|_| DbError::Decode(format!("transfer ids {ids}")))?,
        created_ns: row.int(10)? as u64,
    })
}

fn load_movement(conn: &mut Conn, id: &str) -> Result<Option<Movement>, DbError> {
    let sql = format!("SELECT {MOVEMENT_COLUMNS} FROM funding WHERE id = $1");
    conn.query_opt(&sql, &[Param::Text(id)])?
        .as_ref()
        .map(decode_movement)
        .transpose()
}

impl Movement {
    /// The pending transfers that hold this movement's money, linked when there are two.
    fn pending_legs(&self, wallet: AccountId) -> Vec<Transfer> {
        let cny = Currency::CNY;
        let mut legs = match (self.kind, self.rate_micros) {
            (FundingKind::TopUp, None) => vec![Transfer::new(
                self.transfer_ids[0],
                platform::bank_clearing(cny),
                wallet,
                self.amount,
                cny,
                codes::TOP_UP,
            )],
            (FundingKind::TopUp, Some(_)) => vec![
                Transfer::new(
                    self.transfer_ids[0],
                    platform::bank_clearing(self.card_currency),
                    platform::fx(self.card_currency),
                    self.card_amount,
                    self.card_currency,
                    codes::FX_TOP_UP,
                ),
                Transfer::new(
                    self.transfer_ids[1],
                    platform::fx(cny),
                    wallet,
                    self.amount,
                    cny,
                    codes::TOP_UP,
                ),
            ],
            (FundingKind::Withdrawal, _) => vec![Transfer::new(
                self.transfer_ids[0],
                wallet,
                platform::bank_clearing(cny),
                self.amount,
                cny,
                codes::WITHDRAWAL,
            )],
        };
        let last = legs.len() - 1;
        for (index, leg) in legs.iter_mut().enumerate() {
            leg.flags = if index < last {
                TransferFlags::PENDING.union(TransferFlags::LINKED)
            } else {
                TransferFlags::PENDING
            };
        }
        legs
    }

    /// The movement on the consumer's statement: in for a top-up, out for a withdrawal.
    fn activity_amount(&self) -> Result<Money, MoneyError> {
        let amount = Money::from_unsigned(self.amount, Currency::CNY)?;
        match self.kind {
            FundingKind::TopUp => Ok(amount),
            FundingKind::Withdrawal => amount.checked_neg(),
        }
    }
}

pub(crate) fn rate_text(rate_micros: u64) -> String {
    let whole = rate_micros / 1_000_000;
    let fraction = format!("{:06}", rate_micros % 1_000_000);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

/// How a movement ended.
#[derive(Clone, Debug)]
enum Outcome {
    Succeeded,
    Failed(String),
}

impl Wallet {
    /// What a top-up of `amount` in `currency` from this card would credit, at which rate:
    /// the checks every top-up makes (the card, its currencies, the single top-up maximum).
    async fn top_up_terms(
        &self,
        user_id: &str,
        card_id: &CardId,
        amount: u64,
        currency: Currency,
    ) -> ServiceResult<TopUpTerms> {
        let card = self.active_card(user_id, card_id).await?;
        let (cny, rate_micros) = if currency == Currency::CNY {
            (amount, None)
        } else {
            if !card.view.foreign_currency_top_up {
                return Err(ServiceError::unprocessable(
                    "currency_not_supported_by_card",
                    format!("{} cards top up in CNY only", card.view.network),
                ));
            }
            let quote = self
                .partners
                .fx
                .quote(currency, Currency::CNY)
                .await
                .map_err(|error| {
                    ServiceError::unprocessable("currency_not_supported", error.to_string())
                })?;
            let cny = convert_minor(amount, currency, Currency::CNY, quote.rate_micros)
                .filter(|&cny| cny > 0)
                .ok_or_else(|| {
                    ServiceError::unprocessable(
                        "amount_too_small",
                        "the amount converts to less than 0.01 CNY",
                    )
                })?;
            (cny, Some(quote.rate_micros))
        };
        let max = self.config.top_up_single_max;
        if cny > max {
            return Err(ServiceError::unprocessable(
                "top_up_limit_exceeded",
                format!(
                    "one top-up may be at most {} CNY",
                    cashless_ledger::format_amount(max, Currency::CNY)
                ),
            )
            .with_details(json!({ "limit": Amount::new(max, Currency::CNY) })));
        }
        Ok(TopUpTerms {
            card,
            cny,
            rate_micros,
        })
    }

    /// What a top-up would credit and charge, before it is made: the rate may move by the
    /// time the top-up is asked for (the top-up answers the rate it used).
    pub async fn quote_top_up(
        &self,
        session: &Session,
        card_id: &CardId,
        amount: Money,
    ) -> ServiceResult<TopUpQuote> {
        let currency = amount.currency();
        let amount = amount.unsigned().map_err(wire::money_fault)?;
        let terms = self
            .top_up_terms(&session.user_id, card_id, amount, currency)
            .await?;
        Ok(TopUpQuote {
            card_charge: Amount::new(amount, currency),
            credited: Amount::new(terms.cny, Currency::CNY),
            fx: terms.rate_micros.map(|rate| FxView {
                rate: rate_text(rate),
                from: currency.code().to_owned(),
                to: Currency::CNY.code().to_owned(),
            }),
        })
    }

    /// Tops the wallet up from a linked card.
    pub async fn top_up(
        self: &Arc<Self>,
        session: &Session,
        key: Option<&str>,
        request: TopUpRequest,
    ) -> ServiceResult<FundingView> {
        self.top_up_for(&session.user_id, key, request).await
    }

    pub(crate) async fn top_up_for(
        self: &Arc<Self>,
        user_id: &str,
        key: Option<&str>,
        request: TopUpRequest,
    ) -> ServiceResult<FundingView> {
        let key = idempotency_key(key)?;
        let currency = request.amount.currency();
        let amount = request.amount.unsigned().map_err(wire::money_fault)?;
        let fingerprint = self.secrets.fingerprint(&[
            "top_up",
            request.card_id.as_str(),
            &amount.to_string(),
            currency.code(),
        ]);
        if let Some(id) = self.replay(user_id, &key, &fingerprint).await? {
            return self.funding_of(user_id, &id).await;
        }
        let TopUpTerms {
            card,
            cny,
            rate_micros,
        } = self
            .top_up_terms(user_id, &request.card_id, amount, currency)
            .await?;
        let legs = if rate_micros.is_some() { 2 } else { 1 };
        let movement = Movement {
            id: self.new_id_string(),
            user_id: user_id.to_owned(),
            kind: FundingKind::TopUp,
            status: "processing".to_owned(),
            card_id: request.card_id.as_str().to_owned(),
            amount: cny,
            card_amount: amount,
            card_currency: currency,
            rate_micros,
            transfer_ids: (0..legs).map(|_| TransferId(self.new_id())).collect(),
            created_ns: 0,
        };
        let counterparty = card.view.display.clone();
        let id = self
            .store
            .write(move |tx| {
                let user_id = movement.user_id.clone();
                if let Some(id) =
                    replayed(idempotency_record_in(tx, &user_id, &key)?, &fingerprint)?
                {
                    return Ok(id);
                }
                let user = users::require(tx.conn()?, &user_id)?;
                if active_card(tx.conn()?, &user_id, &movement.card_id)?.is_none() {
                    return Err(card_not_found());
                }
                ensure_account(
                    tx,
                    platform::bank_clearing(currency),
                    currency,
                    AccountKind::Clearing,
                )?;
                if currency != Currency::CNY {
                    ensure_account(tx, platform::fx(currency), currency, AccountKind::Fx)?;
                    ensure_account(
                        tx,
                        platform::fx(Currency::CNY),
                        Currency::CNY,
                        AccountKind::Fx,
                    )?;
                }
                apply(tx, &movement.pending_legs(user.wallet))?;
                record(tx, &movement, &key, &fingerprint, &counterparty)?;
                Ok::<_, ServiceError>(movement.id.clone())
            })
            .await?;
        self.drive(&id).await;
        self.funding_of(user_id, &id).await
    }

    /// Withdraws from the wallet to a linked card, confirmed with the PIN.
    pub async fn withdraw(
        self: &Arc<Self>,
        session: &Session,
        key: Option<&str>,
        request: WithdrawalRequest,
    ) -> ServiceResult<FundingView> {
        let key = idempotency_key(key)?;
        if request.amount.currency() != Currency::CNY {
            return Err(ServiceError::unprocessable(
                "currency_not_supported",
                "withdrawals are in CNY",
            ));
        }
        let amount = request.amount.unsigned().map_err(wire::money_fault)?;
        let fingerprint = self.secrets.fingerprint(&[
            "withdrawal",
            request.card_id.as_str(),
            &amount.to_string(),
        ]);
        if let Some(id) = self.replay(&session.user_id, &key, &fingerprint).await? {
            return self.funding_of(&session.user_id, &id).await;
        }
        let card = self.active_card(&session.user_id, &request.card_id).await?;
        self.verify_pin(session, &request.pin).await?;
        let movement = Movement {
            id: self.new_id_string(),
            user_id: session.user_id.clone(),
            kind: FundingKind::Withdrawal,
            status: "processing".to_owned(),
            card_id: request.card_id.as_str().to_owned(),
            amount,
            card_amount: amount,
            card_currency: Currency::CNY,
            rate_micros: None,
            transfer_ids: vec![TransferId(self.new_id())],
            created_ns: 0,
        };
        let limits = self.config.limits;
        let counterparty = card.view.display.clone();
        let id = self
            .store
            .write(move |tx| {
                let user_id = movement.user_id.clone();
                if let Some(id) =
                    replayed(idempotency_record_in(tx, &user_id, &key)?, &fingerprint)?
                {
                    return Ok(id);
                }
                let now = tx.now_ns();
                let user = users::require(tx.conn()?, &user_id)?;
                if active_card(tx.conn()?, &user_id, &movement.card_id)?.is_none() {
                    return Err(card_not_found());
                }
                reserve_outflow(tx.conn()?, &user, amount, now, &limits)?;
                ensure_account(
                    tx,
                    platform::bank_clearing(Currency::CNY),
                    Currency::CNY,
                    AccountKind::Clearing,
                )?;
                let legs = movement.pending_legs(user.wallet);
                let results = tx.create_transfers_atomically(&legs)?;
                if results.contains(&CreateTransferResult::ExceedsCredits) {
                    return Err(crate::payer::insufficient_balance(tx, user.wallet));
                }
                check_applied(&legs, &results)?;
                record(tx, &movement, &key, &fingerprint, &counterparty)?;
                Ok::<_, ServiceError>(movement.id.clone())
            })
            .await?;
        self.drive(&id).await;
        self.funding_of(&session.user_id, &id).await
    }

    /// [`replayed`], before queueing a write: a retry answers without taking the writer.
    async fn replay(
        &self,
        user_id: &str,
        key: &str,
        fingerprint: &str,
    ) -> ServiceResult<Option<String>> {
        let user_id = user_id.to_owned();
        let key = key.to_owned();
        let record = self
            .store
            .read(move |conn| idempotency_record(conn, &user_id, &key))
            .await?;
        replayed(record, fingerprint)
    }

    async fn active_card(
        &self,
        user_id: &str,
        card_id: &CardId,
    ) -> ServiceResult<crate::cards::CardRow> {
        let user_id = user_id.to_owned();
        let card_id = card_id.as_str().to_owned();
        self.store
            .read(move |conn| active_card(conn, &user_id, &card_id))
            .await?
            .ok_or_else(card_not_found)
    }

    /// A top-up or withdrawal of the caller.
    pub async fn funding(&self, session: &Session, id: &FundingId) -> ServiceResult<FundingView> {
        self.funding_of(&session.user_id, id.as_str()).await
    }

    /// A movement of the user's by an id of ours (from a row or an idempotency record).
    pub(crate) async fn funding_of(&self, user_id: &str, id: &str) -> ServiceResult<FundingView> {
        let user_id = user_id.to_owned();
        let id = id.to_owned();
        self.store
            .read(move |conn| {
                let row = conn.query_opt(
                    "SELECT f.id, f.kind, f.status, f.amount, f.card_amount, f.card_currency, \
                     f.rate_micros, f.card_id, a.counterparty, f.failure_reason, f.created_ns, \
                     f.updated_ns FROM funding f JOIN activity a ON a.id = f.id \
                     WHERE f.id = $1 AND f.user_id = $2",
                    &[Param::Text(&id), Param::Text(&user_id)],
                )?;
                row.as_ref().map(decode_view).transpose()
            })
            .await?
            .ok_or_else(FundingId::not_found)
    }

    /// Sends a movement to the bank (again: the bank is idempotent by request id) and settles
    /// it if the bank already knows the answer. Failures to reach the bank are left to the
    /// reconciler.
    /// A movement by id, if it can be read.
    pub(crate) async fn movement(&self, id: &str) -> Option<Movement> {
        let id = id.to_owned();
        self.store
            .read(move |conn| load_movement(conn, &id))
            .await
            .ok()
            .flatten()
    }

    pub(crate) async fn drive(&self, id: &str) {
        let id_owned = id.to_owned();
        let loaded = self
            .store
            .read(move |conn| {
                let Some(movement) = load_movement(conn, &id_owned)? else {
                    return Ok(None);
                };
                let token = conn
                    .query_opt(
                        "SELECT token FROM cards WHERE id = $1",
                        &[Param::Text(&movement.card_id)],
                    )?
                    .map(|row| row.text(0).map(str::to_owned))
                    .transpose()?;
                Ok(token.map(|token| (movement, token)))
            })
            .await;
        let (movement, token) = match loaded {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, funding = id, "cannot load a movement to submit");
                return;
            }
        };
        if movement.status != "processing" {
            return;
        }
        let request = BankRequest {
            request_id: movement.id.clone(),
            card: CardToken(token),
            direction: match movement.kind {
                FundingKind::TopUp => Direction::Debit,
                FundingKind::Withdrawal => Direction::Payout,
            },
            amount_minor: movement.card_amount,
            currency: movement.card_currency,
        };
        let answer = self.partners.bank.submit(&request).await;
        self.act_on(&movement, answer).await;
    }

    pub(crate) async fn act_on(
        &self,
        movement: &Movement,
        answer: Result<RequestStatus, BankError>,
    ) {
        let outcome = match answer {
            Ok(RequestStatus::Succeeded { .. }) => Outcome::Succeeded,
            Ok(RequestStatus::Failed { reason }) => Outcome::Failed(reason),
            Err(BankError::Declined(reason)) => Outcome::Failed(reason),
            Ok(RequestStatus::Processing | RequestStatus::NotFound) => return,
            Err(error) => {
                tracing::warn!(%error, funding = %movement.id, "bank did not answer; will retry");
                return;
            }
        };
        if let Err(error) = self.settle(&movement.id, outcome).await {
            tracing::warn!(%error, funding = %movement.id, "cannot settle; will retry");
        }
    }

    /// Posts (success) or voids (failure) a movement's pending transfers and records the
    /// outcome. Settling a settled movement does nothing.
    async fn settle(&self, id: &str, outcome: Outcome) -> ServiceResult<()> {
        let id = id.to_owned();
        let post_ids: Vec<TransferId> = (0..2).map(|_| TransferId(self.new_id())).collect();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let Some(movement) = load_movement(tx.conn()?, &id)? else {
                    return Ok(());
                };
                if movement.status != "processing" {
                    return Ok(());
                }
                let user = users::require(tx.conn()?, &movement.user_id)?;
                let (flag, status, reason) = match &outcome {
                    Outcome::Succeeded => (TransferFlags::POST_PENDING, "succeeded", None),
                    Outcome::Failed(reason) => {
                        (TransferFlags::VOID_PENDING, "failed", Some(reason.as_str()))
                    }
                };
                let pending = movement.pending_legs(user.wallet);
                let last = pending.len() - 1;
                let resolutions: Vec<Transfer> = pending
                    .iter()
                    .zip(&post_ids)
                    .enumerate()
                    .map(|(index, (leg, &post_id))| Transfer {
                        id: post_id,
                        pending_id: leg.id,
                        flags: if index < last { flag.union(TransferFlags::LINKED) } else { flag },
                        ..Transfer::new(
                            post_id,
                            leg.debit_account_id,
                            leg.credit_account_id,
                            leg.amount,
                            leg.currency,
                            leg.code,
                        )
                    })
                    .collect();
                let results = tx.create_transfers_atomically(&resolutions)?;
                let (status, reason) = match already_resolved(&results) {
                    None => {
                        check_applied(&resolutions, &results)?;
                        (status, reason)
                    }
                    // The ledger already holds the final word (say an operator resolved the
                    // hold by hand): the row follows the ledger, and the disagreement is loud.
                    Some(ledger_status) => {
                        tracing::error!(funding = %id, bank = status, ledger = ledger_status,
                            "a movement's pending transfers were already resolved; following the ledger");
                        (ledger_status, Some("resolved_in_ledger"))
                    }
                };
                let conn = tx.conn()?;
                conn.execute(
                    "UPDATE funding SET status = $2, failure_reason = $3, updated_ns = $4 WHERE id = $1",
                    &[Param::Text(&id), Param::Text(status), Param::opt_text(reason), int(now)],
                )?;
                conn.execute(
                    "UPDATE activity SET status = $2, updated_ns = $3 WHERE id = $1",
                    &[Param::Text(&id), Param::Text(status), int(now)],
                )?;
                if status == "failed" && movement.kind == FundingKind::Withdrawal {
                    release_outflow(conn, &movement.user_id, movement.created_ns, movement.amount)?;
                }
                tracing::info!(funding = %id, kind = movement.kind.name(), status, "movement settled");
                Ok(())
            })
            .await
    }

    /// Asks the bank about every movement still in flight and finishes those it has answered:
    /// what makes top-ups and withdrawals survive a restart. Answers how many it settled or
    /// resubmitted.
    ///
    /// Only the bank's answer ends a movement, with one exception: a top-up the bank says it
    /// never received, older than `funding_timeout`, is given up (no money can arrive for a
    /// debit the bank does not know). A movement the bank is still processing is asked about
    /// again next time, however old: voiding it while the bank may still move the money would
    /// charge a card without crediting the wallet, or pay a withdrawal out twice. A payout the
    /// bank never received is sent again (the bank is idempotent by request id).
    pub async fn reconcile_once(&self) -> ServiceResult<usize> {
        let timeout_ns = duration_ns(self.config.funding_timeout);
        let mut after: (i64, String) = (-1, String::new());
        let mut acted = 0;
        loop {
            let cursor = after.clone();
            let rows = self
                .store
                .read(move |conn| {
                    let sql = format!(
                        "SELECT {MOVEMENT_COLUMNS} FROM funding WHERE status = 'processing' \
                         AND (created_ns > $1 OR (created_ns = $1 AND id > $2)) \
                         ORDER BY created_ns, id LIMIT 200"
                    );
                    conn.query(&sql, &[Param::Int(cursor.0), Param::Text(&cursor.1)])?
                        .iter()
                        .map(decode_movement)
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
            let Some(last) = rows.last() else { break };
            after = (last.created_ns as i64, last.id.clone());
            let now = crate::now_ns();
            for movement in rows {
                let timed_out = now.saturating_sub(movement.created_ns) >= timeout_ns;
                let answer = self.partners.bank.status(&movement.id).await;
                let result = match answer {
                    Ok(RequestStatus::NotFound)
                        if timed_out && movement.kind == FundingKind::TopUp =>
                    {
                        self.settle(&movement.id, Outcome::Failed("timed_out".into()))
                            .await
                    }
                    Ok(RequestStatus::NotFound) => {
                        // Say the server stopped right after saving it: send it now.
                        self.drive(&movement.id).await;
                        Ok(())
                    }
                    Ok(RequestStatus::Processing) => continue,
                    answer => {
                        self.act_on(&movement, answer).await;
                        Ok(())
                    }
                };
                if let Err(error) = result {
                    tracing::warn!(%error, funding = %movement.id, "cannot settle; will retry");
                }
                acted += 1;
            }
        }
        Ok(acted)
    }

    /// Runs [`Wallet::reconcile_once`] every `reconcile_every` until the task is aborted.
    pub fn spawn_reconciler(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let wallet = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(wallet.config.reconcile_every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = wallet.reconcile_once().await {
                    tracing::warn!(%error, "reconciliation pass failed");
                }
            }
        })
    }
}

/// `Some(status)` when a post or void was refused because the pending transfers were already
/// posted (`succeeded`) or voided or expired (`failed`).
fn already_resolved(results: &[CreateTransferResult]) -> Option<&'static str> {
    use CreateTransferResult as R;
    results.iter().find_map(|result| match result {
        R::PendingTransferAlreadyPosted => Some("succeeded"),
        R::PendingTransferAlreadyVoided | R::PendingTransferExpired => Some("failed"),
        _ => None,
    })
}

/// Applies transfers all or nothing, or fails the operation.
fn apply(tx: &mut WriteTx<'_, '_>, transfers: &[Transfer]) -> ServiceResult<()> {
    let results = tx.create_transfers_atomically(transfers)?;
    check_applied(transfers, &results)
}

fn check_applied(transfers: &[Transfer], results: &[CreateTransferResult]) -> ServiceResult<()> {
    if results.iter().all(|result| result.is_success()) {
        return Ok(());
    }
    Err(ServiceError::internal(format!(
        "ledger refused {:?}: {results:?}",
        transfers.iter().map(|t| t.id).collect::<Vec<_>>()
    )))
}

/// Writes a new movement's row, its statement line and its idempotency key.
fn record(
    tx: &mut WriteTx<'_, '_>,
    movement: &Movement,
    key: &str,
    fingerprint: &str,
    counterparty: &str,
) -> ServiceResult<()> {
    let now = tx.now_ns();
    let ids = movement
        .transfer_ids
        .iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let details = json!({
        "card_id": movement.card_id,
        "card_amount": Amount::new(movement.card_amount, movement.card_currency),
        "fx_rate": movement.rate_micros.map(rate_text),
    });
    let conn = tx.conn()?;
    conn.execute(
        "INSERT INTO funding (id, user_id, kind, card_id, status, amount, card_amount, \
         card_currency, rate_micros, transfer_ids, created_ns, updated_ns) \
         VALUES ($1, $2, $3, $4, 'processing', $5, $6, $7, $8, $9, $10, $10)",
        &[
            Param::Text(&movement.id),
            Param::Text(&movement.user_id),
            Param::Text(movement.kind.name()),
            Param::Text(&movement.card_id),
            int(movement.amount),
            int(movement.card_amount),
            Param::Text(movement.card_currency.code()),
            movement.rate_micros.map_or(Param::Null, int),
            Param::Text(&ids),
            int(now),
        ],
    )?;
    let amount = movement
        .activity_amount()
        .map_err(cashless_kernel::wire::money_fault)?;
    crate::payer::record_activity(
        conn,
        &crate::payer::Activity {
            id: &movement.id,
            user_id: &movement.user_id,
            kind: movement.kind.name(),
            status: "processing",
            amount,
            counterparty,
            details,
        },
        now,
    )?;
    crate::payer::remember(tx, &movement.user_id, key, fingerprint, &movement.id)?;
    Ok(())
}

fn decode_view(row: &Row) -> Result<FundingView, DbError> {
    let card_currency = row.text(5)?;
    let card_currency = Currency::from_code(card_currency)
        .ok_or_else(|| DbError::Decode(format!("currency {card_currency}")))?;
    let rate = row.opt_int(6)?.map(|rate| rate as u64);
    Ok(FundingView {
        id: row.text(0)?.to_owned(),
        kind: row.text(1)?.to_owned(),
        status: row.text(2)?.to_owned(),
        amount: Amount::new(row.unsigned(3)?, Currency::CNY),
        card_amount: Amount::new(row.unsigned(4)?, card_currency),
        fx: rate.map(|rate| FxView {
            rate: rate_text(rate),
            from: card_currency.code().to_owned(),
            to: Currency::CNY.code().to_owned(),
        }),
        card_id: row.text(7)?.to_owned(),
        card: row.text(8)?.to_owned(),
        failure_reason: row.opt_text(9)?.map(str::to_owned),
        created_at: rfc3339(row.int(10)? as u64),
        updated_at: rfc3339(row.int(11)? as u64),
    })
}
