//! Paying a merchant: the consumer scans a static or dynamic EMVCo code, or the cashier scans
//! the consumer's payment code.
//!
//! Every payment is one writer operation: the payer's daily limit and password-free count, two
//! linked ledger transfers (payer's wallet → merchant, merchant → platform fee), the order's
//! new state, the payer's statement line, and the `order.paid` event. If any of it is refused
//! (balance, limit, PIN), none of it happens. The one thing that may come first, in its own
//! right, is a top-up from the payer's chosen card when the balance is short
//! (`cashless_wallet::card_pay`): it stays in the balance even if the payment then fails.
//!
//! A payment needs the PIN above the password-free amount (1,000 CNY) or after the day's
//! password-free payments (10) are used. Scanning: the app sends the PIN with the payment.
//! Payment code: the order waits in `USERPAYING` until the payer confirms it in the app.

use std::sync::Arc;

use cashless_kernel::idempotency::idempotency_key;
use cashless_kernel::wire::{self, Amount, TypedAmount};
use cashless_kernel::{ServiceError, ServiceResult, rfc3339};
use cashless_ledger::{
    AccountKind, CreateTransferResult, Currency, Money, MoneyError, Transfer, TransferFlags,
    TransferId,
};
use cashless_store::{Conn, DbError, Param, WriteTx};
use cashless_wallet::Session;
use cashless_wallet::confirm::Confirmation;
use cashless_wallet::payer::{self, Activity, Payer, PinUse};
use serde::Serialize;
use serde_json::json;

use crate::ids::{MerchantId, PaymentId, StoreId, TerminalId};
use crate::lifecycle::{self, Change};
use crate::merchants::{self, MerchantRow};
use crate::order::{self, OrderKind, OrderRow, OrderStatus, fee_of};
use crate::orders;
use crate::paycode;
use crate::qr::unknown as qr_unknown;
use crate::refusals::PayError;
use crate::{Payments, PaymentsConfig, codes, duration_ns, fee_account, qr};

/// What a consumer sees after scanning a code, before paying.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ScanView {
    /// `static` (type the amount) or `dynamic` (the amount is in the code).
    pub kind: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub chinese_name: Option<String>,
    pub city: String,
    pub store_id: Option<String>,
    pub amount: Option<Amount>,
    pub subject: Option<String>,
    /// Whether this amount will ask for the PIN (absent until the amount is known).
    pub pin_required: Option<bool>,
}

/// A payment as the payer sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub payment_id: String,
    /// `SUCCESS`, `USERPAYING` (confirm with the PIN), `CLOSED` …
    pub status: String,
    pub amount: Amount,
    pub refunded: Amount,
    pub merchant_id: String,
    pub merchant_name: String,
    pub subject: String,
    pub created_at: String,
    pub paid_at: Option<String>,
    /// Until when a `USERPAYING` payment can be confirmed.
    pub confirm_before: Option<String>,
}

fn payment_view(order: &OrderRow, merchant: &MerchantRow) -> PaymentView {
    PaymentView {
        payment_id: order.id.clone(),
        status: order.status.name().to_owned(),
        amount: order.amount.into(),
        refunded: order.refunded.into(),
        merchant_id: merchant.id.clone(),
        merchant_name: merchant.display_name.clone(),
        subject: order.subject.clone(),
        created_at: rfc3339(order.created_ns),
        paid_at: order.paid_ns.map(rfc3339),
        confirm_before: (order.status == OrderStatus::UserPaying)
            .then(|| rfc3339(order.expires_ns)),
    }
}

#[derive(Clone, Default)]
pub struct PayInput {
    /// The scanned EMVCo payload.
    pub payload: String,
    /// What the payer typed, for a static code (parsed at the edge; the device signs the
    /// text as typed).
    pub amount: Option<TypedAmount>,
    /// The PIN or the device's signature, when the payment needs more than password-free.
    pub confirmation: Option<Confirmation>,
}

