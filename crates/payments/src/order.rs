//! One order as it is stored and shown: its status and kind, its row, its view (with the
//! dynamic code while it waits for payment). What happens to orders is in `orders`, `pay` and
//! `cashier`; how their status changes, only in `lifecycle`.

use cashless_kernel::wire::Amount;
use cashless_kernel::{ServiceError, ServiceResult, rfc3339};
use cashless_ledger::{Currency, Money, MoneyError, TransferId};
use cashless_store::{Conn, DbError, Param, Row};
use cashless_wallet::payer;
use serde::Serialize;

use crate::merchants::MerchantRow;
use crate::qr;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OrderStatus {
    WaitBuyerPay,
    UserPaying,
    Success,
    Closed,
    Finished,
}

impl OrderStatus {
    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            OrderStatus::UserPaying => "USERPAYING",
            OrderStatus::Success => "SUCCESS",
            OrderStatus::Closed => "CLOSED",
            OrderStatus::Finished => "FINISHED",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<OrderStatus> {
        [
            OrderStatus::WaitBuyerPay,
            OrderStatus::UserPaying,
            OrderStatus::Success,
            OrderStatus::Closed,
            OrderStatus::Finished,
        ]
        .into_iter()
        .find(|status| status.name() == name)
    }

    pub fn is_open(self) -> bool {
        matches!(self, OrderStatus::WaitBuyerPay | OrderStatus::UserPaying)
    }
}

/// How the order came to be.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OrderKind {
    /// Precreated by the merchant, paid by scanning its dynamic code.
    Dynamic,
    /// Made when a consumer paid a static code.
    Static,
    /// The cashier scanned the consumer's payment code.
    PayCode,
}

impl OrderKind {
    pub fn name(self) -> &'static str {
        match self {
            OrderKind::Dynamic => "dynamic",
            OrderKind::Static => "static",
            OrderKind::PayCode => "paycode",
        }
    }

    fn from_name(name: &str) -> Option<OrderKind> {
        [OrderKind::Dynamic, OrderKind::Static, OrderKind::PayCode]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct OrderRow {
    pub id: String,
    pub merchant_id: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    pub out_trade_no: String,
    pub qr_token: Option<String>,
    pub kind: OrderKind,
    pub status: OrderStatus,
    /// What the order is for; its currency is the order's.
    pub amount: Money,
    pub currency: Currency,
    pub subject: String,
    /// The platform's fee on what was paid and not refunded, in the order's currency.
    pub fee: Money,
    /// What was refunded so far, in the order's currency.
    pub refunded: Money,
    pub payer_user_id: Option<String>,
    pub payer_name: Option<String>,
    pub fingerprint: String,
    pub transfer_id: Option<TransferId>,
    pub expires_ns: u64,
    pub paid_ns: Option<u64>,
    pub created_ns: u64,
    pub updated_ns: u64,
}

pub(crate) const COLUMNS: &str = "id, merchant_id, store_id, terminal_id, out_trade_no, qr_token, kind, status, \
                       amount, currency, subject, fee, refunded, payer_user_id, fingerprint, \
                       transfer_id, expires_ns, paid_ns, created_ns, updated_ns";

pub(crate) fn decode(row: &Row) -> Result<OrderRow, DbError> {
    let kind = row.text(6)?;
    let status = row.text(7)?;
    let currency = row.text(9)?;
    let currency = Currency::from_code(currency)
        .ok_or_else(|| DbError::Decode(format!("currency {currency}")))?;
    Ok(OrderRow {
        id: row.text(0)?.to_owned(),
        merchant_id: row.text(1)?.to_owned(),
        store_id: row.opt_text(2)?.map(str::to_owned),
        terminal_id: row.opt_text(3)?.map(str::to_owned),
        out_trade_no: row.text(4)?.to_owned(),
        qr_token: row.opt_text(5)?.map(str::to_owned),
        kind: OrderKind::from_name(kind)
            .ok_or_else(|| DbError::Decode(format!("order kind {kind}")))?,
        status: OrderStatus::from_name(status)
            .ok_or_else(|| DbError::Decode(format!("order status {status}")))?,
        amount: Money::new(row.int(8)?, currency),
        currency,
        subject: row.text(10)?.to_owned(),
        fee: Money::new(row.int(11)?, currency),
        refunded: Money::new(row.int(12)?, currency),
        payer_user_id: row.opt_text(13)?.map(str::to_owned),
        payer_name: None,
        fingerprint: row.text(14)?.to_owned(),
        transfer_id: row
            .opt_blob(15)?
            .map(|_| row.u128(15).map(TransferId))
            .transpose()?,
        expires_ns: row.int(16)? as u64,
        paid_ns: row.opt_int(17)?.map(|ns| ns as u64),
        created_ns: row.int(18)? as u64,
        updated_ns: row.int(19)? as u64,
    })
}

pub(crate) fn by_out_trade_no(
    conn: &mut Conn,
    merchant_id: &str,
    out_trade_no: &str,
) -> Result<Option<OrderRow>, DbError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM orders WHERE merchant_id = $1 AND out_trade_no = $2"),
        &[Param::Text(merchant_id), Param::Text(out_trade_no)],
    )?
    .as_ref()
    .map(decode)
    .transpose()
}

