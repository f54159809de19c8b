//! Merchants and QR payments over HTTP, on both backends: onboarding and signed requests,
//! dynamic and static codes, payment codes, refunds, cancels, and signed notifications.

mod keys;
mod notifications;
mod orders;
mod paycodes;
mod staff;

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
