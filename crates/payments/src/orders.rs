//! Orders and refunds, as Alipay and WeChat Pay integrators expect them.
//!
//! ```text
//!  WAIT_BUYER_PAY ──pay──▶ SUCCESS ──refund (part)──▶ SUCCESS ──refund (rest)──▶ CLOSED
//!        │   ▲                 └──────── refund window over (sweeper) ─────────▶ FINISHED
//!        │   └─ USERPAYING (a payment code above the password-free limit, waiting for the PIN)
//!        └──close / cancel / expiry──▶ CLOSED
//! ```
//!
//! `out_trade_no` is the merchant's order number, unique per merchant: precreating again with
//! the same number and the same fields answers the same order; different fields are refused.
//! Refunds are idempotent by `out_request_no` and never exceed what was paid. The fee is
//! returned in proportion: after refunds totalling `r`, the merchant has paid
//! `fee(amount - r)`, where `fee(x) = round_half_up(x × rate)`.

use cashless_kernel::wire::{Amount, money_fault};
use cashless_kernel::{ServiceError, ServiceResult, rfc3339};
use cashless_ledger::{Currency, Money, Transfer, TransferFlags, TransferId};
use cashless_store::{Conn, DbError, Param, WriteTx};
use cashless_wallet::payer::{self, Activity};
use serde_json::json;

use crate::ids::{StoreId, TerminalId};
use crate::lifecycle::{self, Change};
use crate::merchants::{self, MerchantCaller, MerchantRow};
use crate::order::{
    OrderKind, OrderRow, OrderStatus, OrderView, RefundView, by_id, by_out_trade_no, fee_of,
    payer_name,
};
use crate::qr;
use crate::{Payments, codes, duration_ns, fee_account, not_found};

pub const OUT_TRADE_NO_CHARS_MAX: usize = 64;
pub const SUBJECT_CHARS_MAX: usize = 256;
pub const REASON_CHARS_MAX: usize = 256;
pub const REFUNDS_PER_ORDER_MAX: i64 = 50;

#[derive(Clone, Debug)]
pub struct PrecreateInput {
    pub out_trade_no: String,
    /// Parsed at the edge; orders are in CNY (another currency is refused here).
    pub amount: Money,
    pub subject: String,
    pub store_id: Option<StoreId>,
    pub terminal_id: Option<TerminalId>,
    /// How long the order waits for payment; default 2 h, at most 15 days.
    pub expires_in_secs: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct RefundInput {
    pub out_request_no: String,
    /// Parsed at the edge; the order's currency.
    pub amount: Money,
    pub reason: Option<String>,
}

pub(crate) fn check_out_no(value: &str, field: &'static str) -> ServiceResult<String> {
    let ok = !value.is_empty()
        && value.len() <= OUT_TRADE_NO_CHARS_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(ServiceError::invalid(
            if field == "out_trade_no" {
                "out_trade_no_invalid"
            } else {
                "out_request_no_invalid"
            },
            format!(
                "{field} is 1 to {OUT_TRADE_NO_CHARS_MAX} characters of A-Z, a-z, 0-9, - and _"
            ),
        ));
    }
    Ok(value.to_owned())
}

pub(crate) fn check_subject(subject: &str) -> ServiceResult<String> {
    let subject = subject.trim();
    if subject.is_empty()
        || subject.chars().count() > SUBJECT_CHARS_MAX
        || subject.chars().any(char::is_control)
    {
        return Err(ServiceError::invalid(
            "subject_invalid",
            format!("subject is 1 to {SUBJECT_CHARS_MAX} printable characters"),
        ));
    }
    Ok(subject.to_owned())
}

/// Orders are in CNY: the wallets are.
pub(crate) fn cny_only(amount: Money) -> ServiceResult<Currency> {
    let currency = amount.currency();
    if currency != Currency::CNY {
        return Err(ServiceError::unprocessable(
            "currency_not_supported",
            format!("orders are in CNY; {} is not accepted", currency.code()),
        ));
    }
    Ok(currency)
}

/// The caller's merchant row and its order by `out_trade_no`.
fn merchant_order(
    conn: &mut Conn,
    merchant_id: &str,
    out_trade_no: &str,
) -> ServiceResult<(MerchantRow, OrderRow)> {
    let merchant = merchants::load(conn, merchant_id)?.ok_or_else(merchants::merchant_not_found)?;
    let order = by_out_trade_no(conn, &merchant.id, out_trade_no)?.ok_or_else(order_not_found)?;
    Ok((merchant, order))
}

