//! Orders over HTTP: bounds, dynamic and static codes paid and refunded, codes read from pictures.

use super::*;

async fn precreate(app: &TestApp, who: &Merchant, no: &str, amount: &str) -> (u16, Value) {
    let body = json!({ "out_trade_no": no, "amount": amount, "subject": "a big one" });
    app.signed(who, "POST", "/v1/merchant/orders", Some(&body))
        .await
}

/// An order is bounded before it exists: by what anyone may pay at once and by the merchant's
/// own maximum, which the operator sets.
async fn orders_above_the_payment_or_merchant_maximum_are_never_made(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let stall = app
        .merchant_with(json!({ "order_amount_max": "500.00" }))
        .await;
    for (who, amount, code) in [
        (&merchant, "100000000.00", "amount_above_payment_max"),
        (&merchant, "20000.01", "amount_above_payment_max"),
        (&stall, "500.01", "amount_above_order_max"),
    ] {
        let (status, error) = precreate(&app, who, "BIG-1", amount).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (422, Some(code)),
            "{amount}: {error}"
        );
        assert!(
            error["error"]["details"]["limit"]["amount"].is_string(),
            "{error}"
        );
        let (status, _) = app
            .signed(who, "GET", "/v1/merchant/orders/BIG-1", None)
            .await;
        assert_eq!(status, 404, "no order was made");
    }
    assert_eq!(precreate(&app, &stall, "OK-1", "500.00").await.0, 200);
    assert_eq!(precreate(&app, &merchant, "OK-2", "20000.00").await.0, 200);
    let (_, profile) = app
        .signed(&stall, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(profile["order_amount_max"]["amount"], "500.00", "{profile}");
    // More than anyone may pay is refused at onboarding; the operator changes it later.
    let (status, error) = app
        .post(
            "/v1/operator/merchants",
            &json!({ "legal_name": "Big Ltd", "display_name": "Big", "mcc": "5812",
                     "city": "Hangzhou", "licence_number": licence(),
                     "settlement_bank": "ICBC", "settlement_account": "6222020123456789",
                     "order_amount_max": "50000.00" }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("order_amount_max_invalid")),
        "{error}"
    );
    let set = |max: Value| {
        let url = format!(
            "{}/v1/operator/merchants/{}/order-amount-max",
            app.base, stall.id
        );
        let client = app.client.clone();
        async move {
            read(
                client
                    .put(url)
                    .bearer_auth(crate::TOKEN)
                    .json(&json!({ "order_amount_max": max }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, view) = set(json!("100.00")).await;
    assert_eq!(
        (status, view["order_amount_max"]["amount"].as_str()),
        (200, Some("100.00")),
        "{view}"
    );
    assert_eq!(precreate(&app, &stall, "OK-3", "100.01").await.0, 422);
    let (status, view) = set(Value::Null).await;
    assert_eq!(
        (status, view["order_amount_max"]["amount"].as_str()),
        (200, Some("20000.00")),
        "{view}"
    );
    assert_eq!(precreate(&app, &stall, "OK-4", "600.00").await.0, 200);
    assert_eq!(set(json!("500.00")).await.0, 200);
    app.stop().await;
}

async fn a_payer_is_told_at_scan_time_the_stall_takes_less(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let stall = app
        .merchant_with(json!({ "order_amount_max": "500.00" }))
        .await;
    // A payer typing more than the stall takes is told at scan time, and paying is refused.
    let payer = app.payer("周敏", "1000.00").await;
    let (status, error) = app
        .as_user(
            &payer,
            "/v1/me/scan",
            &json!({ "payload": stall.static_code, "amount": "600.00" }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("amount_above_order_max")),
        "{error}"
    );
    let (status, error) = app
        .pay_code(
            &payer,
            &stall.static_code,
            json!({ "amount": "600.00", "pin": "258036" }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("amount_above_order_max")),
        "{error}"
    );
    assert_eq!(app.available(&payer).await, "1000.00");
    app.stop().await;
}

/// For a payment code the order is bounded by the payer's limits, which the merchant never sees.
async fn a_payer_over_their_limits_is_refused_without_saying_why(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    // A payer with a real name only (L1: 5,000 a payment): the merchant learns that they
    // cannot pay, not why, and no order exists.
    let token = app.verified("林芳").await;
    let (status, enrolment) = app.as_user(&token, "/v1/me/paycode", &json!({})).await;
    assert_eq!(status, 200, "{enrolment}");
    let slot = enrolment["slot"].as_u64().unwrap();
    let secret = signing::decode_hex(enrolment["secret"].as_str().unwrap()).unwrap();
    let code = paycode::code_at(&secret, slot, 0, now_secs() as u64, 60).to_digits();
    let (status, error) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&json!({ "auth_code": code, "out_trade_no": "L1-BIG", "amount": "6000.00", "subject": "a watch" })),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("buyer_cannot_pay")),
        "{error}"
    );
    assert!(
        error["error"]["details"].is_null(),
        "nothing of the payer: {error}"
    );
    let (status, _) = app
        .signed(&merchant, "GET", "/v1/merchant/orders/L1-BIG", None)
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

fn refund_body(no: &str, amount: &str) -> Value {
    json!({ "out_request_no": no, "amount": amount, "reason": "cold tea" })
}

async fn dynamic_code_paid_refunded_and_notified(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (url, inbox) = notify_server(0).await;
    let merchant = app.merchant(Some(&url)).await;
    let token = app.payer("李娜", "500.00").await;
    let payload = a_dynamic_order_is_made_once(&app, &merchant).await;
    a_dynamic_code_is_paid_once(&app, &merchant, &token, &payload).await;
    let first = a_refund_is_made_once_per_request_no(&app, &merchant).await;
    refunds_never_exceed_what_was_paid(&app, &merchant, &token, &first).await;
    notifications_are_signed_and_listed(&app, &merchant, &inbox).await;
    app.stop().await;
}

/// Order DQ-1 made (once) and shown as a picture: its payload.
async fn a_dynamic_order_is_made_once(app: &TestApp, merchant: &Merchant) -> String {
    let order = json!({ "out_trade_no": "DQ-1", "amount": "128.50", "subject": "Longjing tea", "store_id": merchant.store_id });
    let (status, created) = app
        .signed(merchant, "POST", "/v1/merchant/orders", Some(&order))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "WAIT_BUYER_PAY");
    let payload = created["qr_code"].as_str().unwrap().to_owned();
    let parsed = cashless_emvqr::parse(&payload).unwrap();
    assert_eq!(parsed.amount().unwrap().as_str(), "128.50");
    // The POS shows the code as a picture: a PNG that decodes to the same payload, or SVG.
    let (status, kind, png) = app
        .signed_bytes(merchant, "/v1/merchant/orders/DQ-1/qr?format=png&scale=4")
        .await;
    assert_eq!((status, kind.as_str()), (200, "image/png"));
    let decoded = cashless_emvqr::images::decode_image(&png).unwrap();
    assert_eq!(decoded, std::slice::from_ref(&payload));
    let (status, kind, svg) = app
        .signed_bytes(
            merchant,
            &format!("/v1/merchant/qr?store_id={}", merchant.store_id),
        )
        .await;
    assert_eq!((status, kind.as_str()), (200, "image/svg+xml"));
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    let (status, _, body) = app
        .signed_bytes(merchant, "/v1/merchant/orders/DQ-1/qr?format=gif")
        .await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    // The same out_trade_no and fields: the same order; other fields: refused.
    let (status, again) = app
        .signed(merchant, "POST", "/v1/merchant/orders", Some(&order))
        .await;
    assert_eq!((status, &again["order_id"]), (200, &created["order_id"]));
    let mut changed = order.clone();
    changed["amount"] = json!("128.51");
    let (status, error) = app
        .signed(merchant, "POST", "/v1/merchant/orders", Some(&changed))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("out_trade_no_conflict"))
    );
    let mut usd = order.clone();
    usd["out_trade_no"] = json!("DQ-USD");
    usd["currency"] = json!("USD");
    let (status, error) = app
        .signed(merchant, "POST", "/v1/merchant/orders", Some(&usd))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("currency_not_supported"))
    );
    payload
}

