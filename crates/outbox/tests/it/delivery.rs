//! Delivery: signed, acknowledged only by `success`, retried on the backoff, given up, sent
//! again by hand, and held back until the recipient has a destination.

use axum::http::StatusCode;
use cashless_outbox::OutboxConfig;
use cashless_outbox::ids::EventId;
use cashless_outbox::signature::verify_notification;
use cashless_testkit::{TestDb, both_backends};
use serde_json::Value;

use crate::{Harness, config};

async fn an_event_is_delivered_once_signed_by_the_platform(db: TestDb) {
    let harness = Harness::new(db).await;
    harness.set_url("m-1", &harness.url).await;
    let id = harness.enqueue("m-1", "order-1").await;
    assert_eq!(harness.owed().await.pending, 1);

    assert_eq!(harness.dispatch().await, 1);
    let received = harness.receiver.received();
    assert_eq!(received.len(), 1);
    let delivery = &received[0];
    assert_eq!(delivery.event_id, id);
    let body: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["type"], "order.paid");
    assert_eq!(body["merchant_id"], "m-1");
    assert_eq!(body["data"]["order_id"], "order-1");
    // The signature covers timestamp, id and body, under the platform's published key.
    let public = harness.key.public_key();
    let (at, sig) = (delivery.timestamp, delivery.signature.as_str());
    assert!(verify_notification(&public, sig, at, &id, &delivery.body));
    assert!(!verify_notification(
        &public,
        sig,
        at + 1,
        &id,
        &delivery.body
    ));
    let tampered = delivery.body.replace("12.50", "99.99");
    assert!(!verify_notification(&public, sig, at, &id, &tampered));
    let other = cashless_outbox::PlatformKey::generate().public_key();
    assert!(!verify_notification(&other, sig, at, &id, &delivery.body));

    let event = harness.event("m-1", &id).await;
    assert_eq!((event.delivery.as_str(), event.attempts), ("delivered", 1));
    assert_eq!(event.last_error, None);
    assert_eq!(event.payload, body, "the payload listed is the body sent");
    // Nothing is owed, and nothing goes out again.
    let owed = harness.owed().await;
    assert_eq!((owed.pending, owed.failed, owed.no_notify_url), (0, 0, 0));
    assert_eq!(harness.dispatch().await, 0);
    assert_eq!(harness.receiver.received().len(), 1);
    let again = harness
        .outbox
        .retry("m-1", &EventId::parse(&id).unwrap())
        .await;
    assert_eq!(again.unwrap_err().code, "event_delivered");
}

async fn a_failing_receiver_is_retried_until_given_up_and_retried_by_hand(db: TestDb) {
    let harness = Harness::new(db).await;
    harness.set_url("m-1", &harness.url).await;
    harness.receiver.answer(&[
        (StatusCode::INTERNAL_SERVER_ERROR, "oops"),
        (StatusCode::OK, "received"),
        (StatusCode::SERVICE_UNAVAILABLE, ""),
    ]);
    let id = harness.enqueue("m-1", "order-1").await;

    // First attempt: a 500. The backoff's next wait is zero: due again at once.
    assert_eq!(harness.dispatch().await, 1);
    let event = harness.event("m-1", &id).await;
    assert_eq!((event.delivery.as_str(), event.attempts), ("pending", 1));
    assert_eq!(event.last_error.as_deref(), Some("HTTP 500"));
    // Second: a 200 that is not `success` is no acknowledgement; the next wait is an hour.
    assert_eq!(harness.dispatch().await, 1);
    let event = harness.event("m-1", &id).await;
    assert_eq!((event.delivery.as_str(), event.attempts), ("pending", 2));
    assert_eq!(event.last_error.as_deref(), Some("HTTP 200, not `success`"));
    assert_eq!(harness.dispatch().await, 0, "not due for an hour");
    assert_eq!(harness.owed().await.pending, 1, "the event stays owed");

    // Sent again by hand: a 503 uses the last attempt of the backoff, and it is given up.
    harness
        .outbox
        .retry("m-1", &EventId::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(harness.dispatch().await, 1);
    let event = harness.event("m-1", &id).await;
    assert_eq!((event.delivery.as_str(), event.attempts), ("failed", 3));
    let owed = harness.owed().await;
    assert_eq!((owed.pending, owed.failed), (0, 1));
    assert_eq!(
        harness.dispatch().await,
        0,
        "given up: never due again by itself"
    );

    // Retried by hand once more, the receiver (now well) takes it.
    harness
        .outbox
        .retry("m-1", &EventId::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(harness.dispatch().await, 1);
    let event = harness.event("m-1", &id).await;
    assert_eq!((event.delivery.as_str(), event.attempts), ("delivered", 4));
    assert_eq!(event.last_error, None);
    // Every attempt carried the same event id, for the receiver to drop duplicates.
    let received = harness.receiver.received();
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|delivery| delivery.event_id == id));
    assert_eq!(harness.owed().await.failed, 0);

    // Only the recipient's own events, and only ids, can be retried.
    let other = harness
        .outbox
        .retry("m-2", &EventId::parse(&id).unwrap())
        .await
        .unwrap_err();
    assert_eq!(other.code, "event_not_found");
    let junk = EventId::parse("not-an-id").unwrap_err();
    assert_eq!(junk.code, "event_not_found");
}