pub(crate) fn order_not_found() -> ServiceError {
    not_found("order_not_found", "order of this merchant")
}

/// Where the order's store and terminal are checked: the terminal's store wins if only the
/// terminal is named; naming both that disagree is refused.
pub(crate) fn check_place(
    conn: &mut Conn,
    merchant_id: &str,
    store_id: Option<&StoreId>,
    terminal_id: Option<&TerminalId>,
) -> ServiceResult<Option<String>> {
    let terminal_store = match terminal_id {
        None => None,
        Some(terminal) => Some(
            merchants::terminal_store(conn, merchant_id, terminal.as_str())?
                .ok_or_else(TerminalId::not_found)?,
        ),
    };
    let store_id = store_id.map(StoreId::as_str);
    match (store_id, terminal_store) {
        (Some(store), Some(of_terminal)) if store != of_terminal => {
            Err(ServiceError::unprocessable(
                "terminal_not_in_store",
                "the terminal belongs to another store",
            ))
        }
        (Some(store), _) => {
            if !merchants::store_of(conn, merchant_id, store)? {
                return Err(StoreId::not_found());
            }
            Ok(Some(store.to_owned()))
        }
        (None, of_terminal) => Ok(of_terminal),
    }
}

impl Payments {
    /// Creates an order with a dynamic code (precreate). Same `out_trade_no` and fields: the
    /// same order.
    pub async fn precreate(
        &self,
        mut caller: MerchantCaller,
        input: PrecreateInput,
    ) -> ServiceResult<OrderView> {
        let out_trade_no = check_out_no(&input.out_trade_no, "out_trade_no")?;
        let subject = check_subject(&input.subject)?;
        let amount = input.amount;
        let currency = cny_only(amount)?;
        let expiry = match input.expires_in_secs {
            None => duration_ns(self.config.order_expiry_default),
            Some(secs) if (60..=self.config.order_expiry_max.as_secs()).contains(&secs) => {
                secs * 1_000_000_000
            }
            Some(_) => {
                return Err(ServiceError::invalid(
                    "expires_in_invalid",
                    format!(
                        "expires_in_secs is 60 to {}",
                        self.config.order_expiry_max.as_secs()
                    ),
                ));
            }
        };
        let fingerprint = format!(
            "{}|{}|{subject}|{}|{}|{:?}",
            amount.minor(),
            currency.code(),
            input.store_id.as_ref().map_or("", StoreId::as_str),
            input.terminal_id.as_ref().map_or("", TerminalId::as_str),
            input.expires_in_secs
        );
        let id = self.wallet.new_id_string();
        let qr_token = qr::new_qr_token();
        let nonces = std::sync::Arc::clone(&self.nonces);
        let limits = self.order_limits();
        let (order, merchant) = self
            .store
            .write(move |tx| {
                caller.claim_in(tx, &nonces)?;
                let now = tx.now_ns();
                let merchant = merchants::load_in(tx, &caller.merchant_id)?
                    .ok_or_else(merchants::merchant_not_found)?;
                let conn = tx.conn()?;
                if let Some(existing) = by_out_trade_no(conn, &merchant.id, &out_trade_no)? {
                    if existing.fingerprint != fingerprint {
                        return Err(ServiceError::conflict(
                            "out_trade_no_conflict",
                            "an order with this out_trade_no exists with different fields",
                        ));
                    }
                    return Ok((existing, merchant));
                }
                limits.check(&merchant, amount)?;
                let store_id = check_place(
                    conn,
                    &merchant.id,
                    input.store_id.as_ref(),
                    input.terminal_id.as_ref(),
                )?;
                let order = OrderRow {
                    id,
                    merchant_id: merchant.id.clone(),
                    store_id,
                    terminal_id: input.terminal_id.as_ref().map(|id| id.as_str().to_owned()),
                    out_trade_no,
                    qr_token: Some(qr_token),
                    kind: OrderKind::Dynamic,
                    status: OrderStatus::WaitBuyerPay,
                    amount,
                    currency,
                    subject,
                    fee: Money::zero(currency),
                    refunded: Money::zero(currency),
                    payer_user_id: None,
                    payer_name: None,
                    fingerprint,
                    transfer_id: None,
                    expires_ns: now.saturating_add(expiry),
                    paid_ns: None,
                    created_ns: now,
                    updated_ns: now,
                };
                // Every check is made: the insert needs no savepoint.
                lifecycle::create(tx.conn_final()?, &order)?;
                Ok((order, merchant))
            })
            .await?;
        Ok(order.view(Some(&merchant)))
    }

