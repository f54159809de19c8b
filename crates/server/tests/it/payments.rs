//! Merchants and QR payments over HTTP, on both backends: onboarding and signed requests,
//! dynamic and static codes, payment codes, refunds, cancels, and signed notifications.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cashless_ledger::Currency;
use cashless_payments::paycode;
use cashless_payments::signing::{self, MerchantSigner};
use cashless_store::Param;
use cashless_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use cashless_wallet::confirm::device_message;
use ed25519_dalek::{Signer, SigningKey};

use crate::wallet::{ICBC, card, phone, serial};
use crate::{Setup, TestApp, read};

/// A merchant as its server sees itself: its id, key, a store and a terminal.
pub(crate) struct Merchant {
    id: String,
    secret: String,
    signer: MerchantSigner,
    store_id: String,
    terminal_id: String,
    static_code: String,
}

/// A valid unified social credit code, unique per call.
fn licence() -> String {
    let first = format!(
        "9133010{:010}",
        u64::from(serial()) * 7 + rand::random::<u32>() as u64 % 7
    );
    let check = cashless_payments::merchants::uscc_check_character(&first).unwrap();
    format!("{first}{check}")
}

/// What a fake merchant server received, and how many deliveries it fails first.
#[derive(Default)]
struct Inbox {
    received: Mutex<Vec<(axum::http::HeaderMap, String)>>,
    fail_first: Mutex<u32>,
}

/// A merchant's notification endpoint on a local port.
async fn notify_server(fail_first: u32) -> (String, Arc<Inbox>) {
    let inbox = Arc::new(Inbox {
        fail_first: Mutex::new(fail_first),
        ..Inbox::default()
    });
    let state = inbox.clone();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let inbox = state.clone();
            async move {
                inbox.received.lock().unwrap().push((headers, body));
                let mut fail = inbox.fail_first.lock().unwrap();
                if *fail > 0 {
                    *fail -= 1;
                    return (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "busy".to_owned(),
                    );
                }
                (axum::http::StatusCode::OK, "success".to_owned())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, inbox)
}

impl TestApp {
    pub(crate) async fn merchant(&self, notify_url: Option<&str>) -> Merchant {
        self.merchant_with(json!({ "notify_url": notify_url }))
            .await
    }

    /// A merchant onboarded with `extra` fields over the usual ones.
    pub(crate) async fn merchant_with(&self, extra: Value) -> Merchant {
        let (secret, public) = MerchantSigner::generate_key();
        let mut onboarding = json!({
            "legal_name": "Hangzhou West Lake Noodles Co., Ltd.",
            "display_name": "West Lake Noodles",
            "chinese_name": "西湖面馆",
            "mcc": "5812",
            "city": "Hangzhou",
            "licence_number": licence(),
            "settlement_bank": "ICBC Hangzhou",
            "settlement_account": "6222020123456789",
            "public_key": public,
        });
        onboarding
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, body) = self.post("/v1/operator/merchants", &onboarding).await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let key_id = body["keys"][0]["id"].as_str().unwrap().to_owned();
        let (status, store) = self
            .post(
                &format!("/v1/operator/merchants/{id}/stores"),
                &json!({ "name": "Hubin", "address": "1 Hubin Rd" }),
            )
            .await;
        assert_eq!(status, 201, "{store}");
        let store_id = store["id"].as_str().unwrap().to_owned();
        let (status, terminal) = self
            .post(
                &format!("/v1/operator/merchants/{id}/stores/{store_id}/terminals"),
                &json!({ "label": "Till 1" }),
            )
            .await;
        assert_eq!(status, 201, "{terminal}");
        Merchant {
            signer: MerchantSigner::new(&id, &key_id, &secret).unwrap(),
            secret,
            id,
            store_id,
            terminal_id: terminal["id"].as_str().unwrap().to_owned(),
            static_code: store["static_code"].as_str().unwrap().to_owned(),
        }
    }

    /// A signed merchant request with a fresh nonce and the current time.
    pub(crate) async fn signed(
        &self,
        merchant: &Merchant,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let nonce = format!("n{:016x}", rand::random::<u64>());
        self.signed_with(merchant, method, path, body, now_secs(), &nonce)
            .await
    }

    async fn signed_with(
        &self,
        merchant: &Merchant,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timestamp: i64,
        nonce: &str,
    ) -> (u16, Value) {
        let bytes = body.map(|body| body.to_string()).unwrap_or_default();
        let parts = merchant
            .signer
            .sign(method, path, timestamp, nonce, bytes.as_bytes());
        let response = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("authorization", parts.authorization)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 204 {
            return (204, Value::Null);
        }
        read(response).await
    }

    /// A signed GET answered with bytes: (status, content type, body).
    async fn signed_bytes(&self, merchant: &Merchant, path: &str) -> (u16, String, Vec<u8>) {
        let nonce = format!("n{:016x}", rand::random::<u64>());
        let parts = merchant.signer.sign("GET", path, now_secs(), &nonce, b"");
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("authorization", parts.authorization)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, kind, response.bytes().await.unwrap().to_vec())
    }

    /// A consumer with a card, `balance` CNY topped up, and the PIN 258036.
    pub(crate) async fn payer(&self, name: &str, balance: &str) -> String {
        let token = self.verified(name).await;
        let card = self.link_card(&token, &card(ICBC), name).await;
        let top_up = self
            .top_up(&token, card["id"].as_str().unwrap(), balance)
            .await;
        assert_eq!(top_up["status"], "succeeded", "{top_up}");
        token
    }

    async fn available(&self, token: &str) -> String {
        let (_, me) = self.get_as(token, "/v1/me").await;
        me["balance"]["available"]["amount"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn pay_code(&self, token: &str, payload: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({ "payload": payload });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.money(
            token,
            "/v1/me/payments",
            &format!("pay-{}", rand::random::<u64>()),
            &body,
        )
        .await
    }

    async fn fee_income(&self) -> u64 {
        let account = self
            .store
            .account(cashless_payments::fee_account(Currency::CNY))
            .await
            .unwrap();
        account.map_or(0, |row| {
            let balances = row.account.balances;
            balances.credits_posted - balances.debits_posted
        })
    }
}

fn now_secs() -> i64 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()) as i64
}