async fn events_wait_for_a_destination_and_are_released_once_there_is_one(db: TestDb) {
    let harness = Harness::new(db).await;
    let first = harness.enqueue("m-1", "order-1").await;
    let second = harness.enqueue("m-1", "order-2").await;
    let page = harness
        .outbox
        .events("m-1", Default::default())
        .await
        .unwrap();
    assert!(!page.notify_url_set);
    assert!(
        page.events
            .iter()
            .all(|event| event.delivery == "no_notify_url")
    );
    assert_eq!(harness.owed().await.no_notify_url, 2);
    assert_eq!(harness.dispatch().await, 0);
    let retry = harness
        .outbox
        .retry("m-1", &EventId::parse(&first).unwrap())
        .await
        .unwrap_err();
    assert_eq!(retry.code, "notify_url_missing");
    assert!(harness.receiver.received().is_empty());

    // Setting a URL releases both, in the same writer operation.
    harness.set_url("m-1", &harness.url).await;
    let owed = harness.owed().await;
    assert_eq!((owed.pending, owed.no_notify_url), (2, 0));
    assert_eq!(harness.dispatch().await, 2);
    let mut delivered: Vec<String> = harness
        .receiver
        .received()
        .into_iter()
        .map(|delivery| delivery.event_id)
        .collect();
    delivered.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(delivered, expected);
    let events = harness.events("m-1").await;
    assert!(events.iter().all(|event| event.delivery == "delivered"));
    // Releasing again changes nothing delivered.
    harness.set_url("m-1", &harness.url).await;
    assert_eq!(harness.dispatch().await, 0);
}

async fn a_private_destination_is_refused_at_delivery_in_production(db: TestDb) {
    let config = OutboxConfig {
        private_allowed: false,
        ..config()
    };
    let harness = Harness::with(db, config).await;
    assert!(harness.outbox.check_url(&harness.url).is_err());
    // Say the URL predates the rule: the dispatcher still will not POST to it.
    harness.set_url("m-1", &harness.url).await;
    let id = harness.enqueue("m-1", "order-1").await;
    assert_eq!(harness.dispatch().await, 1);
    let event = harness.event("m-1", &id).await;
    assert_eq!((event.delivery.as_str(), event.attempts), ("pending", 1));
    assert!(event.last_error.is_some());
    assert!(harness.receiver.received().is_empty());
}

both_backends!(
    an_event_is_delivered_once_signed_by_the_platform,
    a_failing_receiver_is_retried_until_given_up_and_retried_by_hand,
    events_wait_for_a_destination_and_are_released_once_there_is_one,
    a_private_destination_is_refused_at_delivery_in_production,
);