    /// An order of the caller, by its out_trade_no.
    pub async fn query_order(
        &self,
        caller: MerchantCaller,
        out_trade_no: &str,
    ) -> ServiceResult<OrderView> {
        let out_trade_no =
            check_out_no(out_trade_no, "out_trade_no").map_err(|_| order_not_found())?;
        let (merchant, order) = self
            .store
            .read(move |conn| {
                Ok(
                    merchant_order(conn, &caller.merchant_id, &out_trade_no).and_then(
                        |(merchant, mut order)| {
                            order.payer_name = payer_name(conn, &order)?;
                            Ok((merchant, order))
                        },
                    ),
                )
            })
            .await??;
        Ok(order.view(Some(&merchant)))
    }

    /// Closes an unpaid order: it can no longer be paid.
    pub async fn close_order(
        &self,
        caller: MerchantCaller,
        out_trade_no: &str,
    ) -> ServiceResult<OrderView> {
        let out_trade_no =
            check_out_no(out_trade_no, "out_trade_no").map_err(|_| order_not_found())?;
        let (order, merchant) = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let (merchant, mut order) =
                    merchant_order(conn, &caller.merchant_id, &out_trade_no)?;
                match order.status {
                    OrderStatus::Closed => {}
                    OrderStatus::WaitBuyerPay | OrderStatus::UserPaying => {
                        close(conn, &merchant, &mut order, now, "closed by the merchant")?;
                    }
                    OrderStatus::Success | OrderStatus::Finished => {
                        return Err(ServiceError::unprocessable(
                            "order_paid",
                            "the order is paid: refund it (or cancel it within 24 hours) instead",
                        ));
                    }
                }
                Ok((order, merchant))
            })
            .await?;
        Ok(order.view(Some(&merchant)))
    }

    /// Cancels an order: closes it if unpaid, refunds it in full if paid within the cancel
    /// window (24 h). Cancelling twice answers the same.
    pub async fn cancel_order(
        &self,
        caller: MerchantCaller,
        out_trade_no: &str,
    ) -> ServiceResult<OrderView> {
        // Cancelling may refund: not for a till key.
        caller.require_back_office()?;
        let out_trade_no =
            check_out_no(out_trade_no, "out_trade_no").map_err(|_| order_not_found())?;
        let window = duration_ns(self.config.cancel_window);
        let refund_id = self.wallet.new_id_string();
        let actor = caller.actor();
        let transfer_ids = [
            TransferId(self.wallet.new_id()),
            TransferId(self.wallet.new_id()),
        ];
        let (order, merchant) = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let (merchant, mut order) =
                    merchant_order(conn, &caller.merchant_id, &out_trade_no)?;
                match order.status {
                    OrderStatus::WaitBuyerPay | OrderStatus::UserPaying => {
                        close(
                            conn,
                            &merchant,
                            &mut order,
                            now,
                            "cancelled by the merchant",
                        )?;
                    }
                    OrderStatus::Closed => {}
                    OrderStatus::Finished => return Err(cancel_window_over()),
                    OrderStatus::Success => {
                        let paid = order.paid_ns.unwrap_or(order.created_ns);
                        if now.saturating_sub(paid) > window {
                            return Err(cancel_window_over());
                        }
                        let remaining = order
                            .amount
                            .checked_sub(order.refunded)
                            .map_err(money_fault)?;
                        let refund = NewRefund {
                            id: refund_id,
                            // Not a valid merchant out_request_no: it cannot collide with one.
                            out_request_no: "#cancel".to_owned(),
                            amount: remaining,
                            reason: "cancelled by the merchant".to_owned(),
                            transfer_ids,
                            actor: actor.clone(),
                        };
                        apply_refund(tx, &merchant, &mut order, &refund, now)?;
                    }
                }
                Ok((order, merchant))
            })
            .await?;
        Ok(order.view(Some(&merchant)))
    }

    /// Refunds part or all of a paid order. Idempotent by `out_request_no`.
    pub async fn refund(
        &self,
        caller: MerchantCaller,
        out_trade_no: &str,
        input: RefundInput,
    ) -> ServiceResult<RefundView> {
        caller.require_back_office()?;
        let out_trade_no =
            check_out_no(out_trade_no, "out_trade_no").map_err(|_| order_not_found())?;
        let out_request_no = check_out_no(&input.out_request_no, "out_request_no")?;
        let amount = input.amount;
        let reason = input
            .reason
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        if reason.chars().count() > REASON_CHARS_MAX {
            return Err(ServiceError::invalid(
                "reason_invalid",
                format!("reason is at most {REASON_CHARS_MAX} characters"),
            ));
        }
        let refund = NewRefund {
            id: self.wallet.new_id_string(),
            out_request_no,
            amount,
            reason,
            transfer_ids: [
                TransferId(self.wallet.new_id()),
                TransferId(self.wallet.new_id()),
            ],
            actor: caller.actor(),
        };
        let refund_window = duration_ns(self.config.refund_window);
        let refund_id = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let (merchant, mut order) =
                    merchant_order(conn, &caller.merchant_id, &out_trade_no)?;
                if let Some((id, earlier_amount)) =
                    existing_refund(conn, &order, &refund.out_request_no)?
                {
                    if earlier_amount != refund.amount {
                        return Err(ServiceError::conflict(
                            "out_request_no_conflict",
                            "a refund with this out_request_no exists with a different amount",
                        ));
                    }
                    return Ok(id);
                }
                let paid = order.paid_ns.unwrap_or(order.created_ns);
                if order.status == OrderStatus::Success && now.saturating_sub(paid) > refund_window
                {
                    return Err(refund_window_over());
                }
                apply_refund(tx, &merchant, &mut order, &refund, now)?;
                Ok(refund.id.clone())
            })
            .await?;
        self.refund_view(&refund_id).await
    }

    /// A refund of the caller's order by its out_request_no.
    pub async fn refund_query(
        &self,
        caller: MerchantCaller,
        out_trade_no: &str,
        out_request_no: &str,
    ) -> ServiceResult<RefundView> {
        let refund_not_found = || not_found("refund_not_found", "refund of this order");
        let out_trade_no =
            check_out_no(out_trade_no, "out_trade_no").map_err(|_| order_not_found())?;
        let out_request_no =
            check_out_no(out_request_no, "out_request_no").map_err(|_| refund_not_found())?;
        let refund_id = self
            .store
            .read(move |conn| {
                let Some(order) = by_out_trade_no(conn, &caller.merchant_id, &out_trade_no)? else {
                    return Ok(Err(order_not_found()));
                };
                Ok(existing_refund(conn, &order, &out_request_no)?
                    .map(|(id, _)| id)
                    .ok_or_else(refund_not_found))
            })
            .await??;
        self.refund_view(&refund_id).await
    }

    async fn refund_view(&self, refund_id: &str) -> ServiceResult<RefundView> {
        let refund_id = refund_id.to_owned();
        let (row, mut order, merchant) = self
            .store
            .read(move |conn| {
                let row = conn
                    .query_opt(
                        "SELECT id, order_id, out_request_no, amount, fee_returned, reason, created_ns \
                         FROM refunds WHERE id = $1",
                        &[Param::Text(&refund_id)],
                    )?
                    .ok_or_else(|| DbError::Decode("refund vanished".into()))?;
                let order = by_id(conn, row.text(1)?)?.ok_or_else(|| DbError::Decode("order of refund".into()))?;
                let merchant = merchants::load(conn, &order.merchant_id)?;
                Ok((row, order, merchant))
            })
            .await?;
        let order_ref = order.clone();
        order.payer_name = {
            let order_ref = order_ref.clone();
            self.store
                .read(move |conn| payer_name(conn, &order_ref))
                .await?
        };
        Ok(RefundView {
            refund_id: row.text(0)?.to_owned(),
            out_request_no: row.text(2)?.to_owned(),
            amount: row.money(3, order.currency)?.into(),
            fee_returned: row.money(4, order.currency)?.into(),
            reason: row.text(5)?.to_owned(),
            created_at: rfc3339(row.ns(6)?),
            order: order.view(merchant.as_ref()),
        })
    }
}

