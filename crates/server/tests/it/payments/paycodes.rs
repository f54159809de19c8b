//! Payment codes and confirmations over HTTP: one payment per code, guessing, device keys, the card fallback, privacy towards the merchant.

use super::*;

/// A payer's payment-code enrolment: its slot and secret.
struct Enrolment {
    slot: u64,
    secret: Vec<u8>,
}

impl Enrolment {
    /// The payer's current code of `variant`.
    fn code(&self, variant: u8) -> String {
        paycode::code_at(&self.secret, self.slot, variant, now_secs() as u64, 60).to_digits()
    }
}

async fn enrol(app: &TestApp, token: &str) -> Enrolment {
    let (status, enrolment) = app.as_user(token, "/v1/me/paycode", &json!({})).await;
    assert_eq!(status, 200, "{enrolment}");
    Enrolment {
        slot: enrolment["slot"].as_u64().unwrap(),
        secret: signing::decode_hex(enrolment["secret"].as_str().unwrap()).unwrap(),
    }
}

/// A payment-code order at `merchant`'s terminal.
fn charge(merchant: &Merchant, auth_code: String, no: &str, amount: &str) -> Value {
    json!({ "auth_code": auth_code, "out_trade_no": no, "amount": amount, "subject": "noodles",
            "terminal_id": merchant.terminal_id })
}

async fn payment_codes_pay_once_and_resist_guessing(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("张伟", "3000.00").await;
    let enrolment = enrol(&app, &token).await;
    let (p1, first_id) = a_payment_code_pays_once(&app, &merchant, &token, &enrolment).await;
    above_the_free_amount_the_payer_confirms_with_the_pin(&app, &merchant, &token, &enrolment)
        .await;
    guessing_costs_the_guesser_never_the_payer(&app, &merchant, &enrolment).await;
    let (status, again) = app
        .signed(&merchant, "POST", "/v1/merchant/orders/paycode", Some(&p1))
        .await;
    assert_eq!((status, &again["order_id"]), (200, &first_id), "{again}");
    app.stop().await;
}

/// A code pays once, even submitted at two terminals at once: the first order and its id.
async fn a_payment_code_pays_once(
    app: &TestApp,
    merchant: &Merchant,
    token: &str,
    enrolment: &Enrolment,
) -> (Value, Value) {
    let p1 = charge(merchant, enrolment.code(0), "P-1", "23.00");
    let (status, order) = app
        .signed(merchant, "POST", "/v1/merchant/orders/paycode", Some(&p1))
        .await;
    assert_eq!(status, 200, "{order}");
    let first_id = order["order_id"].clone();
    assert_eq!(
        (order["status"].as_str(), order["store_id"].as_str()),
        (Some("SUCCESS"), Some(merchant.store_id.as_str()))
    );
    // The POS retrying the same request gets the same order; the code itself is spent.
    let (status, retry) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge(merchant, enrolment.code(0), "P-1", "23.00")),
        )
        .await;
    assert_eq!((status, &retry["order_id"]), (200, &order["order_id"]));
    let (status, error) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge(merchant, enrolment.code(0), "P-2", "23.00")),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("paycode_used")),
        "{error}"
    );
    let (status, error) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge(merchant, "12345".into(), "P-3", "1.00")),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("paycode_invalid"))
    );

    // Two terminals submit the same fresh code at once: it pays once.
    let fresh = enrolment.code(1);
    let (first, second) = (
        charge(merchant, fresh.clone(), "P-A", "5.00"),
        charge(merchant, fresh.clone(), "P-B", "5.00"),
    );
    let (a, b) = tokio::join!(
        app.signed(
            merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&first)
        ),
        app.signed(
            merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&second)
        ),
    );
    let statuses = [a.0, b.0];
    assert!(
        statuses.contains(&200) && statuses.contains(&409),
        "{a:?} {b:?}"
    );
    assert_eq!(app.available(token).await, "2972.00");
    (p1, first_id)
}