async fn merchants_onboard_and_sign_their_requests(db: TestDb) {
    let app = TestApp::spawn(db).await;
    // Bad onboarding input is refused with a precise code and changes nothing.
    let good = json!({
        "legal_name": "A", "display_name": "A", "mcc": "5812", "city": "Hangzhou",
        "licence_number": licence(), "settlement_bank": "ICBC", "settlement_account": "6222020123456789",
    });
    for (field, value, code) in [
        ("mcc", json!("58A2"), "mcc_invalid"),
        // 18 bytes of 9 two-byte letters: byte 17 is no place to cut (it panicked once).
        (
            "licence_number",
            json!("ÄÄÄÄÄÄÄÄÄ"),
            "licence_number_invalid",
        ),
        (
            "licence_number",
            json!("91330100799655058C"),
            "licence_number_invalid",
        ),
        ("display_name", json!("西湖面馆"), "field_invalid"),
        ("city", json!("A city name far too long"), "field_invalid"),
        (
            "settlement_account",
            json!("12"),
            "settlement_account_invalid",
        ),
        ("fee_rate_bps", json!(5000), "fee_rate_invalid"),
        ("notify_url", json!("ftp://x"), "notify_url_invalid"),
        ("public_key", json!("abcd"), "public_key_invalid"),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let (status, body) = app.post("/v1/operator/merchants", &body).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some(code)),
            "{field}: {body}"
        );
    }
    let (status, body) = app.post_anon("/v1/operator/merchants", &good).await;
    assert_eq!(status, 401, "{body}");

    let merchant = app.merchant(None).await;
    let (status, profile) = app
        .signed(&merchant, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["fee_rate"], "0.60%");
    assert_eq!(profile["settlement_account"], "••••6789");
    assert_eq!(profile["stores"][0]["terminals"][0]["label"], "Till 1");
    assert!(
        profile["static_code"]
            .as_str()
            .unwrap()
            .contains("com.cashless")
    );

    // Unsigned, tampered, replayed, stale: all refused.
    let (status, body) = app.post_anon("/v1/merchant/orders", &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("signature_missing")),
        "{body}"
    );
    let body = json!({ "out_trade_no": "T1", "amount": "1.00", "subject": "tea" });
    let parts = merchant.signer.sign(
        "POST",
        "/v1/merchant/orders",
        now_secs(),
        "nonce-tamper-1",
        body.to_string().as_bytes(),
    );
    let response = app
        .client
        .post(format!("{}/v1/merchant/orders", app.base))
        .header("authorization", &parts.authorization)
        .body(json!({ "out_trade_no": "T1", "amount": "100.00", "subject": "tea" }).to_string())
        .send()
        .await
        .unwrap();
    let (status, error) = read(response).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_invalid")),
        "{error}"
    );
    let (status, order) = app
        .signed_with(
            &merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&body),
            now_secs(),
            "nonce-replay-1",
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let (status, error) = app
        .signed_with(
            &merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&body),
            now_secs(),
            "nonce-replay-1",
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("nonce_reused")),
        "{error}"
    );
    // A request refused inside its write still used up its nonce (precreate claims it in the
    // same write), and so did a read.
    let mut conflicting = body.clone();
    conflicting["amount"] = json!("99.00");
    for expected in [(409, "out_trade_no_conflict"), (401, "nonce_reused")] {
        let (status, error) = app
            .signed_with(
                &merchant,
                "POST",
                "/v1/merchant/orders",
                Some(&conflicting),
                now_secs(),
                "nonce-conflict-1",
            )
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (expected.0, Some(expected.1)),
            "{error}"
        );
    }
    for expected in [200, 401] {
        let (status, answer) = app
            .signed_with(
                &merchant,
                "GET",
                "/v1/merchant/profile",
                None,
                now_secs(),
                "nonce-read-1",
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    let (status, error) = app
        .signed_with(
            &merchant,
            "GET",
            "/v1/merchant/profile",
            None,
            now_secs() - 301,
            "nonce-stale-1",
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_expired")),
        "{error}"
    );
    let (status, error) = app
        .signed_with(
            &merchant,
            "GET",
            "/v1/merchant/profile",
            None,
            now_secs(),
            "bad nonce!",
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_malformed")),
        "{error}"
    );

    // Rotation: the new key works at once, the old one during the overlap.
    let (new_secret, new_public) = MerchantSigner::generate_key();
    let (status, key) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/keys",
            Some(&json!({ "public_key": new_public })),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let rotated = Merchant {
        signer: MerchantSigner::new(&merchant.id, key["id"].as_str().unwrap(), &new_secret)
            .unwrap(),
        secret: new_secret.clone(),
        id: merchant.id.clone(),
        store_id: merchant.store_id.clone(),
        terminal_id: merchant.terminal_id.clone(),
        static_code: merchant.static_code.clone(),
    };
    let (status, profile) = app
        .signed(&rotated, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(status, 200, "{profile}");
    assert!(profile["keys"][0]["expires_at"].is_string(), "{profile}");
    assert!(profile["keys"][1]["expires_at"].is_null(), "{profile}");
    let (status, _) = app
        .signed(&merchant, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(status, 200);
    // Another merchant's key cannot speak for this one.
    let other = app.merchant(None).await;
    let impostor = Merchant {
        signer: MerchantSigner::new(&merchant.id, &other.signer.key_id, &other.secret).unwrap(),
        ..other
    };
    let (status, error) = app
        .signed(&impostor, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_invalid")),
        "{error}"
    );

    // The operator revokes a leaked key at once, overlap or not; only the operator may.
    let revoke = |key_id: String, token: &'static str| {
        let url = format!(
            "{}/v1/operator/merchants/{}/keys/{key_id}",
            app.base, merchant.id
        );
        let client = app.client.clone();
        async move {
            let response = client.delete(url).bearer_auth(token).send().await.unwrap();
            response.status().as_u16()
        }
    };
    assert_eq!(
        revoke(merchant.signer.key_id.clone(), "not-the-operator-token").await,
        401
    );
    assert_eq!(
        revoke(merchant.signer.key_id.clone(), crate::TOKEN).await,
        200
    );
    let (status, error) = app
        .signed(&merchant, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_invalid")),
        "{error}"
    );
    // Revoking it again takes what it still granted (nothing here); a key never registered
    // is not found.
    assert_eq!(
        revoke(merchant.signer.key_id.clone(), crate::TOKEN).await,
        200
    );
    assert_eq!(revoke("k-never".to_owned(), crate::TOKEN).await, 404);
    let (status, _) = app
        .signed(&rotated, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(status, 200, "the other key still works");
    app.stop().await;
}

/// The same merchant under another of its keys.
fn under_key(merchant: &Merchant, key_id: &str, secret: &str) -> Merchant {
    Merchant {
        signer: MerchantSigner::new(&merchant.id, key_id, secret).unwrap(),
        secret: secret.to_owned(),
        id: merchant.id.clone(),
        store_id: merchant.store_id.clone(),
        terminal_id: merchant.terminal_id.clone(),
        static_code: merchant.static_code.clone(),
    }
}

impl TestApp {
    /// A till key registered by `by`, as a merchant signing with it.
    async fn till_key(&self, by: &Merchant) -> Merchant {
        let (secret, public) = MerchantSigner::generate_key();
        let (status, key) = self
            .signed(
                by,
                "POST",
                "/v1/merchant/till-keys",
                Some(&json!({ "public_key": public })),
            )
            .await;
        assert_eq!(status, 201, "{key}");
        assert_eq!(key["granted_by"], by.signer.key_id.as_str(), "{key}");
        under_key(by, key["id"].as_str().unwrap(), &secret)
    }

    /// Staff added by `by`: (phone, id).
    async fn staff_by(&self, by: &Merchant, role: &str) -> (String, String) {
        let phone = staff_phone();
        let (status, added) = self
            .signed(
                by,
                "POST",
                "/v1/merchant/staff",
                Some(&json!({ "phone": phone, "name": "Staff", "role": role })),
            )
            .await;
        assert_eq!(status, 201, "{added}");
        (phone, added["id"].as_str().unwrap().to_owned())
    }

    async fn sells(&self, merchant: &Merchant) -> u16 {
        let body = json!({ "out_trade_no": format!("K-{}", rand::random::<u64>()),
                           "amount": "1.00", "subject": "tea" });
        self.signed(merchant, "POST", "/v1/merchant/orders", Some(&body))
            .await
            .0
    }

    async fn operator_revokes(&self, merchant: &Merchant, key_id: &str) -> Value {
        let response = self
            .client
            .delete(format!(
                "{}/v1/operator/merchants/{}/keys/{key_id}",
                self.base, merchant.id
            ))
            .bearer_auth(crate::TOKEN)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// A key rotated out may only do what a till key does until it expires; revoking a key
/// revokes the till keys and removes the staff it granted, except those the merchant's
/// current key re-confirmed.
async fn a_rotated_out_key_only_sells_and_its_grants_go_with_it(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let old = app.merchant(None).await;
    // Granted by the old key while it was current.
    let kept_till = app.till_key(&old).await;
    let lost_till = app.till_key(&old).await;
    let (kept_manager, kept_manager_id) = app.staff_by(&old, "manager").await;
    let (lost_cashier, lost_cashier_id) = app.staff_by(&old, "cashier").await;

    let (new_secret, new_public) = MerchantSigner::generate_key();
    let (status, key) = app
        .signed(
            &old,
            "POST",
            "/v1/merchant/keys",
            Some(&json!({ "public_key": new_public })),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["granted_by"], old.signer.key_id.as_str());
    let new = under_key(&old, key["id"].as_str().unwrap(), &new_secret);

    // In its overlap, the old key sells and looks up, and nothing else.
    assert_eq!(app.sells(&old).await, 200);
    let (status, _) = app.signed(&old, "GET", "/v1/merchant/orders", None).await;
    assert_eq!(status, 200);
    let (_, public) = MerchantSigner::generate_key();
    for (method, path, body) in [
        (
            "POST",
            "/v1/merchant/till-keys".to_owned(),
            Some(json!({ "public_key": public })),
        ),
        (
            "POST",
            "/v1/merchant/keys".to_owned(),
            Some(json!({ "public_key": public })),
        ),
        (
            "POST",
            "/v1/merchant/staff".to_owned(),
            Some(json!({ "phone": staff_phone(), "name": "Thief", "role": "manager" })),
        ),
        (
            "PUT",
            "/v1/merchant/notify-url".to_owned(),
            Some(json!({ "notify_url": "http://127.0.0.1:9/n" })),
        ),
        (
            "DELETE",
            format!("/v1/merchant/till-keys/{}", kept_till.signer.key_id),
            None,
        ),
        (
            "POST",
            format!("/v1/merchant/till-keys/{}/confirm", lost_till.signer.key_id),
            None,
        ),
        (
            "DELETE",
            format!("/v1/merchant/staff/{kept_manager_id}"),
            None,
        ),
        (
            "POST",
            format!("/v1/merchant/staff/{lost_cashier_id}/confirm"),
            None,
        ),
        ("GET", "/v1/merchant/events".to_owned(), None),
        ("GET", "/v1/merchant/staff".to_owned(), None),
    ] {
        let (status, error) = app.signed(&old, method, &path, body.as_ref()).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (403, Some("key_rotated_out")),
            "{method} {path}: {error}"
        );
    }
    // Till keys and staff cannot confirm either; the current key can.
    for (who, code) in [(&kept_till, "key_scope")] {
        let path = format!("/v1/merchant/till-keys/{}/confirm", kept_till.signer.key_id);
        let (status, error) = app.signed(who, "POST", &path, None).await;
        assert_eq!((status, error["error"]["code"].as_str()), (403, Some(code)));
    }
    let manager = staff_sign_in(&app, &kept_manager).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/merchant/staff/{kept_manager_id}/confirm");
    let (status, error) = as_staff(&app, &manager, "POST", &path, None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("key_scope"))
    );
    for path in [
        format!("/v1/merchant/till-keys/{}/confirm", kept_till.signer.key_id),
        format!("/v1/merchant/staff/{kept_manager_id}/confirm"),
    ] {
        let (status, body) = app.signed(&new, "POST", &path, None).await;
        assert_eq!(status, 204, "{path}: {body}");
    }
    let newer_till = app.till_key(&new).await;
    let (_, staff) = app.signed(&new, "GET", "/v1/merchant/staff", None).await;
    let granted = |id: &str| {
        staff["staff"]
            .as_array()
            .unwrap()
            .iter()
            .find(|member| member["id"] == id)
            .map(|member| member["granted_by"].clone())
    };
    assert_eq!(granted(&kept_manager_id), Some(json!(new.signer.key_id)));
    assert_eq!(granted(&lost_cashier_id), Some(json!(old.signer.key_id)));

    // The operator revokes the old key: what it granted and nobody re-confirmed goes too.
    let revoked = app.operator_revokes(&old, &old.signer.key_id).await;
    assert_eq!(
        revoked,
        json!({ "till_keys": [lost_till.signer.key_id], "staff": [lost_cashier_id],
                "successors": [new.signer.key_id] })
    );
    assert_eq!(app.sells(&old).await, 401);
    assert_eq!(app.sells(&lost_till).await, 401);
    assert_eq!(app.sells(&kept_till).await, 200);
    assert_eq!(app.sells(&newer_till).await, 200);
    assert_eq!(app.sells(&new).await, 200);
    // Staff sessions all ended; the kept manager signs in again and refunds, the removed
    // cashier gets no code.
    let (status, _) = as_staff(&app, &manager, "GET", "/v1/staff/me", None).await;
    assert_eq!(status, 401);
    let manager = staff_sign_in(&app, &kept_manager).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = as_staff(&app, &manager, "GET", "/v1/merchant/events", None).await;
    assert_eq!(status, 200);
    let before = till_texts(&app, &lost_cashier).len();
    let (status, _) = app
        .post("/v1/staff/sms-codes", &json!({ "phone": lost_cashier }))
        .await;
    assert_eq!(status, 200, "answered alike");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        till_texts(&app, &lost_cashier).len(),
        before,
        "no code for a removed cashier"
    );

    // Revoking the successor takes its grants, the re-confirmed ones included.
    let revoked = app.operator_revokes(&new, &new.signer.key_id).await;
    let mut tills: Vec<String> = serde_json::from_value(revoked["till_keys"].clone()).unwrap();
    tills.sort();
    let mut expected = vec![
        kept_till.signer.key_id.clone(),
        newer_till.signer.key_id.clone(),
    ];
    expected.sort();
    assert_eq!(tills, expected);
    assert_eq!(revoked["staff"], json!([kept_manager_id]));
    assert_eq!(app.sells(&kept_till).await, 401);
    app.stop().await;
}

/// An order is bounded before it exists: by what anyone may pay at once, by the merchant's own
/// maximum, and, for a payment code, by the payer's limits (which the merchant never sees).
async fn orders_are_bounded_before_they_exist(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let stall = app
        .merchant_with(json!({ "order_amount_max": "500.00" }))
        .await;
    async fn precreate(app: &TestApp, who: &Merchant, no: &str, amount: &str) -> (u16, Value) {
        let body = json!({ "out_trade_no": no, "amount": amount, "subject": "a big one" });
        app.signed(who, "POST", "/v1/merchant/orders", Some(&body))
            .await
    }
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

/// A leaked key whose overlap is over can still be revoked, with what it granted; the operator
/// may first ask what would go; staff the operator added stand on no key.
async fn an_expired_key_is_revoked_with_its_grants(db: TestDb) {
    let mut setup = Setup::default();
    setup.payments.key_overlap = Duration::from_millis(500);
    let app = TestApp::spawn_with(db, setup).await;
    let old = app.merchant(None).await;
    let till = app.till_key(&old).await;
    let (new_secret, new_public) = MerchantSigner::generate_key();
    let (status, key) = app
        .signed(
            &old,
            "POST",
            "/v1/merchant/keys",
            Some(&json!({ "public_key": new_public })),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let new = under_key(&old, key["id"].as_str().unwrap(), &new_secret);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(app.sells(&old).await, 401, "the overlap is over");
    assert_eq!(app.sells(&till).await, 200, "its till key lives on");

    let revoke = |dry_run: bool| {
        let url = format!(
            "{}/v1/operator/merchants/{}/keys/{}?dry_run={dry_run}",
            app.base, old.id, old.signer.key_id
        );
        let client = app.client.clone();
        async move {
            read(
                client
                    .delete(url)
                    .bearer_auth(crate::TOKEN)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, would) = revoke(true).await;
    assert_eq!(status, 200, "{would}");
    assert_eq!(would["till_keys"], json!([till.signer.key_id]));
    assert_eq!(would["successors"], json!([new.signer.key_id]));
    assert_eq!(app.sells(&till).await, 200, "a dry run changes nothing");
    let (status, went) = revoke(false).await;
    assert_eq!((status, &went), (200, &would));
    assert_eq!(app.sells(&till).await, 401);
    assert_eq!(app.sells(&new).await, 200);

    // Staff the operator added (the demo city's way) are confirmed by no key.
    let added = app
        .payments
        .add_staff_to(
            new.id.clone(),
            cashless_payments::staff::StaffInput {
                phone: staff_phone(),
                name: "Operator's cashier".to_owned(),
                role: cashless_payments::staff::StaffRole::Cashier,
            },
            None,
        )
        .await
        .unwrap();
    let (status, error) = app
        .signed(
            &new,
            "POST",
            &format!("/v1/merchant/staff/{}/confirm", added.id),
            None,
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("staff_granted_by_operator")),
        "{error}"
    );
    app.stop().await;
}

async fn dynamic_code_paid_refunded_and_notified(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (url, inbox) = notify_server(0).await;
    let merchant = app.merchant(Some(&url)).await;
    let token = app.payer("李娜", "500.00").await;

    let order = json!({ "out_trade_no": "DQ-1", "amount": "128.50", "subject": "Longjing tea", "store_id": merchant.store_id });
    let (status, created) = app
        .signed(&merchant, "POST", "/v1/merchant/orders", Some(&order))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "WAIT_BUYER_PAY");
    let payload = created["qr_code"].as_str().unwrap().to_owned();
    let parsed = cashless_emvqr::parse(&payload).unwrap();
    assert_eq!(parsed.amount().unwrap().as_str(), "128.50");
    // The POS shows the code as a picture: a PNG that decodes to the same payload, or SVG.
    let (status, kind, png) = app
        .signed_bytes(&merchant, "/v1/merchant/orders/DQ-1/qr?format=png&scale=4")
        .await;
    assert_eq!((status, kind.as_str()), (200, "image/png"));
    let decoded = cashless_emvqr::images::decode_image(&png).unwrap();
    assert_eq!(decoded, std::slice::from_ref(&payload));
    let (status, kind, svg) = app
        .signed_bytes(
            &merchant,
            &format!("/v1/merchant/qr?store_id={}", merchant.store_id),
        )
        .await;
    assert_eq!((status, kind.as_str()), (200, "image/svg+xml"));
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    let (status, _, body) = app
        .signed_bytes(&merchant, "/v1/merchant/orders/DQ-1/qr?format=gif")
        .await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    // The same out_trade_no and fields: the same order; other fields: refused.
    let (status, again) = app
        .signed(&merchant, "POST", "/v1/merchant/orders", Some(&order))
        .await;
    assert_eq!((status, &again["order_id"]), (200, &created["order_id"]));
    let mut changed = order.clone();
    changed["amount"] = json!("128.51");
    let (status, error) = app
        .signed(&merchant, "POST", "/v1/merchant/orders", Some(&changed))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("out_trade_no_conflict"))
    );
    let mut usd = order.clone();
    usd["out_trade_no"] = json!("DQ-USD");
    usd["currency"] = json!("USD");
    let (status, error) = app
        .signed(&merchant, "POST", "/v1/merchant/orders", Some(&usd))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("currency_not_supported"))
    );

    // The consumer scans, sees the merchant and amount, and pays.
    let (status, scan) = app
        .as_user(&token, "/v1/me/scan", &json!({ "payload": payload }))
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
            &token,
            "/v1/me/payments",
            key,
            &json!({ "payload": payload }),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "SUCCESS");
    let (status, replay) = app
        .money(
            &token,
            "/v1/me/payments",
            key,
            &json!({ "payload": payload }),
        )
        .await;
    assert_eq!((status, &replay["payment_id"]), (200, &paid["payment_id"]));
    let (status, error) = app.pay_code(&token, &payload, json!({})).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("order_already_paid")),
        "{error}"
    );
    assert_eq!(app.available(&token).await, "371.50");

    let (status, queried) = app
        .signed(&merchant, "GET", "/v1/merchant/orders/DQ-1", None)
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

    // Refunds: partial, retried, too much, the rest.
    let refund = |no: &str, amount: &str| json!({ "out_request_no": no, "amount": amount, "reason": "cold tea" });
    let (status, first) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund("R1", "28.50")),
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
            &merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund("R1", "28.50")),
        )
        .await;
    assert_eq!((status, &retried["refund_id"]), (200, &first["refund_id"]));
    let (status, error) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund("R1", "1.00")),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("out_request_no_conflict"))
    );
    let (status, error) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund("R2", "100.01")),
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
            &merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund("R2", "100.00")),
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
            &merchant,
            "POST",
            "/v1/merchant/orders/DQ-1/refunds",
            Some(&refund("R3", "0.01")),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("order_closed"))
    );
    let (status, found) = app
        .signed(
            &merchant,
            "GET",
            "/v1/merchant/orders/DQ-1/refunds/R1",
            None,
        )
        .await;
    assert_eq!((status, &found["refund_id"]), (200, &first["refund_id"]));
    assert_eq!(app.available(&token).await, "500.00");
    assert_eq!(app.fee_income().await, 0);
    let (_, statement) = app.get_as(&token, "/v1/me/statement").await;
    let kinds: Vec<&str> = statement["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(&kinds[..3], ["refund", "refund", "payment"], "{statement}");

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
        .signed(&merchant, "GET", "/v1/merchant/events?limit=2", None)
        .await;
    assert_eq!(status, 200, "{events}");
    assert_eq!(events["events"][0]["type"], "order.paid");
    assert_eq!(events["events"][0]["delivery"], "delivered");
    let cursor = events["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .signed(
            &merchant,
            "GET",
            &format!("/v1/merchant/events?after={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 1, "{rest}");
    app.stop().await;
}

async fn static_codes_pins_and_bad_codes(db: TestDb) {
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

    // Closed and expired orders cannot be paid.
    let new_order = |no: &str| json!({ "out_trade_no": no, "amount": "9.90", "subject": "bun" });
    let (_, closed) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&new_order("C-1")),
        )
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
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&new_order("E-1")),
        )
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
    // An altered amount in a dynamic code is caught.
    let (_, fresh) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&new_order("A-1")),
        )
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

    // Cancel: unpaid closes; paid refunds in full; a paid order cannot be closed.
    let (_, paid_order) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&new_order("X-1")),
        )
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