fn cancel_window_over() -> ServiceError {
    ServiceError::unprocessable(
        "cancel_window_over",
        "an order can be cancelled within 24 hours of payment; refund it instead",
    )
}

fn refund_window_over() -> ServiceError {
    ServiceError::unprocessable(
        "refund_window_over",
        "the refund period of this order is over",
    )
}

fn existing_refund(
    conn: &mut Conn,
    order: &OrderRow,
    out_request_no: &str,
) -> Result<Option<(String, Money)>, DbError> {
    conn.query_opt(
        "SELECT id, amount FROM refunds WHERE order_id = $1 AND out_request_no = $2",
        &[Param::Text(&order.id), Param::Text(out_request_no)],
    )?
    .map(|row| Ok((row.text(0)?.to_owned(), row.money(1, order.currency)?)))
    .transpose()
}

/// Closes an open order and tells the merchant. (A payment waiting for the payer's PIN has no
/// statement line yet: it gets one when confirmed.)
pub(crate) fn close(
    conn: &mut Conn,
    merchant: &MerchantRow,
    order: &mut OrderRow,
    now: u64,
    reason: &str,
) -> ServiceResult<()> {
    let reason = reason.to_owned();
    lifecycle::transition(conn, merchant, order, Change::Closed { reason }, now)
}