/// Above the password-free amount: USERPAYING until the payer confirms with the PIN.
async fn above_the_free_amount_the_payer_confirms_with_the_pin(
    app: &TestApp,
    merchant: &Merchant,
    token: &str,
    enrolment: &Enrolment,
) {
    let (status, waiting) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge(merchant, enrolment.code(2), "P-BIG", "1500.00")),
        )
        .await;
    assert_eq!(
        (status, waiting["status"].as_str()),
        (200, Some("USERPAYING")),
        "{waiting}"
    );
    let (_, pending) = app.get_as(token, "/v1/me/payments/pending").await;
    let id = pending["payments"][0]["payment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id, waiting["order_id"].as_str().unwrap());
    let (status, error) = app
        .as_user(
            token,
            &format!("/v1/me/payments/{id}/confirm"),
            &json!({ "pin": "111222" }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("pin_incorrect"))
    );
    let (status, confirmed) = app
        .as_user(
            token,
            &format!("/v1/me/payments/{id}/confirm"),
            &json!({ "pin": "258036" }),
        )
        .await;
    assert_eq!(
        (status, confirmed["status"].as_str()),
        (200, Some("SUCCESS")),
        "{confirmed}"
    );
    let (_, polled) = app
        .signed(merchant, "GET", "/v1/merchant/orders/P-BIG", None)
        .await;
    assert_eq!(polled["status"], "SUCCESS");
    assert_eq!(app.available(token).await, "1472.00");
}

async fn guessing_costs_the_guesser_never_the_payer(
    app: &TestApp,
    merchant: &Merchant,
    enrolment: &Enrolment,
) {
    let slot = enrolment.slot;
    // The limits count per minute: start well inside one.
    while now_secs() % 60 > 25 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Guessing costs the guesser, never the payer. Wrong values for a real slot and codes
    // of slots that do not exist are answered alike, and spend the terminal's and the
    // merchant's guesses.
    let wrong = |n: u32| {
        paycode::PayCode {
            slot,
            variant: 9,
            otp: (n * 7919) % 10_000_000,
        }
        .to_digits()
    };
    let unknown = |n: u32| {
        paycode::PayCode {
            slot: slot + 1_000_000,
            variant: 1,
            otp: n,
        }
        .to_digits()
    };
    let mut answers = Vec::new();
    for n in 0..6 {
        let guess = if n % 2 == 0 { wrong(n) } else { unknown(n) };
        let (status, error) = app
            .signed(
                merchant,
                "POST",
                "/v1/merchant/orders/paycode",
                Some(&charge(merchant, guess, &format!("G-{n}"), "1.00")),
            )
            .await;
        answers.push((status, error["error"].clone()));
    }
    for answer in &answers[..5] {
        assert_eq!(
            answer, &answers[0],
            "a wrong value and an unknown slot look alike"
        );
    }
    assert_eq!(answers[0].0, 404);
    assert_eq!(answers[0].1["code"], "paycode_unknown");
    assert_eq!(
        (answers[5].0, answers[5].1["code"].as_str()),
        (429, Some("paycode_guesses_limited")),
        "5 a minute from one key: {answers:?}"
    );
    // The payer is not locked out, nor is the merchant: their real code pays at a till of its
    // own key.
    let tills = [
        app.till_key(merchant).await,
        app.till_key(merchant).await,
        app.till_key(merchant).await,
        app.till_key(merchant).await,
        app.till_key(merchant).await,
        app.till_key(merchant).await,
    ];
    let (status, paid) = app
        .signed(
            &tills[0],
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge(merchant, enrolment.code(3), "G-ok", "1.00")),
        )
        .await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("SUCCESS")),
        "{paid}"
    );
    // Across the merchant's credentials, 30 a minute (5 were spent above); once limited, a
    // POS retrying an order it already made still gets its answer.
    let mut limited = false;
    for n in 0..40 {
        let guess = charge(merchant, unknown(100 + n), &format!("U-{n}"), "1.00");
        let till = &tills[n as usize % tills.len()];
        let (status, error) = app
            .signed(till, "POST", "/v1/merchant/orders/paycode", Some(&guess))
            .await;
        if error["error"]["code"] == "paycode_guesses_limited" {
            assert_eq!(status, 429);
            assert_eq!(n, 25, "30 a minute, 5 of them spent above");
            limited = true;
            break;
        }
        assert_eq!(status, 404, "{error}");
    }
    assert!(limited, "unknown codes are limited per merchant");
}