impl std::fmt::Debug for PayInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayInput")
            .field("payload", &self.payload)
            .field("amount", &self.amount)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct PaycodeInput {
    /// The 18 digits the cashier scanned.
    pub auth_code: String,
    pub out_trade_no: String,
    /// Parsed at the edge; payment-code orders are in CNY.
    pub amount: Money,
    pub subject: String,
    pub store_id: Option<StoreId>,
    pub terminal_id: Option<TerminalId>,
}

/// What a device needs to make payment codes offline. Shown once, at enrolment.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct PaycodeEnrolment {
    pub slot: u64,
    /// The device's HMAC-SHA-256 key: 32 bytes, written as 64 hex digits. The key is the
    /// bytes the hex decodes to, not the 64 characters. Keep it in the device's secure storage.
    pub secret: String,
    pub step_secs: u64,
    /// How to make a code: see the `paycode` module documentation.
    pub algorithm: String,
}

impl std::fmt::Debug for PaycodeEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaycodeEnrolment")
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

fn pin_required(config: &PaymentsConfig, used: u32) -> ServiceError {
    ServiceError::forbidden(
        "pin_required",
        format!(
            "confirm with the payment PIN: payments over {} CNY, or after {} password-free payments a day, need it",
            cashless_ledger::format_amount(config.password_free_max, Currency::CNY),
            config.password_free_daily_max
        ),
    )
    .with_details(json!({
        "password_free_max": Amount::new(config.password_free_max, Currency::CNY),
        "password_free_used_today": used,
    }))
}

/// Whether a payment of `amount` may go without the PIN today.
pub(crate) fn password_free(
    conn: &mut Conn,
    config: &PaymentsConfig,
    user_id: &str,
    amount: Money,
    now: u64,
) -> Result<(bool, u32), DbError> {
    let used = payer::password_free_today(conn, user_id, now)?;
    Ok((
        within_password_free(config, amount) && used < config.password_free_daily_max,
        used,
    ))
}

/// Whether `amount` is at most the password-free amount (a CNY amount: the limit is in CNY).
fn within_password_free(config: &PaymentsConfig, amount: Money) -> bool {
    amount.currency() == Currency::CNY
        && amount
            .unsigned()
            .is_ok_and(|minor| minor <= config.password_free_max)
}

/// A payment moved in the ledger (in this batch's memory) and not yet written.
struct Taken {
    today: payer::OutflowDay,
    pin: PinUse,
    fee: Money,
}

/// Who pays whom for an order, and how the payment was confirmed.
pub(crate) struct Charge<'a> {
    pub config: &'a ChargeConfig,
    pub merchant: &'a MerchantRow,
    pub payer: &'a Payer,
    /// The payer confirmed with the PIN or their device (otherwise the payment must be
    /// password-free).
    pub pin_verified: bool,
    /// The payment's and the fee's transfers.
    pub transfer_ids: [TransferId; 2],
    pub write: OrderWrite,
    pub now: u64,
}

/// Takes the payment for an open order: checks the payer's limits and password-free
/// allowance, and moves the money in the ledger. Writes nothing: a refusal leaves no trace,
/// and what the payment changes is written by [`record_payment`].
fn take_payment(
    tx: &mut WriteTx<'_, '_>,
    charge: &Charge<'_>,
    order: &OrderRow,
) -> Result<Taken, PayError> {
    let Charge {
        config: payments,
        merchant,
        payer,
        pin_verified,
        transfer_ids,
        now,
        ..
    } = *charge;
    debug_assert!(order.status.is_open());
    let today = payer::outflow_today(tx.conn()?, payer, now)?;
    let free = within_password_free(&payments.config, order.amount)
        && today.password_free < payments.config.password_free_daily_max;
    if !pin_verified && !free {
        return Err(PayError::Payer(pin_required(
            &payments.config,
            today.password_free,
        )));
    }
    payer::check_outflow(payer, order.amount, &today, &payments.wallet).map_err(PayError::payer)?;
    let currency = order.currency;
    cashless_wallet::ensure_account(tx, fee_account(currency), currency, AccountKind::Fee)
        .map_err(PayError::platform)?;
    let fee = fee_of(order.amount, merchant.fee_rate_bps).map_err(money_platform)?;
    let mut legs = vec![
        Transfer::of(
            transfer_ids[0],
            payer.wallet(),
            merchant.account,
            order.amount,
            codes::PAYMENT,
        )
        .map_err(money_platform)?,
    ];
    if !fee.is_zero() {
        legs[0].flags = TransferFlags::LINKED;
        legs.push(
            Transfer::of(
                transfer_ids[1],
                merchant.account,
                fee_account(currency),
                fee,
                codes::FEE,
            )
            .map_err(money_platform)?,
        );
    }
    let results = tx.create_transfers_atomically(&legs)?;
    if results.first() == Some(&CreateTransferResult::ExceedsCredits) {
        return Err(PayError::InsufficientBalance(payer::insufficient_balance(
            tx,
            payer.wallet(),
        )));
    }
    cashless_kernel::check_applied("payment", &results).map_err(PayError::platform)?;
    let pin = if pin_verified {
        PinUse::Confirmed
    } else {
        PinUse::Without
    };
    Ok(Taken { today, pin, fee })
}

