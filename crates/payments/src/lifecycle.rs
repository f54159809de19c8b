//! The order's state machine: the one function that changes an order's status, and with it
//! writes exactly one outbox event.
//!
//! ```text
//!  WAIT_BUYER_PAY ─┬─ Paid ───────▶ SUCCESS ─┬─ Refunded (part) ─▶ SUCCESS
//!  USERPAYING ─────┤                         ├─ Refunded (rest) ─▶ CLOSED
//!                  └─ Closed ─────▶ CLOSED   └─ Finished ────────▶ FINISHED
//! ```
//!
//! [`next`] is the machine, pure; [`transition`] checks an edge against it, sets the order's
//! fields, writes the row and the event, in the writer operation of the change. Callers check
//! what a user may be told first (an order already paid, a refund above what is left); an
//! edge the machine does not have is a bug, refused as one. The same shape (a pure `next`
//! over a status and a change, one `transition` writing the row and its event) is the pattern
//! for escrow trades and bills.

use cashless_kernel::{ServiceError, ServiceResult};
use cashless_ledger::{Money, TransferId};
use cashless_store::{Conn, DbError, Param};
use serde::Serialize;
use serde_json::{Value, json};

use crate::merchants::MerchantRow;
use crate::order::{self, COLUMNS, OrderRow, OrderStatus};

/// What happens to an order.
#[derive(Debug)]
pub(crate) enum Change {
    /// The payer's money moved to the merchant.
    Paid {
        payer_user_id: String,
        payer_name: String,
        transfer_id: TransferId,
        fee: Money,
        /// Until when refunds are possible (then the sweeper finishes the order).
        refund_deadline_ns: u64,
        /// The order is made by this payment (a static code's): its row is inserted, paid.
        new_row: bool,
    },
    /// Closed unpaid: by the merchant, the payer, or expiry.
    Closed { reason: String },
    /// Refunded in part or in full: the totals after it, and the event's details.
    Refunded {
        refunded: Money,
        fee: Money,
        payer_name: String,
        details: Value,
    },
    /// The refund window ended.
    Finished,
}

/// An edge of the machine, without its data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Edge {
    Pay,
    Close,
    /// `full`: nothing is left to refund after it.
    Refund {
        full: bool,
    },
    Finish,
}

/// The status an order in `from` moves to along `edge`, or `None` if the machine has no such
/// edge.
pub(crate) fn next(from: OrderStatus, edge: Edge) -> Option<OrderStatus> {
    use OrderStatus::{Closed, Finished, Success, UserPaying, WaitBuyerPay};
    match (from, edge) {
        (WaitBuyerPay | UserPaying, Edge::Pay) => Some(Success),
        (WaitBuyerPay | UserPaying, Edge::Close) => Some(Closed),
        (Success, Edge::Refund { full: false }) => Some(Success),
        (Success, Edge::Refund { full: true }) => Some(Closed),
        (Success, Edge::Finish) => Some(Finished),
        (WaitBuyerPay | UserPaying, Edge::Refund { .. } | Edge::Finish)
        | (Success, Edge::Pay | Edge::Close)
        | (Closed | Finished, _) => None,
    }
}

impl Change {
    fn edge(&self, order: &OrderRow) -> Edge {
        match self {
            Change::Paid { .. } => Edge::Pay,
            Change::Closed { .. } => Edge::Close,
            Change::Refunded { refunded, .. } => Edge::Refund {
                full: *refunded >= order.amount,
            },
            Change::Finished => Edge::Finish,
        }
    }

    /// The event's type.
    fn kind(&self) -> &'static str {
        match self {
            Change::Paid { .. } => "order.paid",
            Change::Closed { .. } => "order.closed",
            Change::Refunded { .. } => "order.refunded",
            Change::Finished => "order.finished",
        }
    }
}

/// Moves `order` along `change`: checks the edge, sets the fields the change sets, writes the
/// row and the change's event. The only writer of an order's status after its row is made.
pub(crate) fn transition(
    conn: &mut Conn,
    merchant: &MerchantRow,
    order: &mut OrderRow,
    change: Change,
    now: u64,
) -> ServiceResult<()> {
    let edge = change.edge(order);
    let Some(status) = next(order.status, edge) else {
        return Err(ServiceError::internal(format!(
            "order {} cannot go from {} along {edge:?}",
            order.id,
            order.status.name()
        )));
    };
    let kind = change.kind();
    order.status = status;
    order.updated_ns = now;
    let mut new_row = false;
    let details = match change {
        Change::Paid {
            payer_user_id,
            payer_name,
            transfer_id,
            fee,
            refund_deadline_ns,
            new_row: insert,
        } => {
            order.payer_user_id = Some(payer_user_id);
            order.payer_name = Some(payer_name);
            order.transfer_id = Some(transfer_id);
            order.fee = fee;
            order.paid_ns = Some(now);
            order.expires_ns = refund_deadline_ns;
            new_row = insert;
            json!({})
        }
        Change::Closed { reason } => json!({ "reason": reason }),
        Change::Refunded {
            refunded,
            fee,
            payer_name,
            details,
        } => {
            order.refunded = refunded;
            order.fee = fee;
            order.payer_name = Some(payer_name);
            details
        }
        Change::Finished => json!({}),
    };
    if new_row {
        insert(conn, order)?;
    } else {
        update(conn, order)?;
    }
    enqueue_event(conn, merchant, order, kind, details, now)
}

