//! The consumer API over HTTP, on both backends: each rule of sign-in, real name, PIN, cards,
//! top-up, withdrawal, limits and statement, and each bad input.

use std::time::Duration;

use cashless_consumer::resident_id::check_character;
use cashless_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::{Setup, TOKEN, TestApp, read};

pub(crate) use cashless_testkit::people::{ICBC, card, phone, resident_id, serial};

pub(crate) fn code_in(text: &str) -> String {
    cashless_partners::sms::code_in(text)
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned()
}

impl TestApp {
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        if response.status().as_u16() == 204 {
            return (204, Value::Null);
        }
        read(response).await
    }

    pub(crate) async fn as_user(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(token), None, Some(body))
            .await
    }

    pub(crate) async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None, None)
            .await
    }

    pub(crate) async fn money(
        &self,
        token: &str,
        path: &str,
        key: &str,
        body: &Value,
    ) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            path,
            Some(token),
            Some(key),
            Some(body),
        )
        .await
    }

    /// The newest text message to `phone`, read through the operator's outbox endpoint.
    pub(crate) async fn last_sms(&self, phone: &str) -> String {
        let (status, body) = self
            .get(&format!(
                "/v1/operator/sms?phone={}",
                phone.replace('+', "%2B")
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        body["messages"][0]["text"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn sign_in(&self, phone: &str, device: &str) -> Value {
        self.sign_in_device(phone, json!({ "name": device })).await
    }

    /// Signs in with the SMS code from `device` (`{ name, public_key?, device_id? }`).
    pub(crate) async fn sign_in_device(&self, phone: &str, device: Value) -> Value {
        let (status, body) = self
            .post_anon("/v1/auth/sms-codes", &json!({ "phone": phone }))
            .await;
        assert_eq!(status, 200, "{body}");
        let code = code_in(&self.last_sms(phone).await);
        let (status, body) = self
            .post_anon(
                "/v1/auth/sign-in",
                &json!({ "phone": phone, "code": code, "device": device }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub(crate) async fn post_anon(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, None, None, Some(body))
            .await
    }

    /// A new consumer at L0; answers the session token.
    pub(crate) async fn consumer(&self) -> String {
        let body = self.sign_in(&phone(), "test phone").await;
        body["token"].as_str().unwrap().to_owned()
    }

    /// A consumer verified with a resident ID (L1) and a PIN.
    pub(crate) async fn verified(&self, name: &str) -> String {
        let token = self.consumer().await;
        self.verify(&token, name).await;
        token
    }

    /// Verifies the consumer's real name with a resident ID and sets the PIN 258036.
    pub(crate) async fn verify(&self, token: &str, name: &str) {
        let (status, body) = self
            .as_user(
                token,
                "/v1/me/identity",
                &json!({ "kind": "resident_id", "name": name, "number": resident_id("19900307") }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .as_user(token, "/v1/me/pin", &json!({ "pin": "258036" }))
            .await;
        assert_eq!(status, 204, "{body}");
    }

    /// Links `number` for the consumer (holder `name`), confirming with the bank's text.
    pub(crate) async fn link_card(&self, token: &str, number: &str, name: &str) -> Value {
        let (status, binding) = self
            .as_user(
                token,
                "/v1/me/cards",
                &json!({ "number": number, "holder_name": name }),
            )
            .await;
        assert_eq!(status, 200, "{binding}");
        let phone = self.phone_of(token).await;
        let otp = code_in(&self.sms.messages_to(&phone)[0].text);
        let id = binding["binding_id"].as_str().unwrap();
        let (status, card) = self
            .as_user(
                token,
                &format!("/v1/me/cards/bindings/{id}/confirm"),
                &json!({ "otp": otp }),
            )
            .await;
        assert_eq!(status, 200, "{card}");
        card
    }

    /// The full phone number of a consumer (the API masks it; the test reads the outbox).
    pub(crate) async fn phone_of(&self, token: &str) -> String {
        let session = self.wallet.authenticate(token).await.unwrap();
        let messages = self.sms.recent(usize::MAX);
        let devices = self.wallet.devices(&session).await.unwrap();
        assert!(!devices.is_empty());
        let (_, me) = self.get_as(token, "/v1/me").await;
        let masked = me["phone"].as_str().unwrap().to_owned();
        let tail = &masked[masked.len() - 4..];
        messages
            .iter()
            .map(|m| m.phone.clone())
            .find(|p| p.ends_with(tail) && p.len() == masked.len())
            .unwrap()
    }

    /// Polls a top-up or withdrawal until the bank's answer is recorded.
    pub(crate) async fn settled(&self, token: &str, path: &str) -> Value {
        for _ in 0..200 {
            let (status, body) = self.get_as(token, path).await;
            assert_eq!(status, 200, "{body}");
            if body["status"] != "processing" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{path} still processing");
    }

    pub(crate) async fn top_up(&self, token: &str, card_id: &str, amount: &str) -> Value {
        let key = format!("topup-{}", serial());
        let (status, body) = self
            .money(
                token,
                "/v1/me/topups",
                &key,
                &json!({ "card_id": card_id, "amount": amount }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let id = body["id"].as_str().unwrap();
        self.settled(token, &format!("/v1/me/topups/{id}")).await
    }
}

async fn sign_up_sign_in_and_sessions(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let phone = phone();

    // Bad numbers are refused.
    let (status, body) = app
        .post_anon("/v1/auth/sms-codes", &json!({ "phone": "12345" }))
        .await;
    assert_eq!(status, 422, "{body}");

    let (status, body) = app
        .post_anon("/v1/auth/sms-codes", &json!({ "phone": phone }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in_secs"], 300);
    assert!(
        !body["phone"].as_str().unwrap().contains(&phone[6..10]),
        "{body}"
    );
    let code = code_in(&app.last_sms(&phone).await);

    // A wrong code counts an attempt and says how many are left.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = app
        .post_anon(
            "/v1/auth/sign-in",
            &json!({ "phone": phone, "code": wrong }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("sms_code_invalid"))
    );
    assert_eq!(body["error"]["details"]["attempts_left"], 4);

    let device_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let public_key = cashless_payments::signing::hex(device_key.verifying_key().as_bytes());
    let (status, first) = app
        .post_anon(
            "/v1/auth/sign-in",
            &json!({ "phone": phone, "code": code,
                     "device": { "name": "Li Na's phone", "public_key": public_key } }),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["new_user"], true);
    assert_eq!(first["kyc_level"], "L0");
    let token = first["token"].as_str().unwrap().to_owned();

    // The code is single use.
    let (status, body) = app
        .post_anon("/v1/auth/sign-in", &json!({ "phone": phone, "code": code }))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("sms_code_used"))
    );

    let (status, me) = app.get_as(&token, "/v1/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["kyc_level"], "L0");
    assert_eq!(
        me["balance"]["available"],
        json!({ "amount": "0.00", "currency": "CNY" })
    );
    assert_eq!(me["limits"]["remaining_today"]["amount"], "0.00");

    // A second device: same user, another session.
    let second = app.sign_in(&phone, "tablet").await;
    assert_eq!(second["new_user"], false);
    assert_eq!(second["user_id"], first["user_id"]);
    let token2 = second["token"].as_str().unwrap().to_owned();
    let (_, devices) = app.get_as(&token2, "/v1/me/devices").await;
    let devices = devices["devices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 2);
    assert!(
        devices
            .iter()
            .any(|d| d["public_key"] == public_key.as_str())
    );
    assert_eq!(devices.iter().filter(|d| d["current"] == true).count(), 1);

    sessions_end_as_asked(&app, &phone, &token, &token2).await;
    app.stop().await;
}

/// Bad tokens open nothing; sessions end one, by device, or everywhere.
async fn sessions_end_as_asked(app: &TestApp, phone: &str, token: &str, token2: &str) {
    // No token, a malformed token, a made-up token: 401.
    for bad in [
        None,
        Some("nonsense"),
        Some(&*format!("cls_{}", "0".repeat(64))),
    ] {
        let (status, body) = app
            .call(reqwest::Method::GET, "/v1/me", bad, None, None)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthorized"))
        );
    }
    // The operator token is not a consumer session, and a session is not the operator.
    let (status, _) = app.get_as(TOKEN, "/v1/me").await;
    assert_eq!(status, 401);
    let (status, _) = app
        .get_as(
            token,
            &format!("/v1/operator/sms?phone={}", phone.replace('+', "%2B")),
        )
        .await;
    assert_eq!(status, 401);

    // Sign out ends only this session.
    let (status, _) = app.as_user(token, "/v1/auth/sign-out", &json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(app.get_as(token, "/v1/me").await.0, 401);
    assert_eq!(app.get_as(token2, "/v1/me").await.0, 200);

    // Removing a device ends its sessions; everywhere ends all.
    let third = app.sign_in(phone, "laptop").await;
    let token3 = third["token"].as_str().unwrap();
    assert_eq!(app.get_as(token3, "/v1/me").await.0, 200);
    let path = format!("/v1/me/devices/{}", third["device_id"].as_str().unwrap());
    let (status, _) = app
        .call(reqwest::Method::DELETE, &path, Some(token2), None, None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.get_as(token3, "/v1/me").await.0, 401);
    let (status, _) = app
        .call(reqwest::Method::DELETE, &path, Some(token2), None, None)
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .as_user(token2, "/v1/auth/sign-out-everywhere", &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.get_as(token2, "/v1/me").await.0, 401);
}

async fn sms_codes_expire_are_limited_and_rate_limited(db: TestDb) {
    let mut setup = Setup::default();
    setup.wallet.sms_code_validity = Duration::from_millis(300);
    setup.wallet.sms_resend_after = Duration::from_millis(200);
    setup.wallet.sms_daily_max = 3;
    let app = TestApp::spawn_with(db, setup).await;
    let phone = phone();
    let request = json!({ "phone": phone });
    let send = || app.post_anon("/v1/auth/sms-codes", &request);

    assert_eq!(send().await.0, 200);
    let (status, body) = send().await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("sms_too_soon")),
        "{body}"
    );
    assert!(
        body["error"]["details"]["retry_after_secs"]
            .as_u64()
            .unwrap()
            >= 1
    );

    // Expired.
    let code = code_in(&app.last_sms(&phone).await);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, body) = app
        .post_anon("/v1/auth/sign-in", &json!({ "phone": phone, "code": code }))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("sms_code_expired"))
    );

    // Five wrong attempts kill the code, even for the right one afterwards.
    assert_eq!(send().await.0, 200);
    let code = code_in(&app.last_sms(&phone).await);
    let wrong = if code == "999999" { "888888" } else { "999999" };
    for left in (0..5).rev() {
        let (status, body) = app
            .post_anon(
                "/v1/auth/sign-in",
                &json!({ "phone": phone, "code": wrong }),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["details"]["attempts_left"], left);
    }
    let (status, body) = app
        .post_anon("/v1/auth/sign-in", &json!({ "phone": phone, "code": code }))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("sms_code_attempts_exceeded"))
    );

    // Only the newest code counts.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(send().await.0, 200);
    let (status, body) = app
        .post_anon("/v1/auth/sign-in", &json!({ "phone": phone, "code": code }))
        .await;
    assert_eq!(status, 422, "{body}");

    // Three codes a day.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (status, body) = send().await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("sms_daily_limit")),
        "{body}"
    );
    app.stop().await;
}

async fn a_used_code_lets_its_owner_ask_again_at_once(db: TestDb) {
    let mut setup = Setup::default();
    setup.wallet.sms_resend_after = Duration::from_secs(60);
    let app = TestApp::spawn_with(db, setup).await;
    let phone = phone();
    app.sign_in(&phone, "first phone").await;
    // The last code was used: a second device may ask at once …
    let request = json!({ "phone": phone });
    let (status, body) = app.post_anon("/v1/auth/sms-codes", &request).await;
    assert_eq!(status, 200, "{body}");
    // … but not while that new code waits unused.
    let (status, body) = app.post_anon("/v1/auth/sms-codes", &request).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("sms_too_soon")),
        "{body}"
    );
    app.stop().await;
}

async fn real_name_with_resident_id(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.consumer().await;
    let verify = |token: String, body: Value| {
        let app = &app;
        async move { app.as_user(&token, "/v1/me/identity", &body).await }
    };

    let good = resident_id("19900307");
    let mut bad_check = good.clone();
    let last = bad_check.pop().unwrap();
    bad_check.push(if last == '1' { '2' } else { '1' });
    let impossible_date = {
        let first = format!("33010619990231{:03}", serial() % 1000);
        format!("{first}{}", check_character(first.as_bytes()) as char)
    };
    let future = {
        let first = format!("330106209901010{:02}", serial() % 100);
        format!("{first}{}", check_character(first.as_bytes()) as char)
    };
    for (number, code) in [
        (bad_check.as_str(), "id_number_check_character"),
        (impossible_date.as_str(), "id_number_birth_date"),
        (future.as_str(), "id_number_birth_date"),
        ("99010619900307123X", "id_number_area_code"),
        ("33010619900307", "id_number_syntax"),
    ] {
        let (status, body) = verify(
            token.clone(),
            json!({ "kind": "resident_id", "name": "王小明", "number": number }),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some(code)),
            "{number}: {body}"
        );
    }
    let (status, body) = verify(
        token.clone(),
        json!({ "kind": "resident_id", "name": "", "number": good }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("name_invalid"))
    );
    let (status, body) = verify(token.clone(), json!({ "kind": "driving_licence" })).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );

    let (status, me) = verify(
        token.clone(),
        json!({ "kind": "resident_id", "name": "王小明", "number": good }),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["kyc_level"], "L1");
    assert_eq!(me["real_name"], "王小明");
    assert_eq!(me["limits"]["daily"]["amount"], "5000.00");
    let masked = me["id_number"].as_str().unwrap();
    assert!(!masked.contains(&good[6..14]), "{masked}");

    let (status, body) = verify(
        token.clone(),
        json!({ "kind": "resident_id", "name": "王小明", "number": resident_id("19851111") }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_verified"))
    );

    // One identity verifies one account.
    let other = app.consumer().await;
    let (status, body) = verify(
        other.clone(),
        json!({ "kind": "resident_id", "name": "王小明", "number": good.to_lowercase() }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("identity_already_used"))
    );
    let (_, me) = app.get_as(&other, "/v1/me").await;
    assert_eq!(me["kyc_level"], "L0");

    app.stop().await;
}

async fn a_visitor_verifies_with_a_passport(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let other = app.consumer().await;
    let verify = |token: String, body: Value| {
        let app = &app;
        async move { app.as_user(&token, "/v1/me/identity", &body).await }
    };
    // A visitor's passport.
    let passport = json!({ "kind": "passport", "name": "Emma Clarke", "country": "GBR",
                           "number": format!("5{:08}", serial()), "nationality": "GBR",
                           "date_of_birth": "1991-04-12" });
    let mut bad = passport.clone();
    bad["country"] = json!("QQQ");
    let (status, body) = verify(other.clone(), bad).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("passport_country"))
    );
    let mut bad = passport.clone();
    bad["date_of_birth"] = json!("2999-01-01");
    let (status, body) = verify(other.clone(), bad).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("passport_date_of_birth"))
    );
    let (status, me) = verify(other.clone(), passport.clone()).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["kyc_level"].as_str(), me["nationality"].as_str()),
        (Some("L1"), Some("GBR"))
    );
    let third = app.consumer().await;
    let (status, _) = verify(third, passport).await;
    assert_eq!(status, 409);
    app.stop().await;
}