fn money_platform(error: MoneyError) -> PayError {
    PayError::Platform(wire::money_fault(error))
}

/// How a paid order reaches its row.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OrderWrite {
    /// The row exists (a dynamic code's order, a payment code's): update it.
    Update,
    /// The order is made by this payment (a static code's): insert it, paid.
    Insert,
}

/// Writes a payment [`take_payment`] took: the payer's day, the order paid, the statement
/// line and the merchant's event. Nothing here refuses: only the database can fail it.
fn record_payment(
    conn: &mut Conn,
    charge: &Charge<'_>,
    taken: Taken,
    order: &mut OrderRow,
) -> ServiceResult<()> {
    let Charge {
        config: payments,
        merchant,
        payer,
        transfer_ids: [transfer_id, _],
        write,
        now,
        ..
    } = *charge;
    payer::count_payment(conn, payer, &taken.today, order.amount, taken.pin)?;
    let paid = Change::Paid {
        payer_user_id: payer.user_id().to_owned(),
        payer_name: payer.masked_name(),
        transfer_id,
        fee: taken.fee,
        refund_deadline_ns: now.saturating_add(payments.refund_window_ns),
        new_row: write == OrderWrite::Insert,
    };
    lifecycle::transition(conn, merchant, order, paid, now)?;
    payer::record_activity(
        conn,
        &Activity {
            id: &order.id,
            user_id: payer.user_id(),
            kind: "payment",
            status: "succeeded",
            amount: order.amount.checked_neg().map_err(wire::money_fault)?,
            counterparty: &merchant.display_name,
            details: json!({ "order_id": order.id, "merchant_id": merchant.id, "subject": order.subject, "password_free": taken.pin == PinUse::Without }),
        },
        now,
    )?;
    Ok(())
}

/// Takes and records the payment for an open order. The operation must not fail after it (see [`WriteTx::conn_final`]); if it wrote before, its savepoint still
/// guards these writes.
pub(crate) fn charge(
    tx: &mut WriteTx<'_, '_>,
    charge: &Charge<'_>,
    order: &mut OrderRow,
) -> Result<(), PayError> {
    let taken = take_payment(tx, charge, order)?;
    let conn = tx.conn_final()?;
    record_payment(conn, charge, taken, order).map_err(PayError::platform)
}

/// A scanned payment, as [`Payments::pay_once`] tries it (again after a card top-up).
#[derive(Clone)]
struct PayAttempt {
    user_id: String,
    key: String,
    fingerprint: String,
    target: Target,
    static_amount: Option<Money>,
    pin_verified: bool,
}

/// The parts of the configuration a charge needs, moved into the writer operation.
#[derive(Clone, Debug)]
pub(crate) struct ChargeConfig {
    pub config: PaymentsConfig,
    pub wallet: cashless_wallet::WalletConfig,
    refund_window_ns: u64,
}

