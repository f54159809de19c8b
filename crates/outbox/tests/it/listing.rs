//! A recipient's events: its own only, in pages by cursor, oldest or newest first, by
//! delivery state.

use cashless_outbox::{EVENTS_PAGE_MAX, EventsQuery};
use cashless_testkit::{TestDb, both_backends};

use crate::Harness;

async fn events_page_by_cursor_in_either_order(db: TestDb) {
    let harness = Harness::new(db).await;
    // A millisecond apart: the order of their time-ordered ids is the order written.
    let subjects = ["o-1", "o-2", "o-3", "o-4", "o-5"];
    let ids = harness.enqueue_at("m-1", &subjects, false, 1_000_000).await;
    harness
        .enqueue_at("m-2", &["x-1", "x-2"], false, 1_000_000)
        .await;

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let query = EventsQuery {
            after,
            limit: Some(2),
            ..EventsQuery::default()
        };
        let page = harness.outbox.events("m-1", query).await.unwrap();
        assert!(page.events.len() <= 2);
        seen.extend(
            page.events
                .into_iter()
                .map(|event| (event.id, event.order_id)),
        );
        pages += 1;
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<(String, String)> = ids
        .iter()
        .cloned()
        .zip(subjects.iter().map(|s| (*s).to_owned()))
        .collect();
    assert_eq!(
        seen, expected,
        "each event once, oldest first, none of m-2's"
    );

    let newest = EventsQuery {
        newest_first: true,
        limit: Some(3),
        ..EventsQuery::default()
    };
    let page = harness.outbox.events("m-1", newest).await.unwrap();
    let firsts: Vec<&str> = page.events.iter().map(|e| e.order_id.as_str()).collect();
    assert_eq!(firsts, ["o-5", "o-4", "o-3"]);
    let rest = EventsQuery {
        newest_first: true,
        after: page.next_cursor,
        ..EventsQuery::default()
    };
    let page = harness.outbox.events("m-1", rest).await.unwrap();
    let lasts: Vec<&str> = page.events.iter().map(|e| e.order_id.as_str()).collect();
    assert_eq!((lasts, page.next_cursor), (vec!["o-2", "o-1"], None));
}

async fn events_filter_by_delivery_and_refuse_bad_queries(db: TestDb) {
    let harness = Harness::new(db).await;
    let waiting = harness.enqueue("m-1", "o-1").await;
    harness.set_url("m-1", &harness.url).await;
    let paid = harness.enqueue("m-1", "o-2").await;
    harness
        .receiver
        .answer(&[(axum::http::StatusCode::BAD_GATEWAY, "")]);
    let failing = harness.enqueue("m-1", "o-3").await;
    // `waiting` was released by the URL; the receiver fails the first of three attempts.
    assert_eq!(harness.dispatch().await, 3);
    let only = |delivery: &str| EventsQuery {
        delivery: Some(delivery.to_owned()),
        ..EventsQuery::default()
    };
    // Which of the three met the 502 is the dispatcher's concurrency's choice.
    let ids = |page: cashless_outbox::EventPage| -> Vec<String> {
        page.events.into_iter().map(|event| event.id).collect()
    };
    let delivered = ids(harness
        .outbox
        .events("m-1", only("delivered"))
        .await
        .unwrap());
    let pending = harness.outbox.events("m-1", only("pending")).await.unwrap();
    assert_eq!((delivered.len(), pending.events.len()), (2, 1));
    assert_eq!(pending.events[0].last_error.as_deref(), Some("HTTP 502"));
    let mut all: Vec<String> = delivered.into_iter().chain(ids(pending)).collect();
    all.sort();
    let mut written = vec![waiting, paid, failing];
    written.sort();
    assert_eq!(all, written, "each event in exactly one state");
    let none = harness
        .outbox
        .events("m-1", only("no_notify_url"))
        .await
        .unwrap();
    assert!(none.events.is_empty(), "released by the URL");

    for limit in [0, EVENTS_PAGE_MAX + 1] {
        let query = EventsQuery {
            limit: Some(limit),
            ..EventsQuery::default()
        };
        let refused = harness.outbox.events("m-1", query).await.unwrap_err();
        assert_eq!(refused.code, "limit_invalid");
    }
    let refused = harness
        .outbox
        .events("m-1", only("lost"))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "delivery_invalid");
    let cursor = EventsQuery {
        after: Some("nonsense".to_owned()),
        ..EventsQuery::default()
    };
    assert!(harness.outbox.events("m-1", cursor).await.is_err());
}

both_backends!(
    events_page_by_cursor_in_either_order,
    events_filter_by_delivery_and_refuse_bad_queries,
);