async fn payment_codes_pay_once_and_resist_guessing(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("张伟", "3000.00").await;
    let (status, enrolment) = app.as_user(&token, "/v1/me/paycode", &json!({})).await;
    assert_eq!(status, 200, "{enrolment}");
    let slot = enrolment["slot"].as_u64().unwrap();
    let secret = signing::decode_hex(enrolment["secret"].as_str().unwrap()).unwrap();
    let code =
        |variant: u8| paycode::code_at(&secret, slot, variant, now_secs() as u64, 60).to_digits();
    let charge = |auth_code: String, no: &str, amount: &str| json!({ "auth_code": auth_code, "out_trade_no": no, "amount": amount, "subject": "noodles", "terminal_id": merchant.terminal_id });

    let p1 = charge(code(0), "P-1", "23.00");
    let (status, order) = app
        .signed(&merchant, "POST", "/v1/merchant/orders/paycode", Some(&p1))
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
            &merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge(code(0), "P-1", "23.00")),
        )
        .await;
    assert_eq!((status, &retry["order_id"]), (200, &order["order_id"]));
    let (status, error) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge(code(0), "P-2", "23.00")),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("paycode_used")),
        "{error}"
    );
    let (status, error) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge("12345".into(), "P-3", "1.00")),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("paycode_invalid"))
    );

    // Two terminals submit the same fresh code at once: it pays once.
    let fresh = code(1);
    let (first, second) = (
        charge(fresh.clone(), "P-A", "5.00"),
        charge(fresh.clone(), "P-B", "5.00"),
    );
    let (a, b) = tokio::join!(
        app.signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&first)
        ),
        app.signed(
            &merchant,
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
    assert_eq!(app.available(&token).await, "2972.00");

    // Above the password-free amount: USERPAYING until the payer confirms with the PIN.
    let (status, waiting) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge(code(2), "P-BIG", "1500.00")),
        )
        .await;
    assert_eq!(
        (status, waiting["status"].as_str()),
        (200, Some("USERPAYING")),
        "{waiting}"
    );
    let (_, pending) = app.get_as(&token, "/v1/me/payments/pending").await;
    let id = pending["payments"][0]["payment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id, waiting["order_id"].as_str().unwrap());
    let (status, error) = app
        .as_user(
            &token,
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
            &token,
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
        .signed(&merchant, "GET", "/v1/merchant/orders/P-BIG", None)
        .await;
    assert_eq!(polled["status"], "SUCCESS");
    assert_eq!(app.available(&token).await, "1472.00");

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
                &merchant,
                "POST",
                "/v1/merchant/orders/paycode",
                Some(&charge(guess, &format!("G-{n}"), "1.00")),
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
        app.till_key(&merchant).await,
        app.till_key(&merchant).await,
        app.till_key(&merchant).await,
        app.till_key(&merchant).await,
        app.till_key(&merchant).await,
        app.till_key(&merchant).await,
    ];
    let (status, paid) = app
        .signed(
            &tills[0],
            "POST",
            "/v1/merchant/orders/paycode",
            Some(&charge(code(3), "G-ok", "1.00")),
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
        let guess = charge(unknown(100 + n), &format!("U-{n}"), "1.00");
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
    let (status, again) = app
        .signed(&merchant, "POST", "/v1/merchant/orders/paycode", Some(&p1))
        .await;
    assert_eq!((status, &again["order_id"]), (200, &first_id), "{again}");
    app.stop().await;
}

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

/// A consumer who signed in with a device key: (token, device id, key).
async fn device_payer(app: &TestApp, name: &str, balance: &str) -> (String, String, SigningKey) {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let public_key = signing::hex(key.verifying_key().as_bytes());
    let signed_in = app
        .sign_in_device(
            &phone(),
            json!({ "name": "Li Na's phone", "public_key": public_key }),
        )
        .await;
    let token = signed_in["token"].as_str().unwrap().to_owned();
    app.verify(&token, name).await;
    let card = app.link_card(&token, &card(ICBC), name).await;
    let top_up = app
        .top_up(&token, card["id"].as_str().unwrap(), balance)
        .await;
    assert_eq!(top_up["status"], "succeeded", "{top_up}");
    let device_id = signed_in["device_id"].as_str().unwrap().to_owned();
    (token, device_id, key)
}

/// The body of a payment confirmed by the device's signature.
fn device_signed(
    key: &SigningKey,
    device_id: &str,
    idempotency_key: &str,
    payload: &str,
    amount: &str,
    signed_at: i64,
) -> Value {
    let message = device_message(
        "pay",
        device_id,
        signed_at,
        &[idempotency_key, payload, amount],
    );
    json!({
        "payload": payload,
        "amount": amount,
        "signed_at": signed_at,
        "device_signature": signing::hex(&key.sign(message.as_bytes()).to_bytes()),
    })
}

async fn devices_confirm_payments_in_place_of_the_pin(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let (token, device_id, key) = device_payer(&app, "李娜", "3000.00").await;
    let code = merchant.static_code.as_str();
    let pay = |idempotency_key: &str, body: Value| {
        let (token, idempotency_key) = (token.clone(), idempotency_key.to_owned());
        let app = &app;
        async move {
            app.money(&token, "/v1/me/payments", &idempotency_key, &body)
                .await
        }
    };

    // Not until the owner turns it on with the PIN.
    let body = device_signed(&key, &device_id, "d1", code, "1000.01", now_secs());
    let (status, error) = pay("d1", body.clone()).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("device_pay_not_enabled")),
        "{error}"
    );
    let (status, error) = app
        .as_user(&token, "/v1/me/device-pay", &json!({ "pin": "111222" }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("pin_incorrect")),
        "{error}"
    );
    let (status, _) = app
        .as_user(&token, "/v1/me/device-pay", &json!({ "pin": "258036" }))
        .await;
    assert_eq!(status, 204);

    // Above the password-free amount, the device's signature stands in for the PIN.
    let (status, paid) = pay("d1", body.clone()).await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("SUCCESS")),
        "{paid}"
    );
    assert_eq!(app.available(&token).await, "1999.99");
    // The same key and signature again: the same payment, not a second one.
    let (status, again) = pay("d1", body).await;
    assert_eq!((status, &again["payment_id"]), (200, &paid["payment_id"]));
    // A retry whose signature has gone stale meanwhile still answers with that payment.
    let late = device_signed(&key, &device_id, "d1", code, "1000.01", now_secs() - 600);
    let (status, again) = pay("d1", late).await;
    assert_eq!((status, &again["payment_id"]), (200, &paid["payment_id"]));
    assert_eq!(app.available(&token).await, "1999.99");

    // A signature is bound to its payment: another amount, key or payload does not verify.
    let mut tampered = device_signed(&key, &device_id, "d2", code, "10.00", now_secs());
    tampered["amount"] = json!("1000.00");
    let (status, error) = pay("d2", tampered).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("device_signature_invalid")),
        "{error}"
    );
    let other_key = device_signed(&key, &device_id, "d3", code, "1000.00", now_secs());
    let (status, error) = pay("d4", other_key).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("device_signature_invalid")),
        "{error}"
    );
    let stranger = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let forged = device_signed(&stranger, &device_id, "d5", code, "1000.00", now_secs());
    let (status, error) = pay("d5", forged).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("device_signature_invalid")),
        "{error}"
    );
    let stale = device_signed(&key, &device_id, "d6", code, "1000.00", now_secs() - 600);
    let (status, error) = pay("d6", stale).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("device_signature_stale")),
        "{error}"
    );
    let mut both = device_signed(&key, &device_id, "d7", code, "1000.00", now_secs());
    both["pin"] = json!("258036");
    let (status, error) = pay("d7", both).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("confirmation_ambiguous")),
        "{error}"
    );
    let mut half = device_signed(&key, &device_id, "d8", code, "1000.00", now_secs());
    half.as_object_mut().unwrap().remove("signed_at");
    let (status, error) = pay("d8", half).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("device_signature_incomplete")),
        "{error}"
    );
    assert_eq!(
        app.available(&token).await,
        "1999.99",
        "refusals took nothing"
    );

    // Turning device payments off takes effect at once, though the key was just used.
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            "/v1/me/device-pay",
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let body = device_signed(&key, &device_id, "d8b", code, "20.00", now_secs());
    let (status, error) = pay("d8b", body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("device_pay_not_enabled")),
        "{error}"
    );
    let (status, _) = app
        .as_user(&token, "/v1/me/device-pay", &json!({ "pin": "258036" }))
        .await;
    assert_eq!(status, 204);

    // Signing in again on this device with another key turns device payments off.
    let number = app.phone_of(&token).await;
    let new_key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let again = app
        .sign_in_device(
            &number,
            json!({ "name": "Li Na's phone", "id": device_id,
                    "public_key": signing::hex(new_key.verifying_key().as_bytes()) }),
        )
        .await;
    assert_eq!(again["device_id"].as_str(), Some(device_id.as_str()));
    let body = device_signed(&new_key, &device_id, "d9", code, "20.00", now_secs());
    let (status, error) = pay("d9", body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("device_pay_not_enabled")),
        "{error}"
    );

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

    // No card chosen: a short balance is refused and nothing moves.
    let (status, error) = app
        .pay_code(&token, code, json!({ "amount": "25.00" }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("insufficient_balance")),
        "{error}"
    );
    let (status, chosen) = app.get_as(&token, "/v1/me/payment-card").await;
    assert_eq!((status, &chosen["card_id"]), (200, &Value::Null));
    let unknown = app
        .call(
            reqwest::Method::PUT,
            "/v1/me/payment-card",
            Some(&token),
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
            Some(&token),
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
            Some(&token),
            None,
            Some(&json!({ "card_id": card_id, "pin": "258036" })),
        )
        .await;
    assert_eq!(
        (status, chosen["card_id"].as_str()),
        (200, Some(card_id.as_str()))
    );

    // With the card: the 15.00 short is debited from it, then the whole 25.00 is paid.
    let body = json!({ "payload": code, "amount": "25.00" });
    let (status, paid) = app.money(&token, "/v1/me/payments", "card-1", &body).await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("SUCCESS")),
        "{paid}"
    );
    assert_eq!(app.available(&token).await, "0.00");
    // A retry is the same payment, and the card is not debited again.
    let (status, again) = app.money(&token, "/v1/me/payments", "card-1", &body).await;
    assert_eq!((status, &again["payment_id"]), (200, &paid["payment_id"]));
    let (_, page) = app.get_as(&token, "/v1/me/statement?limit=10").await;
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

    // The cashier scanning the payer's code: the card covers that too.
    let (status, enrolment) = app.as_user(&token, "/v1/me/paycode", &json!({})).await;
    assert_eq!(status, 200, "{enrolment}");
    let slot = enrolment["slot"].as_u64().unwrap();
    let secret = signing::decode_hex(enrolment["secret"].as_str().unwrap()).unwrap();
    let auth_code = paycode::code_at(&secret, slot, 0, now_secs() as u64, 60).to_digits();
    let (status, order) = app
        .signed(
            &merchant,
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
    assert_eq!(app.available(&token).await, "0.00");

    // The card holds 20.00 now: the bank declines a 30.00 debit, and nothing is paid.
    let (status, error) = app
        .pay_code(&token, code, json!({ "amount": "30.00" }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("card_payment_failed")),
        "{error}"
    );
    assert_eq!(app.available(&token).await, "0.00");
    // The cashier's side learns only that the payer cannot pay: no card, balance or reason.
    let auth_code = paycode::code_at(&secret, slot, 1, now_secs() as u64, 60).to_digits();
    let (status, error) = app
        .signed(
            &merchant,
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

async fn merchant_console_lists_orders_sums_the_day_and_retries_events(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("周杰", "100.00").await;
    let mut codes = Vec::new();
    for (no, amount) in [
        ("LIST-1", "10.00"),
        ("LIST-2", "7.00"),
        ("OTHER-1", "20.00"),
    ] {
        let (status, order) = app
            .signed(
                &merchant,
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
            &merchant,
            "POST",
            "/v1/merchant/orders/OTHER-1/refunds",
            Some(&json!({ "out_request_no": "R1", "amount": "5.00" })),
        )
        .await;
    assert_eq!(status, 200, "{refund}");

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

    // Retrying a notification: not without a URL; then at once; not once delivered.
    let (_, events) = app
        .signed(&merchant, "GET", "/v1/merchant/events", None)
        .await;
    let event_id = events["events"][0]["id"].as_str().unwrap().to_owned();
    let retry = format!("/v1/merchant/events/{event_id}/retry");
    let (status, error) = app.signed(&merchant, "POST", &retry, None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("notify_url_missing")),
        "{error}"
    );
    // Newest first, only those waiting for a URL (no URL yet: all of them, none failed).
    let (_, oldest) = app
        .signed(&merchant, "GET", "/v1/merchant/events", None)
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
            &merchant,
            "GET",
            "/v1/merchant/events?order=newest&delivery=no_notify_url",
            None,
        )
        .await;
    assert_eq!(status, 200, "{newest}");
    let (_, failed) = app
        .signed(
            &merchant,
            "GET",
            "/v1/merchant/events?delivery=failed",
            None,
        )
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
            &merchant,
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
                &merchant,
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

async fn till_keys_take_payments_and_nothing_more(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let (till_secret, till_public) = MerchantSigner::generate_key();
    let (status, key) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/till-keys",
            Some(&json!({ "public_key": till_public })),
        )
        .await;
    assert_eq!(
        (status, key["scope"].as_str()),
        (201, Some("till")),
        "{key}"
    );
    let till = Merchant {
        signer: MerchantSigner::new(&merchant.id, key["id"].as_str().unwrap(), &till_secret)
            .unwrap(),
        secret: till_secret.clone(),
        id: merchant.id.clone(),
        store_id: merchant.store_id.clone(),
        terminal_id: merchant.terminal_id.clone(),
        static_code: merchant.static_code.clone(),
    };
    // Taking a payment and looking it up: yes.
    let (status, order) = app
        .signed(
            &till,
            "POST",
            "/v1/merchant/orders",
            Some(&json!({ "out_trade_no": "TILL-1", "amount": "12.00", "subject": "tea" })),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let token = app.payer("林峰", "50.00").await;
    let (status, paid) = app
        .pay_code(&token, order["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(status, 200, "{paid}");
    let (status, _) = app
        .signed(&till, "GET", "/v1/merchant/orders/TILL-1", None)
        .await;
    assert_eq!(status, 200);
    // Refunds, cancels, keys and notification settings: no.
    let (_, other) = MerchantSigner::generate_key();
    for (method, path, body) in [
        (
            "POST",
            "/v1/merchant/orders/TILL-1/refunds",
            Some(json!({ "out_request_no": "R1", "amount": "1.00" })),
        ),
        ("POST", "/v1/merchant/orders/TILL-1/cancel", None),
        (
            "PUT",
            "/v1/merchant/notify-url",
            Some(json!({ "notify_url": "http://127.0.0.1:9/n" })),
        ),
        (
            "POST",
            "/v1/merchant/keys",
            Some(json!({ "public_key": other })),
        ),
        (
            "POST",
            "/v1/merchant/till-keys",
            Some(json!({ "public_key": other })),
        ),
    ] {
        let (status, error) = app.signed(&till, method, path, body.as_ref()).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (403, Some("key_scope")),
            "{method} {path}: {error}"
        );
    }
    // Rotating the full key leaves tills alone; revoking the till key stops it at once.
    let (new_secret, new_public) = MerchantSigner::generate_key();
    let (status, rotated) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/keys",
            Some(&json!({ "public_key": new_public })),
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    let (status, _) = app.signed(&till, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(
        status, 200,
        "a till key is no full key: rotation does not retire it"
    );
    let full = Merchant {
        signer: MerchantSigner::new(&merchant.id, rotated["id"].as_str().unwrap(), &new_secret)
            .unwrap(),
        ..merchant
    };
    let till_key_id = till.signer.key_id.clone();
    let (status, _) = app
        .signed(
            &full,
            "DELETE",
            &format!("/v1/merchant/till-keys/{till_key_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, error) = app.signed(&till, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_invalid")),
        "{error}"
    );
    app.stop().await;
}

/// Webhook events and orders join their per-merchant indexes only when the writer folds them
/// (every tenth of a second or so; migrations 0013, 0014): the merchant's event list and order
/// list page through folded and recent ones alike, each once, and the takings count them all.
async fn events_page_across_folded_and_recent_ones(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let token = app.payer("刘洋", "100.00").await;
    let pay = |n: usize| {
        let (app, merchant, token) = (&app, &merchant, &token);
        async move {
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
    };
    for n in 0..3 {
        pay(n).await;
    }
    // Past the fold's interval, the next write's batch is followed by a fold.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    pay(3).await;
    pay(4).await;
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
    an_expired_key_is_revoked_with_its_grants,
    a_payers_bank_is_never_named_to_the_merchant,
    orders_are_bounded_before_they_exist,
    a_rotated_out_key_only_sells_and_its_grants_go_with_it,
    events_page_across_folded_and_recent_ones,
    merchants_onboard_and_sign_their_requests,
    dynamic_code_paid_refunded_and_notified,
    static_codes_pins_and_bad_codes,
    payment_codes_pay_once_and_resist_guessing,
    notifications_retry_and_survive_a_restart,
    devices_confirm_payments_in_place_of_the_pin,
    a_chosen_card_covers_a_short_balance,
    production_notify_urls_are_https_to_public_hosts,
    events_made_before_a_notify_url_are_sent_once_it_is_set,
    merchant_console_lists_orders_sums_the_day_and_retries_events,
    payment_codes_die_with_the_session,
    till_keys_take_payments_and_nothing_more,
    staff_open_tills_within_their_role,
    pictures_are_read_for_payers_and_tills,
    used_nonces_stay_used_across_a_restart,
);

/// Nonces are checked in memory and logged with the request's work: a restart reloads them,
/// so a request replayed after it is still refused, and the log forgets nothing it should not.
async fn used_nonces_stay_used_across_a_restart(db: TestDb) {
    async fn order(app: &TestApp, merchant: &Merchant, nonce: &str) -> (u16, Value) {
        let body = json!({ "out_trade_no": "R1", "amount": "8.00", "subject": "tea" });
        let path = "/v1/merchant/orders";
        app.signed_with(merchant, "POST", path, Some(&body), now_secs(), nonce)
            .await
    }
    async fn profile(app: &TestApp, merchant: &Merchant, nonce: &str) -> (u16, Value) {
        let path = "/v1/merchant/profile";
        app.signed_with(merchant, "GET", path, None, now_secs(), nonce)
            .await
    }
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    assert_eq!(order(&app, &merchant, "restart-1").await.0, 200);
    assert_eq!(profile(&app, &merchant, "restart-2").await.0, 200);
    let app = app.restart().await;
    for nonce in ["restart-1", "restart-2"] {
        let (status, error) = profile(&app, &merchant, nonce).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (401, Some("nonce_reused")),
            "{nonce}: {error}"
        );
    }
    // A fresh nonce still works, and the same order comes back (its key is out_trade_no).
    let (status, again) = order(&app, &merchant, "restart-3").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(profile(&app, &merchant, "restart-3").await.0, 401);
    app.stop().await;
}

/// A request with a staff session's bearer token in place of a signature.
async fn as_staff(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    app.call(method.parse().unwrap(), path, Some(token), None, body)
        .await
}

/// Till sign-in texts to `phone`, newest first.
fn till_texts(app: &TestApp, phone: &str) -> Vec<String> {
    app.sms
        .messages_to(phone)
        .into_iter()
        .map(|message| message.text)
        .filter(|text| text.contains("till sign-in"))
        .collect()
}

/// The code in the till sign-in text after the `before`th (they go out in the background).
async fn till_code(app: &TestApp, phone: &str, before: usize) -> String {
    for _ in 0..250 {
        let texts = till_texts(app, phone);
        if texts.len() > before {
            return cashless_partners::sms::code_in(&texts[0])
                .unwrap()
                .to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no till sign-in code reached {phone}");
}

/// Signs a staff member in with the code the simulated gateway delivered.
pub(crate) async fn staff_sign_in(app: &TestApp, phone: &str) -> Value {
    let before = till_texts(app, phone).len();
    let (status, sent) = app
        .post("/v1/staff/sms-codes", &json!({ "phone": phone }))
        .await;
    assert_eq!(status, 200, "{sent}");
    let code = till_code(app, phone, before).await;
    let (status, signed_in) = app
        .post(
            "/v1/staff/sessions",
            &json!({ "phone": phone, "code": code }),
        )
        .await;
    assert_eq!(status, 201, "{signed_in}");
    signed_in
}

pub(crate) fn staff_phone() -> String {
    format!("+86137{:08}", rand::random::<u32>() % 100_000_000)
}

async fn staff_open_tills_within_their_role(db: TestDb) {
    // A real wait between codes, to see that a stranger's number is limited alike.
    let mut setup = Setup::default();
    setup.wallet.sms_resend_after = Duration::from_secs(60);
    let app = TestApp::spawn_with(db, setup).await;
    let merchant = app.merchant(None).await;
    let other = app.merchant(None).await;
    let (cashier_phone, manager_phone) = (staff_phone(), staff_phone());
    for (phone, name, role) in [
        (&cashier_phone, "Xiao Zhang", "cashier"),
        (&manager_phone, "Manager Liu", "manager"),
    ] {
        let (status, added) = app
            .signed(
                &merchant,
                "POST",
                "/v1/merchant/staff",
                Some(&json!({ "phone": phone, "name": name, "role": role })),
            )
            .await;
        assert_eq!(
            (status, added["role"].as_str()),
            (201, Some(role)),
            "{added}"
        );
        assert!(
            !added.to_string().contains(&phone[4..]),
            "the number is masked: {added}"
        );
    }
    // One merchant's staff at a time; bad input changes nothing.
    for (who, body, status, code) in [
        (
            &merchant,
            json!({ "phone": cashier_phone, "name": "Again", "role": "cashier" }),
            409,
            "staff_exists",
        ),
        (
            &other,
            json!({ "phone": cashier_phone, "name": "Poached", "role": "manager" }),
            409,
            "staff_phone_taken",
        ),
        (
            &merchant,
            json!({ "phone": "12345", "name": "Nobody", "role": "cashier" }),
            422,
            "invalid_phone",
        ),
        (
            &merchant,
            json!({ "phone": staff_phone(), "name": " ", "role": "cashier" }),
            422,
            "field_invalid",
        ),
        (
            &merchant,
            json!({ "phone": staff_phone(), "name": "Boss", "role": "owner" }),
            400,
            "invalid_request",
        ),
    ] {
        let (got, error) = app
            .signed(who, "POST", "/v1/merchant/staff", Some(&body))
            .await;
        assert_eq!(
            (got, error["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {error}"
        );
    }
    let (status, list) = app
        .signed(&merchant, "GET", "/v1/merchant/staff", None)
        .await;
    assert_eq!(
        (status, list["staff"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{list}"
    );

    // A number on no one's staff is answered exactly as a staff member's, limits included,
    // and nothing is texted to it.
    let stranger = staff_phone();
    let mut answers = Vec::new();
    for phone in [&stranger, &cashier_phone] {
        let (first, mut sent) = app
            .post("/v1/staff/sms-codes", &json!({ "phone": phone }))
            .await;
        sent["phone"] = Value::Null;
        let (again, error) = app
            .post("/v1/staff/sms-codes", &json!({ "phone": phone }))
            .await;
        let (wrong, refused) = app
            .post(
                "/v1/staff/sessions",
                &json!({ "phone": phone, "code": "000000" }),
            )
            .await;
        answers.push((
            first,
            sent,
            again,
            error["error"]["code"].clone(),
            wrong,
            refused,
        ));
    }
    assert_eq!(
        answers[0], answers[1],
        "a stranger and a cashier look alike"
    );
    assert_eq!((answers[0].0, answers[0].2, answers[0].4), (200, 429, 422));
    assert_eq!(answers[0].5["error"]["code"], "staff_code_invalid");
    assert!(
        answers[0].5["error"].get("details").is_none(),
        "no attempts count"
    );
    assert!(app.sms.messages_to(&stranger).is_empty());
    // The staff code was texted (in the background) …
    let right = till_code(&app, &cashier_phone, 0).await;
    // … and a consumer's sign-in code for the same number opens no till.
    let (status, _) = app
        .post("/v1/auth/sms-codes", &json!({ "phone": cashier_phone }))
        .await;
    assert_eq!(status, 200, "consumer codes have their own limits");
    let consumer_code = app.sms.newest_code_to(&cashier_phone).unwrap();
    let (status, _) = app
        .post(
            "/v1/staff/sessions",
            &json!({ "phone": cashier_phone, "code": consumer_code }),
        )
        .await;
    assert_eq!(status, 422);
    let (status, cashier) = app
        .post(
            "/v1/staff/sessions",
            &json!({ "phone": cashier_phone, "code": right }),
        )
        .await;
    assert_eq!(status, 201, "{cashier}");
    let cashier = cashier["token"].as_str().unwrap().to_owned();
    assert!(cashier.starts_with("clst_"));
    let (status, me) = as_staff(&app, &cashier, "GET", "/v1/staff/me", None).await;
    assert_eq!(
        (
            status,
            me["staff"]["role"].as_str(),
            me["merchant_id"].as_str()
        ),
        (200, Some("cashier"), Some(merchant.id.as_str())),
        "{me}"
    );

    // The cashier takes a payment and looks it up …
    let (status, order) = as_staff(
        &app,
        &cashier,
        "POST",
        "/v1/merchant/orders",
        Some(&json!({ "out_trade_no": "STAFF-1", "amount": "20.00", "subject": "noodles" })),
    )
    .await;
    assert_eq!(status, 200, "{order}");
    let payer = app.payer("高远", "100.00").await;
    let (status, paid) = app
        .pay_code(&payer, order["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(status, 200, "{paid}");
    let (status, order) =
        as_staff(&app, &cashier, "GET", "/v1/merchant/orders/STAFF-1", None).await;
    assert_eq!(
        (status, order["status"].as_str()),
        (200, Some("SUCCESS")),
        "{order}"
    );
    // … and can do nothing else.
    for (method, path, body) in [
        (
            "POST",
            "/v1/merchant/orders/STAFF-1/refunds",
            Some(json!({ "out_request_no": "R1", "amount": "5.00" })),
        ),
        ("POST", "/v1/merchant/orders/STAFF-1/cancel", None),
        ("GET", "/v1/merchant/events", None),
        ("GET", "/v1/merchant/staff", None),
        (
            "POST",
            "/v1/merchant/staff",
            Some(json!({ "phone": staff_phone(), "name": "Friend", "role": "manager" })),
        ),
        (
            "PUT",
            "/v1/merchant/notify-url",
            Some(json!({ "notify_url": "http://127.0.0.1:9/n" })),
        ),
    ] {
        let (status, error) = as_staff(&app, &cashier, method, path, body.as_ref()).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (403, Some("key_scope")),
            "{method} {path}: {error}"
        );
    }

    // A manager refunds, and sees the staff, but manages neither staff nor settings.
    let manager = staff_sign_in(&app, &manager_phone).await;
    assert_eq!(manager["staff"]["role"], "manager");
    let manager = manager["token"].as_str().unwrap().to_owned();
    let (status, refund) = as_staff(
        &app,
        &manager,
        "POST",
        "/v1/merchant/orders/STAFF-1/refunds",
        Some(&json!({ "out_request_no": "R1", "amount": "5.00" })),
    )
    .await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(app.available(&payer).await, "85.00");
    // The refund says who made it.
    let (status, me) = as_staff(&app, &manager, "GET", "/v1/staff/me", None).await;
    assert_eq!(status, 200);
    let manager_id = me["staff"]["id"].as_str().unwrap().to_owned();
    let actor = app
        .store
        .read(|conn| {
            conn.query_opt("SELECT actor FROM refunds WHERE out_request_no = 'R1'", &[])?
                .map(|row| row.text(0).map(str::to_owned))
                .transpose()
        })
        .await
        .unwrap();
    assert_eq!(actor, Some(format!("staff:{manager_id}")));
    // A till sees the shop, not the business.
    let (status, profile) = as_staff(&app, &manager, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(status, 200);
    assert_eq!(profile["keys"], json!([]));
    assert_eq!(profile["settlement_account"], "");
    assert!(profile["stores"].as_array().is_some_and(|s| !s.is_empty()));
    let (status, _) = as_staff(&app, &manager, "GET", "/v1/merchant/staff", None).await;
    assert_eq!(status, 200);
    let (_, other_key) = MerchantSigner::generate_key();
    for (method, path, body) in [
        (
            "POST",
            "/v1/merchant/staff",
            Some(json!({ "phone": staff_phone(), "name": "Friend", "role": "cashier" })),
        ),
        (
            "POST",
            "/v1/merchant/keys",
            Some(json!({ "public_key": other_key })),
        ),
        (
            "POST",
            "/v1/merchant/till-keys",
            Some(json!({ "public_key": other_key })),
        ),
        (
            "DELETE",
            "/v1/merchant/staff/00000000-0000-0000-0000-000000000000",
            None,
        ),
        (
            "PUT",
            "/v1/merchant/notify-url",
            Some(json!({ "notify_url": "http://127.0.0.1:9/n" })),
        ),
    ] {
        let (status, error) = as_staff(&app, &manager, method, path, body.as_ref()).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (403, Some("key_scope")),
            "{method} {path}: {error}"
        );
    }
    // Another merchant's orders stay out of reach.
    let (status, _) = app
        .signed(
            &other,
            "POST",
            "/v1/merchant/orders",
            Some(&json!({ "out_trade_no": "OTHER-1", "amount": "1.00", "subject": "x" })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = as_staff(&app, &manager, "GET", "/v1/merchant/orders/OTHER-1", None).await;
    assert_eq!(status, 404);

    // Removing the cashier ends their session at once; no more codes reach them.
    let (_, list) = app
        .signed(&merchant, "GET", "/v1/merchant/staff", None)
        .await;
    let cashier_id = list["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|person| person["role"] == "cashier")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .signed(
            &merchant,
            "DELETE",
            &format!("/v1/merchant/staff/{cashier_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = as_staff(&app, &cashier, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(status, 401);
    let (status, again) = app
        .signed(
            &merchant,
            "DELETE",
            &format!("/v1/merchant/staff/{cashier_id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (404, Some("staff_not_found"))
    );
    // Signing out ends the manager's session; made-up tokens, a consumer's session and the
    // operator's token open nothing.
    let (status, _) = as_staff(&app, &manager, "POST", "/v1/staff/sign-out", None).await;
    assert_eq!(status, 204);
    for token in [
        manager.as_str(),
        "clst_0000",
        "cls_nonsense",
        payer.as_str(),
        crate::TOKEN,
    ] {
        let (status, _) = as_staff(&app, token, "GET", "/v1/merchant/profile", None).await;
        assert_eq!(status, 401, "{token}");
    }
    // A staff endpoint refuses a key.
    let (status, error) = app.signed(&merchant, "GET", "/v1/staff/me", None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("not_staff")),
        "{error}"
    );
    // The operator revokes the merchant's (leaked) key: staff sessions end, and no one signs
    // in to its tills until it has a key again.
    let manager = staff_sign_in(&app, &manager_phone).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .client
        .delete(format!(
            "{}/v1/operator/merchants/{}/keys/{}",
            app.base, merchant.id, merchant.signer.key_id
        ))
        .bearer_auth(crate::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (status, _) = as_staff(&app, &manager, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(status, 401);
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