async fn payment_codes_die_with_the_session(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("吴磊", "100.00").await;
    let (status, enrolment) = app.as_user(&token, "/v1/me/paycode", &json!({})).await;
    assert_eq!(status, 200, "{enrolment}");
    let slot = enrolment["slot"].as_u64().unwrap();
    let secret = signing::decode_hex(enrolment["secret"].as_str().unwrap()).unwrap();
    let code = paycode::code_at(&secret, slot, 0, now_secs() as u64, 60).to_digits();
    // Signing out is the owner saying "not this phone any more": its codes stop at once.
    let (status, _) = app.as_user(&token, "/v1/auth/sign-out", &json!({})).await;
    assert_eq!(status, 204);
    let (status, error) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&json!({ "auth_code": code, "out_trade_no": "GONE-1", "amount": "5.00", "subject": "tea" })),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("paycode_unknown")),
        "{error}"
    );
    app.stop().await;
}

async fn pay(app: &TestApp, token: &str, idempotency_key: &str, body: Value) -> (u16, Value) {
    app.money(token, "/v1/me/payments", idempotency_key, &body)
        .await
}

async fn devices_confirm_payments_in_place_of_the_pin(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let (token, device_id, key) = device_payer(&app, "李娜", "3000.00").await;
    let code = merchant.static_code.as_str();
    let device = (token.as_str(), device_id.as_str(), &key);
    a_device_pays_above_the_free_amount_once_turned_on(&app, device, code).await;
    a_device_signature_is_bound_to_its_payment(&app, device, code).await;
    turning_device_payments_off_or_a_new_key_stops_them(&app, device, code).await;
    app.stop().await;
}

/// A signed-in device: (token, device id, key).
type Device<'a> = (&'a str, &'a str, &'a SigningKey);

/// Not until the owner turns it on with the PIN; then above the password-free amount, the
/// device's signature stands in for the PIN.
async fn a_device_pays_above_the_free_amount_once_turned_on(
    app: &TestApp,
    (token, device_id, key): Device<'_>,
    code: &str,
) {
    let body = device_signed(key, device_id, "d1", code, "1000.01", now_secs());
    let (status, error) = pay(app, token, "d1", body.clone()).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("device_pay_not_enabled")),
        "{error}"
    );
    let (status, error) = app
        .as_user(token, "/v1/me/device-pay", &json!({ "pin": "111222" }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("pin_incorrect")),
        "{error}"
    );
    let (status, _) = app
        .as_user(token, "/v1/me/device-pay", &json!({ "pin": "258036" }))
        .await;
    assert_eq!(status, 204);

    // Above the password-free amount, the device's signature stands in for the PIN.
    let (status, paid) = pay(app, token, "d1", body.clone()).await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("SUCCESS")),
        "{paid}"
    );
    assert_eq!(app.available(token).await, "1999.99");
    // The same key and signature again: the same payment, not a second one.
    let (status, again) = pay(app, token, "d1", body).await;
    assert_eq!((status, &again["payment_id"]), (200, &paid["payment_id"]));
    // A retry whose signature has gone stale meanwhile still answers with that payment.
    let late = device_signed(key, device_id, "d1", code, "1000.01", now_secs() - 600);
    let (status, again) = pay(app, token, "d1", late).await;
    assert_eq!((status, &again["payment_id"]), (200, &paid["payment_id"]));
    assert_eq!(app.available(token).await, "1999.99");
}

