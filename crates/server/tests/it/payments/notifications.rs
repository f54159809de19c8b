//! Notifications and the merchant console over HTTP: retries across restarts, destinations, events and orders paged, the day's takings.

use super::*;

async fn notifications_retry_and_survive_a_restart(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (url, inbox) = notify_server(2).await;
    let merchant = app.merchant(Some(&url)).await;
    let token = app.payer("陈静", "100.00").await;
    let (_, order) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&json!({ "out_trade_no": "N-1", "amount": "3.00", "subject": "tea" })),
        )
        .await;
    let (status, _) = app
        .pay_code(&token, order["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(status, 200);
    // The first attempt fails; restart before the retries, once the failure is recorded (a
    // restart while it is being written would forget the attempt, though the merchant's
    // server saw it).
    for _ in 0..400 {
        let (_, events) = app
            .signed(&merchant, "GET", "/v1/merchant/events", None)
            .await;
        if events["events"][0]["attempts"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let app = app.restart().await;
    for _ in 0..400 {
        let (_, events) = app
            .signed(&merchant, "GET", "/v1/merchant/events", None)
            .await;
        if events["events"][0]["delivery"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (_, events) = app
        .signed(&merchant, "GET", "/v1/merchant/events", None)
        .await;
    let event = &events["events"][0];
    assert_eq!(
        (event["delivery"].as_str(), event["attempts"].as_u64()),
        (Some("delivered"), Some(3)),
        "{events}"
    );
    let ids: Vec<String> = inbox
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(headers, _)| headers["cashless-event-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every attempt carries the same event id"
    );
    app.stop().await;
}

async fn production_notify_urls_are_https_to_public_hosts(db: TestDb) {
    let mut setup = Setup::default();
    setup.outbox.private_allowed = false;
    let app = TestApp::spawn_with(db, setup).await;
    let merchant = app.merchant(None).await;
    for (url, code) in [
        ("http://merchant.example.com/notify", "notify_url_insecure"),
        ("https://127.0.0.1/notify", "notify_url_private"),
        ("https://localhost:8443/notify", "notify_url_private"),
        (
            "https://169.254.169.254/latest/meta-data",
            "notify_url_private",
        ),
        ("https://[::1]/notify", "notify_url_private"),
        ("https://10.0.0.7/notify", "notify_url_private"),
        ("https://2130706433/notify", "notify_url_private"),
        ("https://%31%32%37.0.0.1/notify", "notify_url_private"),
        (
            "https://127.0.0.1\\@shop.example.com/notify",
            "notify_url_private",
        ),
        (
            "https://ops:secret@shop.example.com/notify",
            "notify_url_private",
        ),
        ("not a url", "notify_url_invalid"),
        ("ftp://shop.example.com/notify", "notify_url_invalid"),
    ] {
        let (status, error) = app
            .signed(
                &merchant,
                "PUT",
                "/v1/merchant/notify-url",
                Some(&json!({ "notify_url": url })),
            )
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (422, Some(code)),
            "{url}: {error}"
        );
    }
    let (status, body) = app
        .signed(
            &merchant,
            "PUT",
            "/v1/merchant/notify-url",
            Some(&json!({ "notify_url": "https://pay.merchant.example.com/notify" })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    app.stop().await;
}

async fn events_made_before_a_notify_url_are_sent_once_it_is_set(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("王芳", "100.00").await;
    let (status, paid) = app
        .pay_code(&token, &merchant.static_code, json!({ "amount": "8.00" }))
        .await;
    assert_eq!(status, 200, "{paid}");
    let (url, inbox) = notify_server(0).await;
    let (status, _) = app
        .signed(
            &merchant,
            "PUT",
            "/v1/merchant/notify-url",
            Some(&json!({ "notify_url": url })),
        )
        .await;
    assert_eq!(status, 204);
    let mut received = Vec::new();
    for _ in 0..200 {
        received = inbox.received.lock().unwrap().clone();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        received.len(),
        1,
        "the earlier payment's event is delivered"
    );
    let event: Value = serde_json::from_str(&received[0].1).unwrap();
    assert_eq!(
        (
            event["type"].as_str(),
            event["data"]["order"]["order_id"].as_str()
        ),
        (Some("order.paid"), paid["payment_id"].as_str())
    );
    app.stop().await;
}

/// A day's trade at `merchant`: LIST-1 (10.00) and OTHER-1 (20.00) paid, LIST-2 (7.00) not,
/// 5.00 of OTHER-1 refunded.
async fn a_days_trade(app: &TestApp, merchant: &Merchant) {
    let token = app.payer("周杰", "100.00").await;
    let mut codes = Vec::new();
    for (no, amount) in [
        ("LIST-1", "10.00"),
        ("LIST-2", "7.00"),
        ("OTHER-1", "20.00"),
    ] {
        let (status, order) = app
            .signed(
                merchant,
                "POST",
                "/v1/merchant/orders",
                Some(&json!({ "out_trade_no": no, "amount": amount, "subject": "tea" })),
            )
            .await;
        assert_eq!(status, 200, "{order}");
        codes.push(order["qr_code"].as_str().unwrap().to_owned());
    }
    for code in [&codes[0], &codes[2]] {
        let (status, paid) = app.pay_code(&token, code, json!({})).await;
        assert_eq!(status, 200, "{paid}");
    }
    let (status, refund) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/OTHER-1/refunds",
            Some(&json!({ "out_request_no": "R1", "amount": "5.00" })),
        )
        .await;
    assert_eq!(status, 200, "{refund}");
}

async fn the_merchant_console_lists_orders_newest_first_filtered_and_paged(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    a_days_trade(&app, &merchant).await;
    let numbers = |page: &Value| -> Vec<String> {
        page["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|order| order["out_trade_no"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |query: &str| {
        let path = format!("/v1/merchant/orders{query}");
        let app = &app;
        let merchant = &merchant;
        async move { app.signed(merchant, "GET", &path, None).await }
    };
    let (status, page) = list("?limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(numbers(&page), ["OTHER-1", "LIST-2"], "newest first");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, page) = list(&format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(numbers(&page), ["LIST-1"]);
    assert!(page["next_cursor"].is_null());
    let (_, page) = list("?status=SUCCESS").await;
    assert_eq!(numbers(&page), ["OTHER-1", "LIST-1"]);
    let (_, page) = list("?q=LIST").await;
    assert_eq!(numbers(&page), ["LIST-2", "LIST-1"]);
    let (_, page) = list("?q=list").await;
    assert_eq!(
        numbers(&page),
        Vec::<String>::new(),
        "order numbers are case-sensitive, on both databases"
    );
    let (_, page) = list("?q=L%25").await;
    assert_eq!(
        numbers(&page),
        Vec::<String>::new(),
        "% is a character, not a wildcard"
    );
    let (_, page) = list("?day=2020-01-01").await;
    assert_eq!(numbers(&page), Vec::<String>::new());
    for (query, code) in [
        ("?status=PAID", "status_invalid"),
        ("?day=yesterday", "day_invalid"),
        ("?day=3000-01-01", "day_invalid"),
        ("?limit=0", "limit_invalid"),
    ] {
        let (status, error) = list(query).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (422, Some(code)),
            "{query}: {error}"
        );
    }
    app.stop().await;
}

async fn the_merchant_console_sums_the_day(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    a_days_trade(&app, &merchant).await;
    // Today: 10.00 + 20.00 paid, 5.00 refunded; fees 0.06 + 0.12, 0.03 of it given back.
    let (status, takings) = app
        .signed(&merchant, "GET", "/v1/merchant/takings", None)
        .await;
    assert_eq!(status, 200, "{takings}");
    assert_eq!(
        (
            takings["paid_orders"].as_u64(),
            takings["gross"]["amount"].as_str(),
            takings["refund_count"].as_u64(),
            takings["refunds"]["amount"].as_str(),
            takings["fees"]["amount"].as_str(),
            takings["net"]["amount"].as_str(),
        ),
        (
            Some(2),
            Some("30.00"),
            Some(1),
            Some("5.00"),
            Some("0.15"),
            Some("24.85")
        ),
        "{takings}"
    );
    let (_, quiet) = app
        .signed(
            &merchant,
            "GET",
            "/v1/merchant/takings?day=2020-01-01",
            None,
        )
        .await;
    assert_eq!(quiet["net"]["amount"], "0.00");
    app.stop().await;
}

async fn the_merchant_console_retries_events_once_there_is_a_url(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    a_days_trade(&app, &merchant).await;
    let retry = events_wait_for_a_url_and_are_listed(&app, &merchant).await;
    let (url, inbox) = notify_server(0).await;
    let (status, _) = app
        .signed(
            &merchant,
            "PUT",
            "/v1/merchant/notify-url",
            Some(&json!({ "notify_url": url })),
        )
        .await;
    assert_eq!(status, 204);
    for _ in 0..200 {
        if inbox.received.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, error) = app.signed(&merchant, "POST", &retry, None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("event_delivered")),
        "{error}"
    );
    let (status, _) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/events/00000000-0000-7000-8000-000000000000/retry",
            None,
        )
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// Retrying a notification: not without a URL; the events are listed as waiting for one. The
/// retry path of the first event.
async fn events_wait_for_a_url_and_are_listed(app: &TestApp, merchant: &Merchant) -> String {
    let (_, events) = app
        .signed(merchant, "GET", "/v1/merchant/events", None)
        .await;
    let event_id = events["events"][0]["id"].as_str().unwrap().to_owned();
    let retry = format!("/v1/merchant/events/{event_id}/retry");
    let (status, error) = app.signed(merchant, "POST", &retry, None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("notify_url_missing")),
        "{error}"
    );
    // Newest first, only those waiting for a URL (no URL yet: all of them, none failed).
    let (_, oldest) = app
        .signed(merchant, "GET", "/v1/merchant/events", None)
        .await;
    assert_eq!(oldest["notify_url_set"], false, "{oldest}");
    assert_eq!(oldest["events"][0]["delivery"], "no_notify_url", "{oldest}");
    // The operator's audit counts them as owed, waiting for a URL, since the oldest.
    let (status, audit) = app.get("/v1/operator/audit").await;
    assert_eq!(status, 200, "{audit}");
    let waiting = oldest["events"].as_array().unwrap().len() as u64;
    assert!(
        audit["outbox"]["no_notify_url"].as_u64() >= Some(waiting),
        "{audit}"
    );
    assert_eq!(audit["outbox"]["failed"], 0, "{audit}");
    let oldest_owed = audit["outbox"]["oldest_at"].as_str().unwrap();
    assert!(
        oldest_owed <= oldest["events"][0]["created_at"].as_str().unwrap(),
        "{audit}"
    );
    let (status, newest) = app
        .signed(
            merchant,
            "GET",
            "/v1/merchant/events?order=newest&delivery=no_notify_url",
            None,
        )
        .await;
    assert_eq!(status, 200, "{newest}");
    let (_, failed) = app
        .signed(merchant, "GET", "/v1/merchant/events?delivery=failed", None)
        .await;
    assert_eq!(failed["events"], json!([]), "{failed}");
    let ids = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut reversed = ids(&oldest);
    reversed.reverse();
    assert_eq!(ids(&newest), reversed);
    assert!(!reversed.is_empty());
    let (_, delivered) = app
        .signed(
            merchant,
            "GET",
            "/v1/merchant/events?delivery=delivered",
            None,
        )
        .await;
    assert_eq!(ids(&delivered), Vec::<String>::new());
    for (query, code) in [
        ("?order=sideways", "order_invalid"),
        ("?delivery=lost", "delivery_invalid"),
    ] {
        let (status, error) = app
            .signed(
                merchant,
                "GET",
                &format!("/v1/merchant/events{query}"),
                None,
            )
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (422, Some(code)),
            "{error}"
        );
    }
    retry
}

/// `token` pays a new order F-`n` of 1.00 at `merchant`.
async fn pays_an_order(app: &TestApp, merchant: &Merchant, token: &str, n: usize) {
    let (status, order) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&json!({ "out_trade_no": format!("F-{n}"), "amount": "1.00", "subject": "tea" })),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let (status, paid) = app
        .pay_code(token, order["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(status, 200, "{paid}");
}

/// Webhook events and orders join their per-merchant indexes only when the writer folds them
/// (every tenth of a second or so; migrations 0013, 0014): the merchant's event list and order
/// list page through folded and recent ones alike, each once, and the takings count them all.
async fn events_page_across_folded_and_recent_ones(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("刘洋", "100.00").await;
    for n in 0..3 {
        pays_an_order(&app, &merchant, &token, n).await;
    }
    // Past the fold's interval, the next write's batch is followed by a fold.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    pays_an_order(&app, &merchant, &token, 3).await;
    pays_an_order(&app, &merchant, &token, 4).await;
    let folded: Vec<i64> = app
        .store
        .read(|conn| {
            conn.query("SELECT DISTINCT folded FROM events ORDER BY folded", &[])?
                .iter()
                .map(|row| row.int(0))
                .collect::<Result<Vec<i64>, _>>()
        })
        .await
        .unwrap();
    assert!(folded.contains(&1), "some events were folded: {folded:?}");

    let mut pages = Vec::new();
    for order in ["oldest", "newest"] {
        let mut seen = Vec::new();
        let mut path = format!("/v1/merchant/events?limit=2&order={order}");
        loop {
            let (status, page) = app.signed(&merchant, "GET", &path, None).await;
            assert_eq!(status, 200, "{page}");
            for event in page["events"].as_array().unwrap() {
                seen.push(event["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    path = format!("/v1/merchant/events?limit=2&order={order}&after={cursor}");
                }
                None => break,
            }
        }
        pages.push(seen);
    }
    let (oldest, mut newest) = (pages[0].clone(), pages[1].clone());
    assert_eq!(
        oldest.len(),
        5,
        "one order.paid event per payment: {oldest:?}"
    );
    newest.reverse();
    assert_eq!(oldest, newest, "each event once, in time order both ways");
    let mut distinct = oldest.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5);

    // Orders too (migration 0014): the order list pages through both, newest first, and the
    // day's takings count every paid order once.
    let mut numbers = Vec::new();
    let mut path = "/v1/merchant/orders?limit=2".to_owned();
    loop {
        let (status, page) = app.signed(&merchant, "GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        for order in page["orders"].as_array().unwrap() {
            numbers.push(order["out_trade_no"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/merchant/orders?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(numbers, ["F-4", "F-3", "F-2", "F-1", "F-0"]);
    let (status, takings) = app
        .signed(&merchant, "GET", "/v1/merchant/takings", None)
        .await;
    assert_eq!(status, 200, "{takings}");
    assert_eq!(
        (
            takings["paid_orders"].as_u64(),
            takings["gross"]["amount"].as_str()
        ),
        (Some(5), Some("5.00")),
        "{takings}"
    );
    app.stop().await;
}

both_backends!(
    notifications_retry_and_survive_a_restart,
    production_notify_urls_are_https_to_public_hosts,
    events_made_before_a_notify_url_are_sent_once_it_is_set,
    the_merchant_console_lists_orders_newest_first_filtered_and_paged,
    the_merchant_console_sums_the_day,
    the_merchant_console_retries_events_once_there_is_a_url,
    events_page_across_folded_and_recent_ones,
);
