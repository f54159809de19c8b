//! A merchant's notifications: what payments tells the outbox about merchants, and the
//! signed merchant's look at its events.

use cashless_kernel::ServiceResult;
use cashless_outbox::{EventPage, EventsQuery, Recipients};
use cashless_store::{Conn, DbError, Param};

use crate::Payments;
use crate::merchants::MerchantCaller;

/// Where a merchant's events go: its notify URL.
#[derive(Debug, Default)]
pub struct MerchantRecipients;

impl Recipients for MerchantRecipients {
    fn notify_url(&self, conn: &mut Conn, recipient: &str) -> Result<Option<String>, DbError> {
        let row = conn.query_opt(
            "SELECT notify_url FROM merchants WHERE id = $1",
            &[Param::Text(recipient)],
        )?;
        Ok(match row {
            Some(row) => row.opt_text(0)?.map(str::to_owned),
            None => None,
        })
    }
}

impl Payments {
    /// The caller's events (see [`cashless_outbox::Outbox::events`]).
    pub async fn events(
        &self,
        caller: MerchantCaller,
        query: EventsQuery,
    ) -> ServiceResult<EventPage> {
        // Webhook payloads and delivery errors describe the merchant's back end.
        caller.require_back_office()?;
        self.outbox.events(&caller.merchant_id, query).await
    }

    /// Sends an undelivered event again now (the merchant's "retry" button), whatever its
    /// schedule or however often it failed.
    pub async fn retry_event(
        &self,
        mut caller: MerchantCaller,
        event_id: &cashless_outbox::ids::EventId,
    ) -> ServiceResult<()> {
        caller.require_back_office()?;
        self.claim_nonce(&mut caller).await?;
        self.outbox.retry(&caller.merchant_id, event_id).await
    }
}