async fn a_dynamic_code_is_paid_once(
    app: &TestApp,
    merchant: &Merchant,
    token: &str,
    payload: &str,
) {
    // The consumer scans, sees the merchant and amount, and pays.
    let (status, scan) = app
        .as_user(token, "/v1/me/scan", &json!({ "payload": payload }))
        .await;
    assert_eq!(status, 200, "{scan}");
    assert_eq!(
        (scan["kind"].as_str(), scan["amount"]["amount"].as_str()),
        (Some("dynamic"), Some("128.50"))
    );
    assert_eq!(
        (
            scan["chinese_name"].as_str(),
            scan["pin_required"].as_bool()
        ),
        (Some("西湖面馆"), Some(false))
    );
    let key = "pay-dq-1";
    let (status, paid) = app
        .money(
            token,
            "/v1/me/payments",
            key,
            &json!({ "payload": payload }),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "SUCCESS");
    let (status, replay) = app
        .money(
            token,
            "/v1/me/payments",
            key,
            &json!({ "payload": payload }),
        )
        .await;
    assert_eq!((status, &replay["payment_id"]), (200, &paid["payment_id"]));
    let (status, error) = app.pay_code(token, payload, json!({})).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("order_already_paid")),
        "{error}"
    );
    assert_eq!(app.available(token).await, "371.50");

    let (status, queried) = app
        .signed(merchant, "GET", "/v1/merchant/orders/DQ-1", None)
        .await;
    assert_eq!(status, 200, "{queried}");
    assert_eq!(
        (
            queried["status"].as_str(),
            queried["fee"]["amount"].as_str()
        ),
        (Some("SUCCESS"), Some("0.77"))
    );
    assert_eq!(queried["buyer"], "*娜");
    assert!(queried["qr_code"].is_null());
    assert_eq!(app.fee_income().await, 77);
}