/// A signature is bound to its payment: another amount, key or payload does not verify.
async fn a_device_signature_is_bound_to_its_payment(
    app: &TestApp,
    (token, device_id, key): Device<'_>,
    code: &str,
) {
    let mut tampered = device_signed(key, device_id, "d2", code, "10.00", now_secs());
    tampered["amount"] = json!("1000.00");
    let (status, error) = pay(app, token, "d2", tampered).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("device_signature_invalid")),
        "{error}"
    );
    let other_key = device_signed(key, device_id, "d3", code, "1000.00", now_secs());
    let (status, error) = pay(app, token, "d4", other_key).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("device_signature_invalid")),
        "{error}"
    );
    let stranger = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let forged = device_signed(&stranger, device_id, "d5", code, "1000.00", now_secs());
    let (status, error) = pay(app, token, "d5", forged).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("device_signature_invalid")),
        "{error}"
    );
    let stale = device_signed(key, device_id, "d6", code, "1000.00", now_secs() - 600);
    let (status, error) = pay(app, token, "d6", stale).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("device_signature_stale")),
        "{error}"
    );
    let mut both = device_signed(key, device_id, "d7", code, "1000.00", now_secs());
    both["pin"] = json!("258036");
    let (status, error) = pay(app, token, "d7", both).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("confirmation_ambiguous")),
        "{error}"
    );
    let mut half = device_signed(key, device_id, "d8", code, "1000.00", now_secs());
    half.as_object_mut().unwrap().remove("signed_at");
    let (status, error) = pay(app, token, "d8", half).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("device_signature_incomplete")),
        "{error}"
    );
    assert_eq!(
        app.available(token).await,
        "1999.99",
        "refusals took nothing"
    );
}

async fn turning_device_payments_off_or_a_new_key_stops_them(
    app: &TestApp,
    (token, device_id, key): Device<'_>,
    code: &str,
) {
    // Turning device payments off takes effect at once, though the key was just used.
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            "/v1/me/device-pay",
            Some(token),
            None,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let body = device_signed(key, device_id, "d8b", code, "20.00", now_secs());
    let (status, error) = pay(app, token, "d8b", body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("device_pay_not_enabled")),
        "{error}"
    );
    let (status, _) = app
        .as_user(token, "/v1/me/device-pay", &json!({ "pin": "258036" }))
        .await;
    assert_eq!(status, 204);

    // Signing in again on this device with another key turns device payments off.
    let number = app.phone_of(token).await;
    let new_key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let again = app
        .sign_in_device(
            &number,
            json!({ "name": "Li Na's phone", "id": device_id,
                    "public_key": signing::hex(new_key.verifying_key().as_bytes()) }),
        )
        .await;
    assert_eq!(again["device_id"].as_str(), Some(device_id));
    let body = device_signed(&new_key, device_id, "d9", code, "20.00", now_secs());
    let (status, error) = pay(app, token, "d9", body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("device_pay_not_enabled")),
        "{error}"
    );
}

async fn a_device_without_a_good_key_cannot_pay_by_signature(db: TestDb) {
    let app = TestApp::spawn(db).await;
    // A device that registered no key cannot be turned on; a weak key is refused at sign-in.
    let plain = app.consumer().await;
    let (status, error) = app
        .as_user(&plain, "/v1/me/device-pay", &json!({ "pin": "258036" }))
        .await;
    assert_eq!(status, 409, "{error}");
    let (status, error) = app
        .post_anon(
            "/v1/auth/sign-in",
            &json!({ "phone": phone(), "code": "123456",
                     "device": { "name": "x", "public_key": "00".repeat(32) } }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("device_public_key_invalid")),
        "{error}"
    );
    app.stop().await;
}