/// Changes the PIN with the old one.
async fn change_pin(app: &TestApp, token: &str, old: &str, new: &str) -> (u16, Value) {
    let body = json!({ "old_pin": old, "new_pin": new });
    app.as_user(token, "/v1/me/pin/change", &body).await
}

async fn pin_rules_and_lock_out(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.consumer().await;
    for (pin, code) in [
        ("123456", "pin_too_simple"),
        ("111111", "pin_too_simple"),
        ("12345", "pin_syntax"),
        ("12a456", "pin_syntax"),
    ] {
        let (status, body) = app
            .as_user(&token, "/v1/me/pin", &json!({ "pin": pin }))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some(code)),
            "{pin}"
        );
    }
    let (status, body) = change_pin(&app, &token, "258036", "369147").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("pin_not_set"))
    );

    assert_eq!(
        app.as_user(&token, "/v1/me/pin", &json!({ "pin": "258036" }))
            .await
            .0,
        204
    );
    let (status, body) = app
        .as_user(&token, "/v1/me/pin", &json!({ "pin": "369147" }))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("pin_already_set"))
    );
    let (_, me) = app.get_as(&token, "/v1/me").await;
    assert_eq!(me["pin_set"], true);
    assert!(!me.to_string().contains("argon2"), "{me}");

    // Neither or both proofs.
    let (status, _) = app
        .as_user(&token, "/v1/me/pin/change", &json!({ "new_pin": "369147" }))
        .await;
    assert_eq!(status, 422);

    // An empty PIN is not a try: refused as missing, and the countdown below starts at 4.
    for empty in ["", "  "] {
        let (status, body) = change_pin(&app, &token, empty, "369147").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("pin_missing")),
            "{body}"
        );
    }

    // Four wrong PINs count down; the fifth locks; then even the right PIN is refused.
    for left in (1..5).rev() {
        let (status, body) = change_pin(&app, &token, "000001", "369147").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("pin_incorrect")),
            "{body}"
        );
        assert_eq!(body["error"]["details"]["attempts_left"], left);
    }
    let (status, body) = change_pin(&app, &token, "000001", "369147").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (423, Some("pin_locked")),
        "{body}"
    );
    assert!(body["error"]["details"]["locked_until"].is_string());
    // The message gives the time as a clock reads it, not as a timestamp.
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("(UTC+8)") && !message.contains('Z'),
        "{message}"
    );
    let (status, _) = change_pin(&app, &token, "258036", "369147").await;
    assert_eq!(status, 423);
    let (_, me) = app.get_as(&token, "/v1/me").await;
    assert!(me["pin_locked_until"].is_string(), "{me}");

    the_sms_route_resets_the_pin_and_lifts_the_lock(&app, &token).await;
    app.stop().await;
}