/// The `data` of an order's event: the order as it now is, and what the change adds.
#[derive(Serialize)]
struct EventData {
    order: order::OrderView,
    #[serde(flatten)]
    details: serde_json::Map<String, Value>,
}

/// Writes the event describing an order change (`order.paid`, …) to the outbox, in the writer
/// operation of the change.
fn enqueue_event(
    conn: &mut Conn,
    merchant: &MerchantRow,
    order: &OrderRow,
    kind: &str,
    details: Value,
    now: u64,
) -> ServiceResult<()> {
    let details = match details {
        Value::Object(details) => details,
        _ => serde_json::Map::new(),
    };
    let data = EventData {
        order: order.view(None),
        details,
    };
    cashless_outbox::enqueue(
        conn,
        cashless_outbox::NewEvent {
            recipient: &merchant.id,
            subject: &order.id,
            kind,
            data: &data,
            deliver: merchant.notify_url.is_some(),
        },
        now,
    )?;
    Ok(())
}

/// Writes a new order, open (waiting for payment, or for the payer's PIN): the only other
/// writer of an order's status, for its first.
pub(crate) fn create(conn: &mut Conn, order: &OrderRow) -> ServiceResult<()> {
    if !order.status.is_open() {
        return Err(ServiceError::internal(format!(
            "order {} cannot be made {}",
            order.id,
            order.status.name()
        )));
    }
    Ok(insert(conn, order)?)
}

fn insert(conn: &mut Conn, order: &OrderRow) -> Result<(), DbError> {
    let transfer = order.transfer_id.map(|id| id.0.to_be_bytes());
    conn.write(
        &format!("INSERT INTO orders ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)"),
        &[
            Param::Text(&order.id),
            Param::Text(&order.merchant_id),
            Param::opt_text(order.store_id.as_deref()),
            Param::opt_text(order.terminal_id.as_deref()),
            Param::Text(&order.out_trade_no),
            Param::opt_text(order.qr_token.as_deref()),
            Param::Text(order.kind.name()),
            Param::Text(order.status.name()),
            Param::money(order.amount),
            Param::Text(order.currency.code()),
            Param::Text(&order.subject),
            Param::money(order.fee),
            Param::money(order.refunded),
            Param::opt_text(order.payer_user_id.as_deref()),
            Param::Text(&order.fingerprint),
            Param::opt_blob(transfer.as_ref().map(|bytes| &bytes[..])),
            Param::ns(order.expires_ns),
            Param::opt_ns(order.paid_ns),
            Param::ns(order.created_ns),
            Param::ns(order.updated_ns),
        ],
    )?;
    Ok(())
}

/// Writes back what a state change touches.
fn update(conn: &mut Conn, order: &OrderRow) -> Result<(), DbError> {
    let transfer = order.transfer_id.map(|id| id.0.to_be_bytes());
    conn.write(
        "UPDATE orders SET status = $2, fee = $3, refunded = $4, payer_user_id = $5, \
         transfer_id = $6, paid_ns = $7, updated_ns = $8, expires_ns = $9 WHERE id = $1",
        &[
            Param::Text(&order.id),
            Param::Text(order.status.name()),
            Param::money(order.fee),
            Param::money(order.refunded),
            Param::opt_text(order.payer_user_id.as_deref()),
            Param::opt_blob(transfer.as_ref().map(|bytes| &bytes[..])),
            Param::opt_ns(order.paid_ns),
            Param::ns(order.updated_ns),
            Param::ns(order.expires_ns),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::{Closed, Finished, Success, UserPaying, WaitBuyerPay};

    const ALL: [OrderStatus; 5] = [WaitBuyerPay, UserPaying, Success, Closed, Finished];
    const EDGES: [Edge; 5] = [
        Edge::Pay,
        Edge::Close,
        Edge::Refund { full: false },
        Edge::Refund { full: true },
        Edge::Finish,
    ];

    #[test]
    fn closed_and_finished_are_final() {
        for edge in EDGES {
            assert_eq!(next(Closed, edge), None, "{edge:?}");
            assert_eq!(next(Finished, edge), None, "{edge:?}");
        }
    }

    #[test]
    fn only_a_paid_order_is_refunded_or_finished_and_only_an_open_one_paid_or_closed() {
        for from in ALL {
            for edge in EDGES {
                let allowed = match edge {
                    Edge::Pay | Edge::Close => from.is_open(),
                    Edge::Refund { .. } | Edge::Finish => from == Success,
                };
                assert_eq!(next(from, edge).is_some(), allowed, "{from:?} {edge:?}");
            }
        }
        assert_eq!(next(Success, Edge::Refund { full: false }), Some(Success));
        assert_eq!(next(Success, Edge::Refund { full: true }), Some(Closed));
    }
}