/// Refunds partial and retried: the first refund.
async fn a_refund_is_made_once_per_request_no(app: &TestApp, merchant: &Merchant) -> Value {
    // Refunds: partial, retried, too much, the rest.
    let (status, first) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund_body("R1", "28.50")),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (
            first["order"]["status"].as_str(),
            first["order"]["refunded"]["amount"].as_str()
        ),
        (Some("SUCCESS"), Some("28.50"))
    );
    let (status, retried) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund_body("R1", "28.50")),
        )
        .await;
    assert_eq!((status, &retried["refund_id"]), (200, &first["refund_id"]));
    let (status, error) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund_body("R1", "1.00")),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("out_request_no_conflict"))
    );
    first
}

/// Refunds too much and the rest.
async fn refunds_never_exceed_what_was_paid(
    app: &TestApp,
    merchant: &Merchant,
    token: &str,
    first: &Value,
) {
    let (status, error) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund_body("R2", "100.01")),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("refund_exceeds_paid")),
        "{error}"
    );
    assert_eq!(error["error"]["details"]["refundable"]["amount"], "100.00");
    let (status, last) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund_body("R2", "100.00")),
        )
        .await;
    assert_eq!(status, 200, "{last}");
    assert_eq!(
        (
            last["order"]["status"].as_str(),
            last["order"]["fee"]["amount"].as_str()
        ),
        (Some("CLOSED"), Some("0.00"))
    );
    let (status, error) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund_body("R3", "0.01")),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("order_closed"))
    );
    let (status, found) = app
        .signed(merchant, "GET", "/v1/merchant/orders/DQ-1/refunds/R1", None)
        .await;
    assert_eq!((status, &found["refund_id"]), (200, &first["refund_id"]));
    assert_eq!(app.available(token).await, "500.00");
    assert_eq!(app.fee_income().await, 0);
    let (_, statement) = app.get_as(token, "/v1/me/statement").await;
    let kinds: Vec<&str> = statement["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(&kinds[..3], ["refund", "refund", "payment"], "{statement}");
}