/// The order a scanned code pays, made on the spot for a static code.
#[derive(Clone)]
struct Target {
    scanned: qr::Scanned,
    amount: Option<Money>,
}

fn load_merchant(tx: &mut WriteTx<'_, '_>, id: &MerchantId) -> ServiceResult<MerchantRow> {
    merchants::load_in(tx, id.as_str())?.ok_or_else(qr_unknown)
}

/// The order a static code's payment makes (inserted once paid): the typed amount, checked
/// against the merchant's limits, at the store the code names.
fn static_order(
    conn: &mut Conn,
    merchant: &MerchantRow,
    target: &Target,
    static_amount: Option<Money>,
    new_id: &str,
    limits: merchants::OrderLimits,
    now: u64,
) -> Result<OrderRow, PayError> {
    let amount = static_amount.ok_or_else(|| {
        PayError::Platform(ServiceError::internal("a static code without an amount"))
    })?;
    limits.check(merchant, amount).map_err(PayError::request)?;
    let store_id = match &target.scanned.store_id {
        Some(store) if merchants::store_of(conn, &merchant.id, store.as_str())? => {
            Some(store.as_str().to_owned())
        }
        Some(_) => return Err(PayError::Request(qr_unknown())),
        None => None,
    };
    Ok(OrderRow {
        id: new_id.to_owned(),
        merchant_id: merchant.id.clone(),
        store_id,
        terminal_id: None,
        out_trade_no: new_id.to_owned(),
        qr_token: None,
        kind: OrderKind::Static,
        status: OrderStatus::WaitBuyerPay,
        amount,
        currency: amount.currency(),
        subject: merchant.display_name.clone(),
        fee: Money::zero(amount.currency()),
        refunded: Money::zero(amount.currency()),
        payer_user_id: None,
        payer_name: None,
        fingerprint: String::new(),
        transfer_id: None,
        expires_ns: now,
        paid_ns: None,
        created_ns: now,
        updated_ns: now,
    })
}

fn order_payable(order: &OrderRow, now: u64) -> ServiceResult<()> {
    match order.status {
        OrderStatus::WaitBuyerPay if order.expires_ns > now => Ok(()),
        OrderStatus::WaitBuyerPay => Err(ServiceError::unprocessable(
            "order_expired",
            "this order's time to pay is over",
        )),
        OrderStatus::Closed => Err(ServiceError::unprocessable(
            "order_closed",
            "this order is closed",
        )),
        OrderStatus::UserPaying | OrderStatus::Success | OrderStatus::Finished => {
            Err(ServiceError::conflict(
                "order_already_paid",
                "this order is already paid (or being paid)",
            ))
        }
    }
}

impl Payments {
    pub(crate) fn charge_config(&self) -> ChargeConfig {
        ChargeConfig {
            config: self.config.clone(),
            wallet: self.wallet.config().clone(),
            refund_window_ns: duration_ns(self.config.refund_window),
        }
    }

    fn target(&self, payload: &str, typed: Option<Money>) -> ServiceResult<Target> {
        let scanned = qr::scan(payload)?;
        let amount = match (&scanned.amount, typed) {
            (Some(in_code), Some(typed)) => {
                if typed != *in_code {
                    return Err(ServiceError::unprocessable(
                        "amount_mismatch",
                        "the amount differs from the one in the code",
                    ));
                }
                Some(*in_code)
            }
            (Some(in_code), None) => Some(*in_code),
            (None, Some(typed)) => Some(typed),
            (None, None) => None,
        };
        Ok(Target { scanned, amount })
    }

