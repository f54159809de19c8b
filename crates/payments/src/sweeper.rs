//! The sweeper: closes orders whose time ran out, finishes paid orders whose refund period
//! ended, and forgets nonces and staff sessions nobody can use any more.

use std::sync::Arc;

use cashless_kernel::{ServiceError, ServiceResult};
use cashless_store::Param;

use crate::lifecycle::{self, Change};
use crate::order::{self, OrderStatus};
use crate::orders;
use crate::{Payments, duration_ns, merchants};

/// Orders the sweeper closes or finishes per round.
pub const SWEEP_BATCH_MAX: i64 = 256;

impl Payments {
    /// Closes orders whose time ran out, finishes paid orders whose refund period ended, and
    /// forgets nonces older than the signature window. Answers how many orders changed.
    pub async fn sweep_once(&self) -> ServiceResult<usize> {
        let nonce_keep = duration_ns(self.config.signature_skew).saturating_mul(2);
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let ids: Vec<String> = conn
                    .query(
                        "SELECT id FROM orders WHERE status IN ('WAIT_BUYER_PAY', 'USERPAYING', 'SUCCESS') \
                         AND expires_ns <= $1 ORDER BY expires_ns LIMIT $2",
                        &[Param::Int(now as i64), Param::Int(SWEEP_BATCH_MAX)],
                    )?
                    .iter()
                    .map(|row| row.text(0).map(str::to_owned))
                    .collect::<Result<_, _>>()?;
                for id in &ids {
                    let Some(mut order) = order::by_id(conn, id)? else { continue };
                    let merchant = merchants::load(conn, &order.merchant_id)?
                        .ok_or_else(|| ServiceError::internal("order without merchant"))?;
                    if order.status.is_open() {
                        orders::close(conn, &merchant, &mut order, now, "expired")?;
                    } else if order.status == OrderStatus::Success {
                        lifecycle::transition(conn, &merchant, &mut order, Change::Finished, now)?;
                    }
                }
                conn.execute(
                    "DELETE FROM merchant_nonces WHERE seen_ns < $1",
                    &[Param::Int(now.saturating_sub(nonce_keep) as i64)],
                )?;
                // Staff sessions a day past their end (or their revocation) open nothing.
                let day_ago = now.saturating_sub(86_400 * 1_000_000_000) as i64;
                conn.execute(
                    "DELETE FROM staff_sessions WHERE expires_ns < $1 OR revoked_ns < $1",
                    &[Param::Int(day_ago)],
                )?;
                Ok::<_, ServiceError>(ids.len())
            })
            .await
    }

    pub(crate) fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let payments = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(error) = payments.sweep_once().await {
                    tracing::warn!(%error, "order sweep failed");
                }
                tokio::time::sleep(payments.config.sweep_every).await;
            }
        })
    }
}