/// The SMS route resets the PIN and lifts the lock; a wrong code does neither.
async fn the_sms_route_resets_the_pin_and_lifts_the_lock(app: &TestApp, token: &str) {
    let (status, body) = app
        .as_user(token, "/v1/me/pin/reset-code", &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let phone = app.phone_of(token).await;
    let code = code_in(&app.sms.messages_to(&phone)[0].text);
    let wrong = if code == "999999" { "888888" } else { "999999" };
    let (status, body) = app
        .as_user(
            token,
            "/v1/me/pin/change",
            &json!({ "sms_code": wrong, "new_pin": "369147" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("sms_code_invalid"))
    );
    let (status, body) = app
        .as_user(
            token,
            "/v1/me/pin/change",
            &json!({ "sms_code": code, "new_pin": "369147" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = change_pin(app, token, "369147", "369147").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("pin_unchanged"))
    );
    assert_eq!(change_pin(app, token, "369147", "470258").await.0, 204);
    let (_, me) = app.get_as(token, "/v1/me").await;
    assert!(me["pin_locked_until"].is_null(), "{me}");
}

async fn cards_link_with_the_banks_code_and_set_the_level(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let unverified = app.consumer().await;
    let number = card(ICBC);
    let (status, body) = app
        .as_user(
            &unverified,
            "/v1/me/cards",
            &json!({ "number": number, "holder_name": "李娜" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("real_name_required"))
    );

    let token = app.verified("李娜").await;
    let mut bad_luhn = number.clone();
    let last = bad_luhn.pop().unwrap();
    bad_luhn.push(if last == '0' { '1' } else { '0' });
    let (status, body) = app
        .as_user(
            &token,
            "/v1/me/cards",
            &json!({ "number": bad_luhn, "holder_name": "李娜" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("card_number_luhn"))
    );
    let (status, body) = app
        .as_user(
            &token,
            "/v1/me/cards",
            &json!({ "number": number, "holder_name": "张伟" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("card_holder_mismatch"))
    );

    // A wrong bank code, then the right one.
    let (status, binding) = app
        .as_user(
            &token,
            "/v1/me/cards",
            &json!({ "number": number, "holder_name": "李娜" }),
        )
        .await;
    assert_eq!(status, 200, "{binding}");
    assert_eq!(
        binding["issuer_name"],
        "Industrial and Commercial Bank of China"
    );
    let id = binding["binding_id"].as_str().unwrap();
    let phone = app.phone_of(&token).await;
    let otp = code_in(&app.sms.messages_to(&phone)[0].text);
    let wrong = if otp == "999999" { "888888" } else { "999999" };
    let confirm = format!("/v1/me/cards/bindings/{id}/confirm");
    let (status, body) = app
        .as_user(&token, &confirm, &json!({ "otp": wrong }))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("otp_invalid"))
    );
    // Another user cannot confirm it.
    let (status, _) = app
        .as_user(&unverified, &confirm, &json!({ "otp": otp }))
        .await;
    assert_eq!(status, 404);
    let (status, card) = app.as_user(&token, &confirm, &json!({ "otp": otp })).await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["last4"], &number[number.len() - 4..]);
    assert_eq!(
        (card["network"].as_str(), card["kind"].as_str()),
        (Some("unionpay"), Some("debit"))
    );
    // Confirming again answers the same card.
    let (status, again) = app.as_user(&token, &confirm, &json!({ "otp": otp })).await;
    assert_eq!((status, &again["id"]), (200, &card["id"]));

    a_linked_card_sets_the_level_until_it_is_removed(&app, (&token, &unverified), &number, &card)
        .await;
    app.stop().await;
}

/// A linked card sets the level (L2), is linked once, and removing the last one returns to L1.
async fn a_linked_card_sets_the_level_until_it_is_removed(
    app: &TestApp,
    (token, unverified): (&str, &str),
    number: &str,
    card: &Value,
) {
    let (_, me) = app.get_as(token, "/v1/me").await;
    assert_eq!(me["kyc_level"], "L2");
    assert_eq!(me["limits"]["single"]["amount"], "20000.00");
    let (_, cards) = app.get_as(token, "/v1/me/cards").await;
    assert_eq!(cards["cards"].as_array().unwrap().len(), 1);
    assert!(
        !cards.to_string().contains(&number[..12]),
        "the full number leaked: {cards}"
    );

    let (status, body) = app
        .as_user(
            token,
            "/v1/me/cards",
            &json!({ "number": number, "holder_name": "李娜" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("card_already_linked"))
    );

    // Another user's card id is not found; removing the last card returns to L1.
    let path = format!("/v1/me/cards/{}", card["id"].as_str().unwrap());
    let (status, _) = app
        .call(reqwest::Method::DELETE, &path, Some(unverified), None, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(reqwest::Method::DELETE, &path, Some(token), None, None)
        .await;
    assert_eq!(status, 204);
    let (_, me) = app.get_as(token, "/v1/me").await;
    assert_eq!(me["kyc_level"], "L1");
}

async fn top_up_withdraw_and_statement(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.verified("李娜").await;
    let card = app.link_card(&token, &card(ICBC), "李娜").await;
    let card_id = card["id"].as_str().unwrap();
    let id = a_top_up_needs_a_key_and_is_made_once(&app, &token, card_id).await;
    let other =
        ids_that_are_not_ids_and_others_top_ups_are_not_found(&app, &token, card_id, &id).await;
    a_withdrawal_needs_the_pin_and_holds_the_balance_at_once(&app, &token, card_id, &id).await;
    the_statement_pages_newest_first(&app, (&token, &other), card_id, &id).await;

    // A card with money in flight cannot be removed.
    let (status, _) = app
        .money(
            &token,
            "/v1/me/topups",
            "k-inflight",
            &json!({ "card_id": card_id, "amount": "1.00" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, err) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/me/cards/{card_id}"),
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("card_in_use"))
    );
    app.stop().await;
}

/// Money-moving POSTs need an Idempotency-Key; a top-up of 100.00 is made once: its id.
async fn a_top_up_needs_a_key_and_is_made_once(
    app: &TestApp,
    token: &str,
    card_id: &str,
) -> String {
    let body = json!({ "card_id": card_id, "amount": "100.00" });
    let (status, err) = app.as_user(token, "/v1/me/topups", &body).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("idempotency_key_required"))
    );
    // The missing key is said first, whatever else is wrong with the request.
    for (path, junk) in [
        ("/v1/me/topups", json!({ "card_id": "nope", "amount": "0" })),
        (
            "/v1/me/withdrawals",
            json!({ "card_id": "nope", "amount": "0", "pin": "1" }),
        ),
        ("/v1/me/payments", json!({ "payload": "x", "amount": "0" })),
    ] {
        let (status, err) = app.as_user(token, path, &junk).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (422, Some("idempotency_key_required")),
            "{path}"
        );
    }
    for (amount, code) in [
        ("0", "amount_invalid"),
        ("-5", "amount_invalid"),
        ("1.234", "amount_invalid"),
    ] {
        let (status, err) = app
            .money(
                token,
                "/v1/me/topups",
                "k-bad",
                &json!({ "card_id": card_id, "amount": amount }),
            )
            .await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (422, Some(code)),
            "{amount}"
        );
    }

    let (status, first) = app.money(token, "/v1/me/topups", "k-1", &body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "processing");
    assert_eq!(
        first["amount"],
        json!({ "amount": "100.00", "currency": "CNY" })
    );
    // Incoming, not spendable yet.
    let (_, me) = app.get_as(token, "/v1/me").await;
    assert_eq!(me["balance"]["available"]["amount"], "0.00");
    assert_eq!(me["balance"]["incoming"]["amount"], "100.00");

    // A retry answers the same top-up; the same key for something else is refused.
    let (status, again) = app.money(token, "/v1/me/topups", "k-1", &body).await;
    assert_eq!((status, &again["id"]), (200, &first["id"]));
    let (status, err) = app
        .money(
            token,
            "/v1/me/topups",
            "k-1",
            &json!({ "card_id": card_id, "amount": "200.00" }),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    let id = first["id"].as_str().unwrap();
    let done = app.settled(token, &format!("/v1/me/topups/{id}")).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let (_, me) = app.get_as(token, "/v1/me").await;
    assert_eq!(me["balance"]["available"]["amount"], "100.00");
    id.to_owned()
}

/// Ids that are not ids are simply not found (on both backends alike), and another user sees
/// nothing of the top-up `id`: that user's token.
async fn ids_that_are_not_ids_and_others_top_ups_are_not_found(
    app: &TestApp,
    token: &str,
    card_id: &str,
    id: &str,
) -> String {
    for path in [
        "/v1/me/topups/%00",
        "/v1/me/topups/not-an-id",
        "/v1/me/withdrawals/%00x",
    ] {
        let (status, err) = app.get_as(token, path).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (404, Some("funding_not_found")),
            "{path}"
        );
    }
    let (status, err) = app
        .money(
            token,
            "/v1/me/topups",
            "k-nul",
            &json!({ "card_id": "\u{0}", "amount": "1.00" }),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("card_not_found"))
    );

    // Another user sees nothing of it.
    let other = app.verified("张伟").await;
    let (status, err) = app.get_as(&other, &format!("/v1/me/topups/{id}")).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("funding_not_found"))
    );
    let (status, _) = app
        .money(
            &other,
            "/v1/me/topups",
            "k-other",
            &json!({ "card_id": card_id, "amount": "1.00" }),
        )
        .await;
    assert_eq!(status, 404);
    other
}