    /// What a scanned code is, for the app to show before the payer confirms.
    pub async fn scan(
        &self,
        session: &Session,
        payload: &str,
        amount: Option<Money>,
    ) -> ServiceResult<ScanView> {
        let target = self.target(payload, amount)?;
        let config = self.config.clone();
        let limits = self.order_limits();
        let user_id = session.user_id.clone();
        let now = cashless_kernel::now_ns();
        self.store
            .read(move |conn| {
                let merchant = match merchants::load(conn, target.scanned.merchant_id.as_str())? {
                    Some(merchant) => merchant,
                    None => return Ok(Err(qr_unknown())),
                };
                let (subject, amount) = match &target.scanned.reference {
                    Some(token) => match order::by_qr_token(conn, token)?
                        .filter(|order| order.merchant_id == merchant.id)
                    {
                        Some(order) => {
                            // Said before the payer confirms, not after: paid, closed, expired.
                            if let Err(refusal) = order_payable(&order, now) {
                                return Ok(Err(refusal));
                            }
                            (Some(order.subject), Some(order.amount))
                        }
                        None => return Ok(Err(qr_unknown())),
                    },
                    None => {
                        // A typed amount the shop cannot take is said before the PIN.
                        if let Some(typed) = target.amount
                            && let Err(refusal) = limits.check(&merchant, typed)
                        {
                            return Ok(Err(refusal));
                        }
                        (None, target.amount)
                    }
                };
                let pin_required = match amount {
                    Some(amount) => Some(!password_free(conn, &config, &user_id, amount, now)?.0),
                    None => None,
                };
                Ok(Ok(ScanView {
                    kind: if target.scanned.reference.is_some() {
                        "dynamic"
                    } else {
                        "static"
                    }
                    .to_owned(),
                    merchant_id: merchant.id.clone(),
                    merchant_name: merchant.display_name.clone(),
                    chinese_name: merchant.chinese_name.clone(),
                    city: merchant.city.clone(),
                    store_id: target
                        .scanned
                        .store_id
                        .as_ref()
                        .map(|id| id.as_str().to_owned()),
                    amount: amount.map(Amount::from),
                    subject,
                    pin_required,
                }))
            })
            .await?
    }

    /// Pays a scanned static or dynamic code. Idempotent by the consumer's key.
    pub async fn pay(
        self: &Arc<Self>,
        session: &Session,
        key: Option<&str>,
        input: PayInput,
    ) -> ServiceResult<PaymentView> {
        let key = idempotency_key(key)?;
        let target = self.target(
            &input.payload,
            input.amount.as_ref().map(|typed| typed.money),
        )?;
        let static_amount = match (&target.scanned.reference, target.amount) {
            (Some(_), _) => None,
            (None, Some(amount)) => Some(amount),
            (None, None) => {
                return Err(ServiceError::invalid(
                    "amount_required",
                    "type the amount to pay this static code",
                ));
            }
        };
        let fingerprint = self.wallet.secrets().fingerprint(&[
            "pay",
            input.payload.trim(),
            &target.amount.map_or(0, Money::minor).to_string(),
        ]);
        // A retry of a payment already made answers with that payment, whatever its
        // confirmation says now (a device signature goes stale after 5 minutes). The writer
        // looks the key up again before paying, so it is read here only where that spares
        // something: a PIN check (slow, and its failures count), or a device signature that
        // no longer verifies.
        let typed = input
            .amount
            .as_ref()
            .map_or("", |typed| typed.text.as_str());
        let signed = [key.as_str(), input.payload.trim(), typed];
        let pin_verified = match &input.confirmation {
            None => false,
            Some(confirmation @ Confirmation::Pin(_)) => {
                if let Some(id) = self.replayed(session, &key, &fingerprint).await? {
                    return self.payment_view(session, &id).await;
                }
                self.wallet
                    .confirm(session, confirmation, "pay", &signed)
                    .await?;
                true
            }
            Some(confirmation @ Confirmation::Device(_)) => {
                match self
                    .wallet
                    .confirm(session, confirmation, "pay", &signed)
                    .await
                {
                    Ok(()) => true,
                    Err(error) => {
                        return match self.replayed(session, &key, &fingerprint).await? {
                            Some(id) => self.payment_view(session, &id).await,
                            None => Err(error),
                        };
                    }
                }
            }
        };
        let attempt = PayAttempt {
            user_id: session.user_id.clone(),
            key,
            fingerprint,
            target,
            static_amount,
            pin_verified,
        };
        let paid = match self.pay_once(attempt.clone()).await {
            // Short of money: the card the payer chose for this covers the difference.
            Err(PayError::InsufficientBalance(error)) => {
                let Some(amount) = attempt.target.amount else {
                    return Err(error);
                };
                let key = format!("pay:{}", attempt.key);
                if !self
                    .wallet
                    .fund_from_payment_card(&attempt.user_id, &key, amount)
                    .await?
                {
                    return Err(error);
                }
                self.pay_once(attempt).await?
            }
            other => other?,
        };
        match paid {
            Ok(view) => Ok(view),
            Err(replayed) => self.payment_view(session, &replayed).await,
        }
    }