async fn notifications_are_signed_and_listed(app: &TestApp, merchant: &Merchant, inbox: &Inbox) {
    // Notifications: paid, refunded twice, closed — signed, each with its own stable id.
    let key = app.payments.outbox().platform_key().public_key();
    let (_, keys) = app
        .call(reqwest::Method::GET, "/v1/platform/keys", None, None, None)
        .await;
    assert_eq!(keys["keys"][0]["public_key"], signing::hex(key.as_bytes()));
    let mut types = Vec::new();
    for _ in 0..200 {
        types = inbox
            .received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| {
                serde_json::from_str::<Value>(body).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect::<Vec<_>>();
        if types.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Deliveries run concurrently and promise no order (as Alipay's): each event carries its
    // time, and the order's state is one query away.
    types.sort();
    assert_eq!(
        types,
        ["order.paid", "order.refunded", "order.refunded"],
        "closed-by-refund is one event"
    );
    for (headers, body) in inbox.received.lock().unwrap().iter() {
        let event_id = headers["cashless-event-id"].to_str().unwrap();
        let timestamp: i64 = headers["cashless-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let signature = headers["cashless-signature"].to_str().unwrap();
        assert!(cashless_outbox::signature::verify_notification(
            &key, signature, timestamp, event_id, body
        ));
        assert!(!cashless_outbox::signature::verify_notification(
            &key,
            signature,
            timestamp,
            event_id,
            &body.replace("128.50", "1.00")
        ));
        assert_eq!(serde_json::from_str::<Value>(body).unwrap()["id"], event_id);
    }
    let (status, events) = app
        .signed(merchant, "GET", "/v1/merchant/events?limit=2", None)
        .await;
    assert_eq!(status, 200, "{events}");
    assert_eq!(events["events"][0]["type"], "order.paid");
    assert_eq!(events["events"][0]["delivery"], "delivered");
    let cursor = events["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .signed(
            merchant,
            "GET",
            &format!("/v1/merchant/events?after={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 1, "{rest}");
}

async fn a_static_code_takes_an_amount_and_above_the_free_amount_the_pin(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("王芳", "3000.00").await;
    let (status, error) = app.pay_code(&token, &merchant.static_code, json!({})).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("amount_required"))
    );
    let (status, paid) = app
        .pay_code(&token, &merchant.static_code, json!({ "amount": "15.00" }))
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(
        (paid["status"].as_str(), paid["merchant_name"].as_str()),
        (Some("SUCCESS"), Some("West Lake Noodles"))
    );
    // The sweeper runs every 25 ms here: a paid order stays refundable (its deadline is the
    // refund period, not the moment it was paid).
    tokio::time::sleep(Duration::from_millis(150)).await;
    let static_no = paid["payment_id"].as_str().unwrap().to_owned();
    let (status, refunded) = app
        .signed(
            &merchant,
            "POST",
            &format!("/v1/merchant/orders/{static_no}/refunds"),
            Some(&json!({ "out_request_no": "S1", "amount": "5.00" })),
        )
        .await;
    assert_eq!(
        (status, refunded["order"]["status"].as_str()),
        (200, Some("SUCCESS")),
        "{refunded}"
    );
    // Above the password-free amount: the PIN, and a wrong PIN is refused.
    let (status, error) = app
        .pay_code(
            &token,
            &merchant.static_code,
            json!({ "amount": "1000.01" }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("pin_required")),
        "{error}"
    );
    let (status, error) = app
        .pay_code(
            &token,
            &merchant.static_code,
            json!({ "amount": "1000.01", "pin": "111222" }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("pin_incorrect")),
        "{error}"
    );
    let (status, paid) = app
        .pay_code(
            &token,
            &merchant.static_code,
            json!({ "amount": "1000.01", "pin": "258036" }),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    let (status, error) = app
        .pay_code(
            &token,
            &merchant.static_code,
            json!({ "amount": "2000.00", "pin": "258036" }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("insufficient_balance")),
        "{error}"
    );
    assert_eq!(app.available(&token).await, "1989.99");
    app.stop().await;
}

async fn codes_that_are_not_ours_or_not_codes_are_refused_in_words(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("王芳", "3000.00").await;
    // Codes that are not ours, or not codes.
    let pix = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";
    let (status, error) = app.pay_code(&token, pix, json!({ "amount": "1.00" })).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("qr_foreign_scheme")),
        "{error}"
    );
    assert!(
        error["error"]["message"].as_str().unwrap().contains("Pix"),
        "{error}"
    );
    let bad_crc = format!(
        "{}0000",
        &merchant.static_code[..merchant.static_code.len() - 4]
    );
    let (status, error) = app
        .pay_code(&token, &bad_crc, json!({ "amount": "1.00" }))
        .await;
    assert_eq!(
        (
            status,
            error["error"]["code"].as_str(),
            error["error"]["details"]["reason"].as_str()
        ),
        (422, Some("qr_invalid"), Some("bad_crc")),
        "{error}"
    );
    // What is not a payment code is said in words, with what it is instead.
    for (payload, kind, words) in [
        ("hello", "other", "not a payment code"),
        ("https://example.com/menu", "web_link", "web link"),
        ("CT1:V50:ABC", "transit_code", "ride code"),
    ] {
        let (status, error) = app
            .pay_code(&token, payload, json!({ "amount": "1.00" }))
            .await;
        assert_eq!(
            (
                status,
                error["error"]["code"].as_str(),
                error["error"]["details"]["kind"].as_str()
            ),
            (422, Some("qr_invalid"), Some(kind)),
            "{error}"
        );
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(words) && !message.contains("character"),
            "{message}"
        );
    }
    let (status, error) = app
        .pay_code(&token, &merchant.static_code, json!({ "amount": "98,73" }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("amount_invalid")),
        "{error}"
    );
    app.stop().await;
}

fn bun(no: &str) -> Value {
    json!({ "out_trade_no": no, "amount": "9.90", "subject": "bun" })
}

async fn closed_and_expired_orders_cannot_be_paid(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("王芳", "3000.00").await;
    // Closed and expired orders cannot be paid.
    let (_, closed) = app
        .signed(&merchant, "POST", "/v1/merchant/orders", Some(&bun("C-1")))
        .await;
    let (status, body) = app
        .signed(&merchant, "POST", "/v1/merchant/orders/C-1/close", None)
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("CLOSED")),
        "{body}"
    );
    let (status, error) = app
        .pay_code(&token, closed["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("order_closed")),
        "{error}"
    );
    let (_, expiring) = app
        .signed(&merchant, "POST", "/v1/merchant/orders", Some(&bun("E-1")))
        .await;
    let id = expiring["order_id"].as_str().unwrap().to_owned();
    app.store
        .write(move |tx| {
            tx.conn()?.execute(
                "UPDATE orders SET expires_ns = 1 WHERE id = $1",
                &[Param::Text(&id)],
            )?;
            Ok::<_, cashless_store::StoreError>(())
        })
        .await
        .unwrap();
    let (status, error) = app
        .pay_code(&token, expiring["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert!(
        status == 422
            && ["order_expired", "order_closed"]
                .contains(&error["error"]["code"].as_str().unwrap()),
        "{error}"
    );
    for _ in 0..200 {
        let (_, order) = app
            .signed(&merchant, "GET", "/v1/merchant/orders/E-1", None)
            .await;
        if order["status"] == "CLOSED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (_, order) = app
        .signed(&merchant, "GET", "/v1/merchant/orders/E-1", None)
        .await;
    assert_eq!(
        order["status"], "CLOSED",
        "the sweeper closes expired orders"
    );
    app.stop().await;
}

async fn an_altered_amount_in_a_dynamic_code_is_caught(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("王芳", "3000.00").await;
    // An altered amount in a dynamic code is caught.
    let (_, fresh) = app
        .signed(&merchant, "POST", "/v1/merchant/orders", Some(&bun("A-1")))
        .await;
    let payload = fresh["qr_code"].as_str().unwrap();
    let body = payload[..payload.len() - 4].replace("54049.90", "54040.01");
    assert_ne!(body, payload[..payload.len() - 4]);
    let forged = format!(
        "{body}{:04X}",
        cashless_emvqr::crc16_ccitt_false(body.as_bytes())
    );
    let (status, error) = app.pay_code(&token, &forged, json!({})).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("qr_amount_mismatch")),
        "{error}"
    );
    app.stop().await;
}

async fn cancelling_a_paid_order_refunds_it_in_full(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("王芳", "3000.00").await;
    // Cancel: unpaid closes; paid refunds in full; a paid order cannot be closed.
    let (_, paid_order) = app
        .signed(&merchant, "POST", "/v1/merchant/orders", Some(&bun("X-1")))
        .await;
    let (status, _) = app
        .pay_code(&token, paid_order["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, error) = app
        .signed(&merchant, "POST", "/v1/merchant/orders/X-1/close", None)
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("order_paid"))
    );
    let before = app.available(&token).await;
    let (status, cancelled) = app
        .signed(&merchant, "POST", "/v1/merchant/orders/X-1/cancel", None)
        .await;
    assert_eq!(
        (
            status,
            cancelled["status"].as_str(),
            cancelled["refunded"]["amount"].as_str()
        ),
        (200, Some("CLOSED"), Some("9.90")),
        "{cancelled}"
    );
    let (status, again) = app
        .signed(&merchant, "POST", "/v1/merchant/orders/X-1/cancel", None)
        .await;
    assert_eq!((status, again["status"].as_str()), (200, Some("CLOSED")));
    let after = app.available(&token).await;
    assert_eq!(
        cashless_ledger::parse_amount(&after, Currency::CNY).unwrap()
            - cashless_ledger::parse_amount(&before, Currency::CNY).unwrap(),
        990
    );
    let (status, error) = app
        .signed(&merchant, "GET", "/v1/merchant/orders/NOPE", None)
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("order_not_found"))
    );
    app.stop().await;
}