/// The payer's bank does not answer while their card would cover a payment code: the cashier
/// learns the payment is not confirmed yet, not that a bank or a card is involved.
async fn a_payers_bank_is_never_named_to_the_merchant(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("郑洁", "1.00").await;
    let (_, cards) = app.get_as(&token, "/v1/me/cards").await;
    let card_id = cards["cards"][0]["id"].clone();
    let (status, chosen) = app
        .call(
            reqwest::Method::PUT,
            "/v1/me/payment-card",
            Some(&token),
            None,
            Some(&json!({ "card_id": card_id, "pin": "258036" })),
        )
        .await;
    assert_eq!(status, 200, "{chosen}");
    let (status, enrolment) = app.as_user(&token, "/v1/me/paycode", &json!({})).await;
    assert_eq!(status, 200, "{enrolment}");
    let slot = enrolment["slot"].as_u64().unwrap();
    let secret = signing::decode_hex(enrolment["secret"].as_str().unwrap()).unwrap();
    let mut down = app.setup.clone();
    down.bank.unavailable_ppm = 1_000_000;
    let app = app.restart_with(down).await;
    let auth_code = paycode::code_at(&secret, slot, 0, now_secs() as u64, 60).to_digits();
    let (status, error) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(
                &json!({ "auth_code": auth_code, "out_trade_no": "BANK-DOWN-1",
                          "amount": "5.00", "subject": "tea" }),
            ),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("buyer_payment_pending")),
        "{error}"
    );
    assert!(!error.to_string().contains("bank"), "{error}");
    app.stop().await;
}

async fn a_chosen_card_covers_a_short_balance(db: TestDb) {
    // Each card holds 50 CNY at the simulated bank: 10 + 15 + 5 are debited below, then 30
    // is more than it has.
    let mut setup = Setup::default();
    setup.bank.card_balance_minor = 5_000;
    let app = TestApp::spawn_with(db, setup).await;
    let merchant = app.merchant(None).await;
    let token = app.verified("李娜").await;
    let card = app.link_card(&token, &card(ICBC), "李娜").await;
    let card_id = card["id"].as_str().unwrap().to_owned();
    let top_up = app.top_up(&token, &card_id, "10.00").await;
    assert_eq!(top_up["status"], "succeeded", "{top_up}");
    let code = merchant.static_code.as_str();
    a_card_is_chosen_only_with_the_pin(&app, &merchant, &token, &card_id).await;
    let enrolment = the_card_covers_what_the_balance_is_short(&app, &merchant, &token).await;
    a_declined_card_pays_nothing(&app, &merchant, &token, &enrolment).await;

    // Unlinking the card ends the fallback.
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/me/cards/{card_id}"),
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, chosen) = app.get_as(&token, "/v1/me/payment-card").await;
    assert_eq!(chosen["card_id"], Value::Null);
    let (status, error) = app
        .pay_code(&token, code, json!({ "amount": "1.00" }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("insufficient_balance")),
        "{error}"
    );
    app.stop().await;
}

/// No card chosen: a short balance is refused and nothing moves; choosing one takes the PIN.
async fn a_card_is_chosen_only_with_the_pin(
    app: &TestApp,
    merchant: &Merchant,
    token: &str,
    card_id: &str,
) {
    let code = merchant.static_code.as_str();
    let (status, error) = app
        .pay_code(token, code, json!({ "amount": "25.00" }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("insufficient_balance")),
        "{error}"
    );
    let (status, chosen) = app.get_as(token, "/v1/me/payment-card").await;
    assert_eq!((status, &chosen["card_id"]), (200, &Value::Null));
    let unknown = app
        .call(
            reqwest::Method::PUT,
            "/v1/me/payment-card",
            Some(token),
            None,
            Some(&json!({ "card_id": "00000000-0000-7000-8000-000000000000", "pin": "258036" })),
        )
        .await;
    assert_eq!(
        (unknown.0, unknown.1["error"]["code"].as_str()),
        (404, Some("card_not_found")),
        "{}",
        unknown.1
    );
    let (status, chosen) = app
        .call(
            reqwest::Method::PUT,
            "/v1/me/payment-card",
            Some(token),
            None,
            Some(&json!({ "card_id": card_id })),
        )
        .await;
    assert_eq!(
        (status, chosen["error"]["code"].as_str()),
        (422, Some("pin_required")),
        "choosing a card takes the PIN: {chosen}"
    );
    let (status, chosen) = app
        .call(
            reqwest::Method::PUT,
            "/v1/me/payment-card",
            Some(token),
            None,
            Some(&json!({ "card_id": card_id, "pin": "258036" })),
        )
        .await;
    assert_eq!((status, chosen["card_id"].as_str()), (200, Some(card_id)));
}