pub(crate) fn by_id(conn: &mut Conn, id: &str) -> Result<Option<OrderRow>, DbError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM orders WHERE id = $1"),
        &[Param::Text(id)],
    )?
    .as_ref()
    .map(decode)
    .transpose()
}

pub(crate) fn by_qr_token(conn: &mut Conn, token: &str) -> Result<Option<OrderRow>, DbError> {
    // Only what `new_qr_token` makes can be one: anything else (a NUL, say, which PostgreSQL
    // refuses to compare) is no order, and never reaches the database.
    if token.is_empty()
        || token.len() > 32
        || !token
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return Ok(None);
    }
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM orders WHERE qr_token = $1"),
        &[Param::Text(token)],
    )?
    .as_ref()
    .map(decode)
    .transpose()
}

/// An order as the merchant (and the notification) sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub out_trade_no: String,
    /// `WAIT_BUYER_PAY`, `USERPAYING`, `SUCCESS`, `CLOSED` or `FINISHED`.
    #[schema(example = "SUCCESS")]
    pub status: String,
    /// `dynamic`, `static` or `paycode`.
    pub kind: String,
    pub amount: Amount,
    pub subject: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    /// The platform's fee on what was paid and not refunded.
    pub fee: Amount,
    pub refunded: Amount,
    /// The payer's real name, masked (`*娜`), once paid.
    pub buyer: Option<String>,
    /// The dynamic code to show while the order waits for payment (EMVCo payload).
    pub qr_code: Option<String>,
    pub expires_at: String,
    pub paid_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl OrderRow {
    pub(crate) fn view(&self, merchant: Option<&MerchantRow>) -> OrderView {
        let qr_code = match (self.status, merchant, self.qr_token.as_deref()) {
            (OrderStatus::WaitBuyerPay, Some(merchant), Some(_)) => {
                dynamic_code(merchant, self).ok()
            }
            _ => None,
        };
        OrderView {
            order_id: self.id.clone(),
            out_trade_no: self.out_trade_no.clone(),
            status: self.status.name().to_owned(),
            kind: self.kind.name().to_owned(),
            amount: self.amount.into(),
            subject: self.subject.clone(),
            store_id: self.store_id.clone(),
            terminal_id: self.terminal_id.clone(),
            fee: self.fee.into(),
            refunded: self.refunded.into(),
            buyer: self.payer_name.clone(),
            qr_code,
            expires_at: rfc3339(self.expires_ns),
            paid_at: self.paid_ns.map(rfc3339),
            created_at: rfc3339(self.created_ns),
            updated_at: rfc3339(self.updated_ns),
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RefundView {
    pub refund_id: String,
    pub out_request_no: String,
    pub amount: Amount,
    /// The part of the platform's fee given back to the merchant with this refund.
    pub fee_returned: Amount,
    pub reason: String,
    pub created_at: String,
    pub order: OrderView,
}

/// The merchant discount on `amount`, rounded half up to the minor unit (a rate above 100%
/// or a negative amount is an overflow: neither exists).
pub fn fee_of(amount: Money, rate_bps: u32) -> Result<Money, MoneyError> {
    let minor = u128::from(amount.unsigned()?);
    let fee = (minor * u128::from(rate_bps) + 5_000) / 10_000;
    let fee = u64::try_from(fee).map_err(|_| MoneyError::Overflow)?;
    let fee = Money::from_unsigned(fee, amount.currency())?;
    if fee > amount {
        return Err(MoneyError::Overflow);
    }
    Ok(fee)
}
/// The payer's masked name, for the merchant's view.
pub(crate) fn payer_name(conn: &mut Conn, order: &OrderRow) -> Result<Option<String>, DbError> {
    let Some(user_id) = order.payer_user_id.as_deref() else {
        return Ok(None);
    };
    Ok(payer::payer(conn, user_id)
        .ok()
        .map(|payer| payer.masked_name()))
}

/// The dynamic code of an order waiting for payment.
pub(crate) fn dynamic_code(merchant: &MerchantRow, order: &OrderRow) -> ServiceResult<String> {
    let token = order
        .qr_token
        .as_deref()
        .ok_or_else(|| ServiceError::internal("dynamic code of an order without a token"))?;
    qr::encode(
        merchant.emv(order.store_id.as_deref()),
        Some(qr::Dynamic {
            amount: order.amount,
            reference: token,
            terminal: order.terminal_id.as_deref(),
        }),
    )
    .map_err(ServiceError::internal)
}