async fn pictures_are_read_for_payers_and_tills(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let payer = app.payer("Photo", "10.00").await;
    let post_picture = |path: &str, authorization: Option<String>, bytes: Vec<u8>| {
        let mut request = app
            .client
            .post(format!("{}{path}", app.base))
            .header("content-type", "image/png")
            .body(bytes);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        async move { read(request.send().await.unwrap()).await }
    };
    // A payer's photo of a poster: the payload and what it is.
    let poster = cashless_emvqr::images::render_png(&merchant.static_code, 6).unwrap();
    let (status, scanned) = post_picture(
        "/v1/me/scan-image",
        Some(format!("Bearer {payer}")),
        poster.clone(),
    )
    .await;
    assert_eq!(status, 200, "{scanned}");
    assert_eq!(
        scanned["payload"].as_str(),
        Some(merchant.static_code.as_str())
    );
    assert_eq!(scanned["scan"]["kind"], "static");
    // A live camera's still is read the same way (by the decoder kept for cameras).
    let (status, live) = post_picture(
        "/v1/me/scan-image?live=true",
        Some(format!("Bearer {payer}")),
        poster.clone(),
    )
    .await;
    assert_eq!(
        (status, &live["payload"]),
        (200, &scanned["payload"]),
        "{live}"
    );
    for (bytes, code) in [
        (b"not a picture".to_vec(), "bad_image"),
        (
            cashless_emvqr::images::render_png("281234567890123456", 6).unwrap(),
            "qr_invalid",
        ),
    ] {
        let (status, error) =
            post_picture("/v1/me/scan-image", Some(format!("Bearer {payer}")), bytes).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (422, Some(code)),
            "{error}"
        );
    }
    // A till's camera still of a payment code, signed like any merchant request.
    let picture = cashless_emvqr::images::render_png("281234567890123456", 6).unwrap();
    let nonce = format!("n{:016x}", rand::random::<u64>());
    let parts = merchant.signer.sign(
        "POST",
        "/v1/merchant/scan-image",
        now_secs(),
        &nonce,
        &picture,
    );
    let (status, read_out) = post_picture(
        "/v1/merchant/scan-image",
        Some(parts.authorization.clone()),
        picture.clone(),
    )
    .await;
    assert_eq!(
        (status, read_out["text"].as_str()),
        (200, Some("281234567890123456")),
        "{read_out}"
    );
    // Replayed, tampered or unsigned: refused before any decoding.
    let (status, _) = post_picture(
        "/v1/merchant/scan-image",
        Some(parts.authorization),
        poster.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post_picture("/v1/merchant/scan-image", None, picture).await;
    assert_eq!(status, 401);
    let (status, _) = post_picture(
        "/v1/merchant/scan-image",
        Some(format!("Bearer {payer}")),
        poster,
    )
    .await;
    assert_eq!(status, 401, "a consumer session is no merchant credential");
    app.stop().await;
}

both_backends!(
    orders_above_the_payment_or_merchant_maximum_are_never_made,
    a_payer_is_told_at_scan_time_the_stall_takes_less,
    a_payer_over_their_limits_is_refused_without_saying_why,
    dynamic_code_paid_refunded_and_notified,
    a_static_code_takes_an_amount_and_above_the_free_amount_the_pin,
    codes_that_are_not_ours_or_not_codes_are_refused_in_words,
    closed_and_expired_orders_cannot_be_paid,
    an_altered_amount_in_a_dynamic_code_is_caught,
    cancelling_a_paid_order_refunds_it_in_full,
    pictures_are_read_for_payers_and_tills,
);