/// Withdraw: PIN required, balance held at once, then paid out.
async fn a_withdrawal_needs_the_pin_and_holds_the_balance_at_once(
    app: &TestApp,
    token: &str,
    card_id: &str,
    id: &str,
) {
    let withdrawal =
        |amount: &str, pin: &str| json!({ "card_id": card_id, "amount": amount, "pin": pin });
    let (status, err) = app
        .money(
            token,
            "/v1/me/withdrawals",
            "w-0",
            &withdrawal("30.00", "000001"),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (403, Some("pin_incorrect"))
    );
    let (status, err) = app
        .money(
            token,
            "/v1/me/withdrawals",
            "w-big",
            &withdrawal("100.01", "258036"),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("insufficient_balance")),
        "{err}"
    );
    assert_eq!(err["error"]["details"]["available"]["amount"], "100.00");
    let (status, w) = app
        .money(
            token,
            "/v1/me/withdrawals",
            "w-1",
            &withdrawal("30.00", "258036"),
        )
        .await;
    assert_eq!(status, 200, "{w}");
    let (_, me) = app.get_as(token, "/v1/me").await;
    assert_eq!(me["balance"]["available"]["amount"], "70.00");
    assert_eq!(me["balance"]["outgoing"]["amount"], "30.00");
    assert_eq!(me["limits"]["spent_today"]["amount"], "30.00");
    let w = app
        .settled(
            token,
            &format!("/v1/me/withdrawals/{}", w["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(w["status"], "succeeded", "{w}");
    // A top-up id is not a withdrawal.
    assert_eq!(
        app.get_as(token, &format!("/v1/me/withdrawals/{id}"))
            .await
            .0,
        404
    );
}

/// The statement: newest first, paged by cursor.
async fn the_statement_pages_newest_first(
    app: &TestApp,
    (token, other): (&str, &str),
    card_id: &str,
    id: &str,
) {
    app.top_up(token, card_id, "5.50").await;
    let (status, page) = app.get_as(token, "/v1/me/statement?limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["balance"]["available"]["amount"], "75.50");
    assert_eq!(page["limits"]["remaining_today"]["amount"], "49970.00");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (
            items[0]["kind"].as_str(),
            items[0]["amount"]["amount"].as_str()
        ),
        (Some("top_up"), Some("5.50"))
    );
    assert_eq!(
        (
            items[1]["kind"].as_str(),
            items[1]["amount"]["amount"].as_str()
        ),
        (Some("withdrawal"), Some("-30.00"))
    );
    assert!(items[1]["counterparty"].as_str().unwrap().contains("••••"));
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get_as(token, &format!("/v1/me/statement?limit=2&cursor={cursor}"))
        .await;
    let rest = rest["items"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["id"].as_str(), Some(id));
    let (_, last) = app
        .get_as(token, &format!("/v1/me/statement?limit=2&cursor={cursor}"))
        .await;
    assert!(last["next_cursor"].is_null());
    for bad in [
        "limit=0",
        "limit=101",
        "cursor=nonsense",
        "limit=x",
        "kind=fare",
    ] {
        let (status, _) = app.get_as(token, &format!("/v1/me/statement?{bad}")).await;
        let shape = if bad == "limit=x" { 400 } else { 422 };
        assert_eq!(status, shape, "{bad}");
    }
    // One kind of line only.
    let (_, withdrawals) = app.get_as(token, "/v1/me/statement?kind=withdrawal").await;
    let kinds: Vec<&str> = withdrawals["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["kind"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.is_empty() && kinds.iter().all(|kind| *kind == "withdrawal"),
        "{kinds:?}"
    );
    // The other user's statement is their own.
    let (_, theirs) = app.get_as(other, "/v1/me/statement").await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
}

async fn limits_are_enforced_and_reported(db: TestDb) {
    let mut setup = Setup::default();
    setup.wallet.limits.l2_single = 10_000;
    setup.wallet.limits.l2_daily = 15_000;
    let app = TestApp::spawn_with(db, setup).await;
    let token = app.verified("李娜").await;
    let card = app.link_card(&token, &card(ICBC), "李娜").await;
    let card_id = card["id"].as_str().unwrap();
    assert_eq!(
        app.top_up(&token, card_id, "500.00").await["status"],
        "succeeded"
    );
    let withdraw = |key: &'static str, amount: &'static str| {
        let app = &app;
        let token = token.clone();
        let body = json!({ "card_id": card_id, "amount": amount, "pin": "258036" });
        async move { app.money(&token, "/v1/me/withdrawals", key, &body).await }
    };
    let (status, err) = withdraw("w1", "100.01").await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("single_limit_exceeded")),
        "{err}"
    );
    assert_eq!(err["error"]["details"]["limit"]["amount"], "100.00");
    assert_eq!(withdraw("w2", "80.00").await.0, 200);
    let (status, err) = withdraw("w3", "80.00").await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("daily_limit_exceeded")),
        "{err}"
    );
    assert_eq!(err["error"]["details"]["remaining"]["amount"], "70.00");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("70.00 CNY")
    );
    assert_eq!(withdraw("w4", "70.00").await.0, 200);
    let (_, me) = app.get_as(&token, "/v1/me").await;
    assert_eq!(me["limits"]["remaining_today"]["amount"], "0.00");

    // L0 cannot send money at all.
    let l0 = app.consumer().await;
    let (status, err) = app
        .money(
            &l0,
            "/v1/me/withdrawals",
            "x",
            &json!({ "card_id": card_id, "amount": "1.00", "pin": "258036" }),
        )
        .await;
    assert_eq!(status, 404, "{err}");
    app.stop().await;
}