pub(crate) struct NewRefund {
    pub id: String,
    pub out_request_no: String,
    pub amount: Money,
    pub reason: String,
    pub transfer_ids: [TransferId; 2],
    /// Who asked for it ([`MerchantCaller::actor`]).
    pub actor: String,
}

/// Moves a refund's money (fee share back to the merchant, then the refund to the payer),
/// records it, updates the order, the payer's statement, and tells the merchant.
pub(crate) fn apply_refund(
    tx: &mut WriteTx<'_, '_>,
    merchant: &MerchantRow,
    order: &mut OrderRow,
    refund: &NewRefund,
    now: u64,
) -> ServiceResult<()> {
    check_refundable(tx.conn()?, order, refund)?;
    let payer = refunded_payer(tx.conn()?, order)?;
    // Fee still held after this refund: fee(amount - refunded_after).
    let refunded_after = order
        .refunded
        .checked_add(refund.amount)
        .map_err(money_fault)?;
    let kept = order
        .amount
        .checked_sub(refunded_after)
        .map_err(money_fault)?;
    let fee_after = fee_of(kept, merchant.fee_rate_bps)
        .and_then(|fee| fee.checked_min(order.fee))
        .map_err(money_fault)?;
    let fee_returned = order.fee.checked_sub(fee_after).map_err(money_fault)?;
    move_refund(tx, merchant, order, &payer, refund, fee_returned)?;
    let conn = tx.conn()?;
    conn.execute(
        "INSERT INTO refunds (id, order_id, merchant_id, out_request_no, amount, fee_returned, reason, transfer_id, created_ns, actor) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        &[
            Param::Text(&refund.id),
            Param::Text(&order.id),
            Param::Text(&merchant.id),
            Param::Text(&refund.out_request_no),
            Param::money(refund.amount),
            Param::money(fee_returned),
            Param::Text(&refund.reason),
            Param::Blob(&refund.transfer_ids[0].0.to_be_bytes()),
            Param::ns(now),
            Param::Text(&refund.actor),
        ],
    )?;
    let details = json!({
        "refund_id": refund.id,
        "out_request_no": refund.out_request_no,
        "refund_amount": Amount::from(refund.amount),
        "fee_returned": Amount::from(fee_returned),
    });
    let change = Change::Refunded {
        refunded: refunded_after,
        fee: fee_after,
        payer_name: payer.masked_name(),
        details,
    };
    lifecycle::transition(conn, merchant, order, change, now)?;
    payer::record_activity(
        conn,
        &Activity {
            id: &refund.id,
            user_id: payer.user_id(),
            kind: "refund",
            status: "succeeded",
            amount: refund.amount,
            counterparty: &merchant.display_name,
            details: json!({ "order_id": order.id, "out_trade_no": order.out_trade_no, "reason": refund.reason }),
        },
        now,
    )?;
    Ok(())
}