/// With the card: the 15.00 short is debited from it, then the whole 25.00 is paid; the
/// cashier scanning the payer's code: the card covers that too. The payer's enrolment.
async fn the_card_covers_what_the_balance_is_short(
    app: &TestApp,
    merchant: &Merchant,
    token: &str,
) -> Enrolment {
    let code = merchant.static_code.as_str();
    let body = json!({ "payload": code, "amount": "25.00" });
    let (status, paid) = app.money(token, "/v1/me/payments", "card-1", &body).await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("SUCCESS")),
        "{paid}"
    );
    assert_eq!(app.available(token).await, "0.00");
    // A retry is the same payment, and the card is not debited again.
    let (status, again) = app.money(token, "/v1/me/payments", "card-1", &body).await;
    assert_eq!((status, &again["payment_id"]), (200, &paid["payment_id"]));
    let (_, page) = app.get_as(token, "/v1/me/statement?limit=10").await;
    let lines: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["kind"].as_str().unwrap().to_owned(),
                item["amount"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("payment", "-25.00"),
        ("top_up", "15.00"),
        ("top_up", "10.00"),
    ]
    .iter()
    .map(|(kind, amount)| ((*kind).to_owned(), (*amount).to_owned()))
    .collect();
    assert_eq!(lines, expected, "{page}");

    let enrolment = enrol(app, token).await;
    let auth_code = enrolment.code(0);
    let (status, order) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(
                &json!({ "auth_code": auth_code, "out_trade_no": "CARD-PC-1",
                          "amount": "5.00", "subject": "tea" }),
            ),
        )
        .await;
    assert_eq!(
        (status, order["status"].as_str()),
        (200, Some("SUCCESS")),
        "{order}"
    );
    assert_eq!(app.available(token).await, "0.00");
    enrolment
}

/// The card holds 20.00 now: the bank declines a 30.00 debit, and nothing is paid.
async fn a_declined_card_pays_nothing(
    app: &TestApp,
    merchant: &Merchant,
    token: &str,
    enrolment: &Enrolment,
) {
    let code = merchant.static_code.as_str();
    let (status, error) = app
        .pay_code(token, code, json!({ "amount": "30.00" }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("card_payment_failed")),
        "{error}"
    );
    assert_eq!(app.available(token).await, "0.00");
    // The cashier's side learns only that the payer cannot pay: no card, balance or reason.
    let auth_code = enrolment.code(1);
    let (status, error) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(
                &json!({ "auth_code": auth_code, "out_trade_no": "CARD-PC-2",
                          "amount": "30.00", "subject": "tea" }),
            ),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("buyer_balance_not_enough")),
        "{error}"
    );
    assert!(error["error"]["details"].is_null(), "{error}");
}

both_backends!(
    payment_codes_pay_once_and_resist_guessing,
    payment_codes_die_with_the_session,
    devices_confirm_payments_in_place_of_the_pin,
    a_device_without_a_good_key_cannot_pay_by_signature,
    a_payers_bank_is_never_named_to_the_merchant,
    a_chosen_card_covers_a_short_balance,
);