async fn foreign_visitor_tops_up_in_usd(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.consumer().await;
    let (status, body) = app
        .as_user(
            &token,
            "/v1/me/identity",
            &json!({ "kind": "passport", "name": "Emma Clarke", "country": "GBR",
                     "number": format!("5{:08}", serial()), "nationality": "GBR",
                     "date_of_birth": "1991-04-12" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let visa = app.link_card(&token, &card("4"), "EMMA CLARKE").await;
    assert_eq!(visa["network"], "visa");
    assert_eq!(visa["foreign_currency_top_up"], true);
    // Before confirming, the visitor sees the rate and what the card will be charged.
    let (status, quote) = app
        .as_user(
            &token,
            "/v1/me/topups/quote",
            &json!({ "card_id": visa["id"], "amount": "100.00", "currency": "USD" }),
        )
        .await;
    assert_eq!(status, 200, "{quote}");
    assert_eq!(
        quote,
        json!({ "card_charge": { "amount": "100.00", "currency": "USD" },
                "credited": { "amount": "712.34", "currency": "CNY" },
                "fx": { "rate": "7.1234", "from": "USD", "to": "CNY" } })
    );
    let (_, me) = app.get_as(&token, "/v1/me").await;
    assert_eq!(
        me["balance"]["available"]["amount"], "0.00",
        "a quote moves nothing"
    );
    let (status, top_up) = app
        .money(
            &token,
            "/v1/me/topups",
            "usd-1",
            &json!({ "card_id": visa["id"], "amount": "100.00", "currency": "USD" }),
        )
        .await;
    assert_eq!(status, 200, "{top_up}");
    assert_eq!(
        top_up["amount"],
        json!({ "amount": "712.34", "currency": "CNY" })
    );
    assert_eq!(
        top_up["card_amount"],
        json!({ "amount": "100.00", "currency": "USD" })
    );
    assert_eq!(top_up["fx"]["rate"], "7.1234");
    let done = app
        .settled(
            &token,
            &format!("/v1/me/topups/{}", top_up["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let (_, statement) = app.get_as(&token, "/v1/me/statement").await;
    assert_eq!(statement["balance"]["available"]["amount"], "712.34");
    let item = &statement["items"][0];
    assert_eq!(item["details"]["fx_rate"], "7.1234");
    assert_eq!(item["details"]["card_amount"]["currency"], "USD");

    // The FX legs balance through the platform's FX accounts (operator view of the ledger).
    let (status, fx_usd) = app
        .get("/v1/ledger/accounts/00000000-0000-0000-0000-000000020348")
        .await;
    assert_eq!(status, 200, "{fx_usd}");
    assert_eq!(fx_usd["balances"]["credits_posted"], "100.00", "{fx_usd}");

    // Unknown currency (a UnionPay card in USD: below).
    let (status, err) = app
        .money(
            &token,
            "/v1/me/topups",
            "usd-2",
            &json!({ "card_id": visa["id"], "amount": "1.00", "currency": "XYZ" }),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("currency_invalid"))
    );
    app.stop().await;
}

async fn a_unionpay_card_tops_up_in_no_other_currency(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let resident = app.verified("李娜").await;
    let unionpay = app.link_card(&resident, &card(ICBC), "李娜").await;
    let (status, err) = app
        .money(
            &resident,
            "/v1/me/topups",
            "usd-3",
            &json!({ "card_id": unionpay["id"], "amount": "1.00", "currency": "USD" }),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("currency_not_supported_by_card"))
    );
    app.stop().await;
}

async fn funding_survives_a_restart_and_failures_are_voided(db: TestDb) {
    let mut setup = Setup::default();
    setup.bank.confirm_after = Duration::from_millis(800);
    let app = TestApp::spawn_with(db, setup).await;
    let token = app.verified("李娜").await;
    let card = app.link_card(&token, &card(ICBC), "李娜").await;
    let card_id = card["id"].as_str().unwrap().to_owned();
    let (status, top_up) = app
        .money(
            &token,
            "/v1/me/topups",
            "r-1",
            &json!({ "card_id": card_id, "amount": "42.00" }),
        )
        .await;
    assert_eq!(
        (status, top_up["status"].as_str()),
        (200, Some("processing")),
        "{top_up}"
    );

    // Crash while the bank is still confirming; the restarted server finishes the job.
    let app = app.restart().await;
    let path = format!("/v1/me/topups/{}", top_up["id"].as_str().unwrap());
    let done = app.settled(&token, &path).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let (_, me) = app.get_as(&token, "/v1/me").await;
    assert_eq!(me["balance"]["available"]["amount"], "42.00");

    // A withdrawal in flight survives a restart too.
    let (status, w) = app
        .money(
            &token,
            "/v1/me/withdrawals",
            "r-w",
            &json!({ "card_id": card_id, "amount": "10.00", "pin": "258036" }),
        )
        .await;
    assert_eq!(
        (status, w["status"].as_str()),
        (200, Some("processing")),
        "{w}"
    );
    let app = app.restart().await;
    let w = app
        .settled(
            &token,
            &format!("/v1/me/withdrawals/{}", w["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(w["status"], "succeeded", "{w}");
    let (_, me) = app.get_as(&token, "/v1/me").await;
    assert_eq!(me["balance"]["available"]["amount"], "32.00");
    assert_eq!(me["limits"]["spent_today"]["amount"], "10.00");

    // A bank that declines everything: the held money comes back and the limit is returned.
    let mut setup = app.setup.clone();
    setup.bank.decline_ppm = 1_000_000;
    let app = app.restart_with(setup).await;
    let (status, w) = app
        .money(
            &token,
            "/v1/me/withdrawals",
            "r-2",
            &json!({ "card_id": card_id, "amount": "30.00", "pin": "258036" }),
        )
        .await;
    assert_eq!(status, 200, "{w}");
    let w = app
        .settled(
            &token,
            &format!("/v1/me/withdrawals/{}", w["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(w["status"], "failed", "{w}");
    assert!(w["failure_reason"].is_string());
    let (_, me) = app.get_as(&token, "/v1/me").await;
    assert_eq!(me["balance"]["available"]["amount"], "32.00");
    assert_eq!(me["limits"]["spent_today"]["amount"], "10.00");
    let (status, t) = app
        .money(
            &token,
            "/v1/me/topups",
            "r-3",
            &json!({ "card_id": card_id, "amount": "5.00" }),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    let t = app
        .settled(
            &token,
            &format!("/v1/me/topups/{}", t["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(t["status"], "failed");
    let (_, statement) = app.get_as(&token, "/v1/me/statement").await;
    assert_eq!(statement["items"][0]["status"], "failed");
    assert_eq!(statement["balance"]["incoming"]["amount"], "0.00");
    app.stop().await;
}

async fn only_a_top_up_the_bank_never_received_times_out(db: TestDb) {
    let mut setup = Setup::default();
    setup.bank.confirm_after = Duration::from_secs(3600);
    setup.wallet.funding_timeout = Duration::from_millis(200);
    let app = TestApp::spawn_with(db, setup.clone()).await;
    let token = app.verified("李娜").await;
    let card = app.link_card(&token, &card(ICBC), "李娜").await;
    assert!(
        card["display"]
            .as_str()
            .unwrap()
            .starts_with("ICBC debit ••••"),
        "{card}"
    );
    let body = |amount: &str| json!({ "card_id": card["id"], "amount": amount });

    // The bank is still processing it long after the timeout: it stays in flight, because
    // the bank may yet take the money.
    let (status, slow) = app
        .money(&token, "/v1/me/topups", "t-1", &body("9.00"))
        .await;
    assert_eq!(status, 200, "{slow}");
    let slow_path = format!("/v1/me/topups/{}", slow["id"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.get_as(&token, &slow_path).await.1["status"],
        "processing"
    );

    // The bank never received this one (it was down): given up after the timeout, and the
    // incoming money disappears from the balance.
    let mut down = setup.clone();
    down.bank.unavailable_ppm = 1_000_000;
    let app = app.restart_with(down).await;
    let (status, lost) = app
        .money(&token, "/v1/me/topups", "t-2", &body("7.00"))
        .await;
    assert_eq!(
        (status, lost["status"].as_str()),
        (200, Some("processing")),
        "{lost}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let app = app.restart_with(setup).await;
    let done = app
        .settled(
            &token,
            &format!("/v1/me/topups/{}", lost["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        (done["status"].as_str(), done["failure_reason"].as_str()),
        (Some("failed"), Some("timed_out"))
    );
    assert_eq!(
        app.get_as(&token, &slow_path).await.1["status"],
        "processing"
    );
    let (_, me) = app.get_as(&token, "/v1/me").await;
    assert_eq!(me["balance"]["available"]["amount"], "0.00");
    assert_eq!(me["balance"]["incoming"]["amount"], "9.00");

    // Over the single top-up limit.
    let (status, err) = app
        .money(&token, "/v1/me/topups", "t-3", &body("50000.01"))
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("top_up_limit_exceeded"))
    );
    app.stop().await;
}

/// Statement lines join the per-user index only when the writer folds them (every tenth of a
/// second; migration 0012): a statement pages through folded and recent lines alike, newest
/// first, each line once.
async fn statement_pages_across_folded_and_recent_lines(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.verified("王芳").await;
    let card = app.link_card(&token, &card(ICBC), "王芳").await;
    let card_id = card["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for amount in ["1.00", "2.00", "3.00"] {
        ids.push(
            app.top_up(&token, card_id, amount).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Past the fold's interval, the next write's batch is followed by a fold.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    ids.push(
        app.top_up(&token, card_id, "4.00").await["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    ids.push(
        app.top_up(&token, card_id, "5.00").await["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let folded: Vec<i64> = app
        .store
        .read(|conn| {
            conn.query("SELECT DISTINCT folded FROM activity ORDER BY folded", &[])?
                .iter()
                .map(|row| row.int(0))
                .collect::<Result<Vec<i64>, _>>()
        })
        .await
        .unwrap();
    assert!(folded.contains(&1), "some lines were folded: {folded:?}");

    let mut seen = Vec::new();
    let mut path = "/v1/me/statement?limit=2".to_owned();
    loop {
        let (status, page) = app.get_as(&token, &path).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/me/statement?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each line once");
}

both_backends!(
    statement_pages_across_folded_and_recent_lines,
    sign_up_sign_in_and_sessions,
    sms_codes_expire_are_limited_and_rate_limited,
    a_used_code_lets_its_owner_ask_again_at_once,
    real_name_with_resident_id,
    a_visitor_verifies_with_a_passport,
    pin_rules_and_lock_out,
    cards_link_with_the_banks_code_and_set_the_level,
    top_up_withdraw_and_statement,
    limits_are_enforced_and_reported,
    foreign_visitor_tops_up_in_usd,
    a_unionpay_card_tops_up_in_no_other_currency,
    funding_survives_a_restart_and_failures_are_voided,
    only_a_top_up_the_bank_never_received_times_out,
);