/// Refuses a refund the order cannot take: not paid, closed, past its window, more than is
/// left, or one refund too many.
fn check_refundable(conn: &mut Conn, order: &OrderRow, refund: &NewRefund) -> ServiceResult<()> {
    match order.status {
        OrderStatus::Success => {}
        OrderStatus::WaitBuyerPay | OrderStatus::UserPaying => {
            return Err(ServiceError::unprocessable(
                "order_not_paid",
                "the order is not paid; close it instead",
            ));
        }
        OrderStatus::Closed => {
            return Err(ServiceError::unprocessable(
                "order_closed",
                "the order is closed (refunded in full, or never paid)",
            ));
        }
        OrderStatus::Finished => return Err(refund_window_over()),
    }
    let remaining = order
        .amount
        .checked_sub(order.refunded)
        .map_err(money_fault)?;
    if refund.amount.currency() != order.currency {
        return Err(ServiceError::unprocessable(
            "currency_not_supported",
            format!(
                "the order is in {}: refund it in {0}",
                order.currency.code()
            ),
        ));
    }
    if refund.amount > remaining {
        return Err(ServiceError::unprocessable(
            "refund_exceeds_paid",
            format!("at most {remaining} is left to refund"),
        )
        .with_details(json!({ "refundable": Amount::from(remaining) })));
    }
    let count = conn
        .query_opt(
            "SELECT COUNT(*) FROM refunds WHERE order_id = $1",
            &[Param::Text(&order.id)],
        )?
        .map_or(Ok(0), |row| row.int(0))?;
    if count >= REFUNDS_PER_ORDER_MAX {
        return Err(ServiceError::unprocessable(
            "refunds_max",
            format!("an order takes at most {REFUNDS_PER_ORDER_MAX} refunds"),
        ));
    }
    Ok(())
}

/// The payer a refund goes back to.
fn refunded_payer(conn: &mut Conn, order: &OrderRow) -> ServiceResult<payer::Payer> {
    let payer_id = order
        .payer_user_id
        .as_deref()
        .ok_or_else(|| ServiceError::internal("paid order without payer"))?;
    // Accounts are never deleted today; should one be, the merchant hears why, not "401".
    payer::payer(conn, payer_id).map_err(|error| {
        if error.kind == cashless_kernel::ErrorKind::Unauthorized {
            ServiceError::unprocessable(
                "payer_account_closed",
                "the payer's account is closed: refund them outside the platform",
            )
        } else {
            error
        }
    })
}

/// The refund's transfers, linked: the fee share back to the merchant, then the refund from
/// the merchant to the payer. Refused whole if the merchant's balance cannot cover it.
fn move_refund(
    tx: &mut WriteTx<'_, '_>,
    merchant: &MerchantRow,
    order: &OrderRow,
    payer: &payer::Payer,
    refund: &NewRefund,
    fee_returned: Money,
) -> ServiceResult<()> {
    let currency = order.currency;
    let mut legs = Vec::with_capacity(2);
    if !fee_returned.is_zero() {
        let mut leg = Transfer::of(
            refund.transfer_ids[1],
            fee_account(currency),
            merchant.account,
            fee_returned,
            codes::FEE_REFUND,
        )
        .map_err(money_fault)?;
        leg.flags = TransferFlags::LINKED;
        legs.push(leg);
    }
    legs.push(
        Transfer::of(
            refund.transfer_ids[0],
            merchant.account,
            payer.wallet(),
            refund.amount,
            codes::REFUND,
        )
        .map_err(money_fault)?,
    );
    let results = tx.create_transfers_atomically(&legs)?;
    if results.contains(&cashless_ledger::CreateTransferResult::ExceedsCredits) {
        return Err(ServiceError::unprocessable(
            "merchant_balance_insufficient",
            "the merchant's balance cannot cover this refund",
        ));
    }
    cashless_kernel::check_applied("refund", &results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::CNY)
    }

    #[test]
    fn fees_round_half_up_and_refunds_return_them_in_proportion() {
        assert_eq!(fee_of(cny(10_000), 60), Ok(cny(60)));
        assert_eq!(fee_of(cny(83), 60), Ok(cny(0))); // 0.498 fen
        assert_eq!(fee_of(cny(84), 60), Ok(cny(1))); // 0.504 fen
        assert_eq!(
            fee_of(cny(i64::MAX), 1_000),
            Ok(cny(922_337_203_685_477_581))
        );
        // Neither a negative amount nor a rate above 100% makes a fee.
        assert!(fee_of(cny(-1), 60).is_err());
        assert!(fee_of(cny(100), 20_000).is_err());
        // Refunding 3 × 1/3 of 1.00 CNY at 0.60%: the fee held goes 1 → 0 → 0 → 0 and never
        // below zero, and is 0 once everything is refunded.
        let amount = cny(100);
        let mut fee = fee_of(amount, 60).unwrap();
        let mut refunded = cny(0);
        for part in [33, 33, 34] {
            refunded = refunded.checked_add(cny(part)).unwrap();
            let kept = amount.checked_sub(refunded).unwrap();
            let after = fee_of(kept, 60).unwrap().checked_min(fee).unwrap();
            assert!(after <= fee);
            fee = after;
        }
        assert_eq!(fee, cny(0));
    }
}