    /// The payment an earlier request with this idempotency key made, if any; an error if
    /// the key was used for a different payment.
    async fn replayed(
        &self,
        session: &Session,
        key: &str,
        fingerprint: &str,
    ) -> ServiceResult<Option<String>> {
        let (user_id, key, fingerprint) = (
            session.user_id.clone(),
            key.to_owned(),
            fingerprint.to_owned(),
        );
        self.store
            .read(move |conn| Ok(payer::replayed(conn, &user_id, &key, &fingerprint)))
            .await?
    }

    /// One try at a scanned payment: the view of the payment made, or `Err(id)` of the one
    /// this key already made.
    async fn pay_once(&self, attempt: PayAttempt) -> Result<Result<PaymentView, String>, PayError> {
        let PayAttempt {
            user_id,
            key,
            fingerprint,
            target,
            static_amount,
            pin_verified,
        } = attempt;
        let charge_config = self.charge_config();
        let limits = self.order_limits();
        let new_id = self.wallet.new_id_string();
        let transfer_ids = [
            TransferId(self.wallet.new_id()),
            TransferId(self.wallet.new_id()),
        ];
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                if let Some(id) = payer::replayed_in(tx, &user_id, &key, &fingerprint)
                    .map_err(PayError::request)?
                {
                    return Ok(Err(id));
                }
                let payer = payer::payer_in(tx, &user_id).map_err(PayError::payer)?;
                let merchant =
                    load_merchant(tx, &target.scanned.merchant_id).map_err(PayError::request)?;
                let conn = tx.conn()?;
                let (mut order, write) = match &target.scanned.reference {
                    Some(token) => {
                        let order = order::by_qr_token(conn, token)?
                            .filter(|order| order.merchant_id == merchant.id)
                            .ok_or_else(|| PayError::Request(qr_unknown()))?;
                        if target.amount.is_some_and(|amount| amount != order.amount) {
                            return Err(PayError::Request(ServiceError::unprocessable(
                                "qr_amount_mismatch",
                                "the code's amount differs from the order's: the code was altered",
                            )));
                        }
                        order_payable(&order, now).map_err(PayError::Request)?;
                        (order, OrderWrite::Update)
                    }
                    None => (
                        static_order(
                            conn,
                            &merchant,
                            &target,
                            static_amount,
                            &new_id,
                            limits,
                            now,
                        )?,
                        OrderWrite::Insert,
                    ),
                };
                let paying = Charge {
                    config: &charge_config,
                    merchant: &merchant,
                    payer: &payer,
                    pin_verified,
                    transfer_ids,
                    write,
                    now,
                };
                charge(tx, &paying, &mut order)?;
                // Every check was made before the writes: this one needs no savepoint either.
                tx.conn_final()?;
                payer::remember(tx, &user_id, &key, &fingerprint, &order.id)
                    .map_err(PayError::platform)?;
                Ok(Ok(payment_view(&order, &merchant)))
            })
            .await
    }

    /// One of the caller's payments.
    pub async fn payment(&self, session: &Session, id: &PaymentId) -> ServiceResult<PaymentView> {
        self.payment_view(session, id.as_str()).await
    }

    /// One of the caller's payments, by an id of ours.
    async fn payment_view(&self, session: &Session, id: &str) -> ServiceResult<PaymentView> {
        let (order, merchant) = self.payers_order(session, id).await?;
        Ok(payment_view(&order, &merchant))
    }

    /// One of the caller's payments, by an id of ours, with its merchant.
    async fn payers_order(
        &self,
        session: &Session,
        id: &str,
    ) -> ServiceResult<(OrderRow, MerchantRow)> {
        let id = id.to_owned();
        let user_id = session.user_id.clone();
        let found = self
            .store
            .read(move |conn| {
                let Some(order) = order::by_id(conn, &id)?
                    .filter(|order| order.payer_user_id.as_deref() == Some(&user_id))
                else {
                    return Ok(None);
                };
                Ok(merchants::load(conn, &order.merchant_id)?.map(|merchant| (order, merchant)))
            })
            .await?;
        found.ok_or_else(PaymentId::not_found)
    }

    /// Payments waiting for the caller's PIN (payment codes above the password-free limit).
    pub async fn pending_payments(&self, session: &Session) -> ServiceResult<Vec<PaymentView>> {
        let user_id = session.user_id.clone();
        let now = cashless_kernel::now_ns();
        Ok(self
            .store
            .read(move |conn| {
                let ids: Vec<String> = conn
                    .query(
                        "SELECT id FROM orders WHERE payer_user_id = $1 AND status = 'USERPAYING' AND expires_ns > $2 ORDER BY created_ns LIMIT 20",
                        &[Param::Text(&user_id), Param::Int(now as i64)],
                    )?
                    .iter()
                    .map(|row| row.text(0).map(str::to_owned))
                    .collect::<Result<_, _>>()?;
                let mut views = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(order) = order::by_id(conn, &id)?
                        && let Some(merchant) = merchants::load(conn, &order.merchant_id)?
                    {
                        views.push(payment_view(&order, &merchant));
                    }
                }
                Ok(views)
            })
            .await?)
    }

    /// Confirms a `USERPAYING` payment with the PIN.
    pub async fn confirm_payment(
        self: &Arc<Self>,
        session: &Session,
        id: &PaymentId,
        confirmation: &Confirmation,
    ) -> ServiceResult<PaymentView> {
        let id = id.as_str();
        let (pending, _) = self.payers_order(session, id).await?;
        self.wallet
            .confirm(session, confirmation, "confirm", &[id])
            .await?;
        match self.confirm_once(session, id).await {
            // Short of money: the card the payer chose covers the difference.
            Err(PayError::InsufficientBalance(error)) => {
                let key = format!("confirm:{id}");
                if !self
                    .wallet
                    .fund_from_payment_card(&session.user_id, &key, pending.amount)
                    .await?
                {
                    return Err(error);
                }
                self.confirm_once(session, id).await?;
            }
            other => other?,
        }
        self.payment_view(session, id).await
    }

    /// Charges a `USERPAYING` payment whose payer has confirmed it.
    async fn confirm_once(&self, session: &Session, id: &str) -> Result<(), PayError> {
        let charge_config = self.charge_config();
        let transfer_ids = [
            TransferId(self.wallet.new_id()),
            TransferId(self.wallet.new_id()),
        ];
        let (id_w, user_id) = (id.to_owned(), session.user_id.clone());
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let mut order = order::by_id(conn, &id_w)?
                    .filter(|order| order.payer_user_id.as_deref() == Some(&user_id))
                    .ok_or_else(|| {
                        PayError::Request(ServiceError::not_found(
                            "payment_not_found",
                            "no such payment",
                        ))
                    })?;
                match order.status {
                    OrderStatus::UserPaying if order.expires_ns > now => {}
                    OrderStatus::UserPaying => {
                        return Err(PayError::Request(ServiceError::unprocessable(
                            "order_expired",
                            "the time to confirm this payment is over",
                        )));
                    }
                    OrderStatus::Success | OrderStatus::Finished => return Ok(()),
                    _ => {
                        return Err(PayError::Request(ServiceError::unprocessable(
                            "order_closed",
                            "this payment was closed",
                        )));
                    }
                }
                let payer = payer::payer_in(tx, &user_id).map_err(PayError::payer)?;
                let merchant = merchants::load_in(tx, &order.merchant_id)?
                    .ok_or_else(|| PayError::Request(merchants::merchant_not_found()))?;
                let paying = Charge {
                    config: &charge_config,
                    merchant: &merchant,
                    payer: &payer,
                    pin_verified: true,
                    transfer_ids,
                    write: OrderWrite::Update,
                    now,
                };
                charge(tx, &paying, &mut order)
            })
            .await
    }

    /// Declines a `USERPAYING` payment: the order closes.
    pub async fn decline_payment(
        &self,
        session: &Session,
        id: &PaymentId,
    ) -> ServiceResult<PaymentView> {
        self.payment(session, id).await?;
        let id = id.as_str();
        let (id_w, user_id) = (id.to_owned(), session.user_id.clone());
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let mut order = order::by_id(conn, &id_w)?
                    .filter(|order| order.payer_user_id.as_deref() == Some(&user_id))
                    .ok_or_else(|| {
                        ServiceError::not_found("payment_not_found", "no such payment")
                    })?;
                if order.status == OrderStatus::UserPaying {
                    let merchant = merchants::load(conn, &order.merchant_id)?
                        .ok_or_else(merchants::merchant_not_found)?;
                    orders::close(conn, &merchant, &mut order, now, "declined by the payer")?;
                    return Ok(());
                }
                Err(ServiceError::unprocessable(
                    "payment_not_waiting",
                    "this payment is not waiting for confirmation",
                ))
            })
            .await?;
        self.payment_view(session, id).await
    }

    /// Enrols the caller's device for payment codes (again: a new secret, the same slot).
    pub async fn enrol_paycode(&self, session: &Session) -> ServiceResult<PaycodeEnrolment> {
        let salt = cashless_kernel::secrets::random_hex(16);
        let (user_id, device_id, salt_w) = (
            session.user_id.clone(),
            session.device_id.clone(),
            salt.clone(),
        );
        let slot = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let existing = conn.query_opt("SELECT slot FROM paycode_devices WHERE device_id = $1", &[Param::Text(&device_id)])?;
                if let Some(row) = existing {
                    let slot = row.int(0)?;
                    conn.execute(
                        "UPDATE paycode_devices SET secret = $2, failures = 0, locked_until_ns = 0, user_id = $3 WHERE slot = $1",
                        &[Param::Int(slot), Param::Text(&salt_w), Param::Text(&user_id)],
                    )?;
                    return Ok::<_, ServiceError>(slot as u64);
                }
                let slot = conn
                    .query_opt("SELECT MAX(slot) FROM paycode_devices", &[])?
                    .and_then(|row| row.opt_int(0).ok().flatten())
                    .unwrap_or(0)
                    + 1;
                if slot as u64 > paycode::SLOT_MAX {
                    return Err(ServiceError::internal("payment code slots exhausted"));
                }
                conn.execute(
                    "INSERT INTO paycode_devices (slot, user_id, device_id, secret, failures, locked_until_ns, created_ns) \
                     VALUES ($1, $2, $3, $4, 0, 0, $5)",
                    &[Param::Int(slot), Param::Text(&user_id), Param::Text(&device_id), Param::Text(&salt_w), Param::Int(now as i64)],
                )?;
                Ok(slot as u64)
            })
            .await?;
        Ok(PaycodeEnrolment {
            slot,
            secret: self.paycode_secret_hex(slot, &salt),
            step_secs: self.config.paycode_step.as_secs(),
            algorithm: "code = \"28\" + slot (8 digits) + variant (1 digit, 0-9) + otp (7 digits); \
                        otp = first 8 bytes of HMAC-SHA-256(key = the 32 bytes secret decodes to from hex, \"cashless-paycode|<slot>|<unix_secs / step_secs>|<variant>\") \
                        as a big-endian u64, mod 10^7"
                .to_owned(),
        })
    }

    fn paycode_secret_hex(&self, slot: u64, salt: &str) -> String {
        self.wallet
            .secrets()
            .fingerprint(&["paycode", &slot.to_string(), salt])
    }
}
