//! Transit on the platform: a pass for the phone's key, what gates download, and a ride code
//! made from the pass opening a gate built from nothing but that download.

use cashless_payments::signing;
use cashless_testkit::{TestDb, both_backends};
use cashless_transit::{Certificate, Decision, Direction, Freshness, Gate, GatePlace};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{Value, json};

use crate::TestApp;
use crate::wallet::phone;

fn unhex(text: &str) -> Vec<u8> {
    cashless_wallet::secrets::decode_hex(text).unwrap()
}

/// A gate of `operator` holding exactly what the platform publishes.
fn gate_from(config: &Value) -> Gate {
    let mut gate = Gate::new(
        GatePlace {
            gate_id: "G-WULIN-01".into(),
            operator: u16::try_from(config["operator"].as_u64().unwrap()).unwrap(),
            line: "Line 1".into(),
            station: "Wulin Square".into(),
            direction: Direction::Entry,
        },
        Freshness::default(),
    );
    gate.set_issuer_keys(config["issuer_keys"].as_array().unwrap().iter().map(|key| {
        let bytes: [u8; 32] = unhex(key["public_key"].as_str().unwrap())
            .try_into()
            .unwrap();
        (
            u16::try_from(key["id"].as_u64().unwrap()).unwrap(),
            VerifyingKey::from_bytes(&bytes).unwrap(),
        )
    }));
    gate
}

fn now_secs() -> u32 {
    u32::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

async fn a_pass_makes_codes_the_gate_opens_for(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let device = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let signed_in = app
        .sign_in_device(
            &phone(),
            json!({ "name": "commuter", "public_key": signing::hex(device.verifying_key().as_bytes()) }),
        )
        .await;
    let token = signed_in["token"].as_str().unwrap().to_owned();
    // No real name yet: no pass.
    let (status, error) = app
        .as_user(&token, "/v1/me/transit/pass", &json!({ "operator": 1 }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("kyc_required")),
        "{error}"
    );
    app.verify(&token, "周杰").await;
    // An operator that does not exist, or a body that is not one.
    let (status, error) = app
        .as_user(&token, "/v1/me/transit/pass", &json!({ "operator": 9 }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("transit_operator_unknown"))
    );
    let (status, _) = app
        .as_user(
            &token,
            "/v1/me/transit/pass",
            &json!({ "operator": "metro" }),
        )
        .await;
    assert_eq!(status, 400);
    // A phone signed in without a key cannot hold a pass.
    let keyless = app.sign_in(&phone(), "old phone").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.verify(&keyless, "李雷").await;
    let (status, error) = app
        .as_user(&keyless, "/v1/me/transit/pass", &json!({ "operator": 1 }))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("device_key_required"))
    );

    let (status, pass) = app
        .as_user(&token, "/v1/me/transit/pass", &json!({ "operator": 1 }))
        .await;
    assert_eq!(status, 200, "{pass}");
    assert_eq!(pass["operator_name"], "Hangzhou Metro");
    assert_eq!(pass["credit_limit"]["amount"], "50.00");
    let certificate =
        Certificate::from_bytes(&unhex(pass["certificate"].as_str().unwrap())).unwrap();
    let body = certificate.body();
    assert_eq!(body.device_key, device.verifying_key().to_bytes());
    assert_eq!(body.operator, 1);
    assert_eq!(u64::from(body.not_after - body.not_before), 86_400);
    // Renewing keeps the same opaque account reference.
    let (_, renewed) = app
        .as_user(&token, "/v1/me/transit/pass", &json!({ "operator": 1 }))
        .await;
    let renewed =
        Certificate::from_bytes(&unhex(renewed["certificate"].as_str().unwrap())).unwrap();
    assert_eq!(renewed.body().account_ref, body.account_ref);
    assert_ne!(renewed.body().serial, body.serial);

    // The gate holds only what the platform publishes, and opens for the phone's code once.
    let (status, config) = app.get("/v1/transit/gate-config?operator=1").await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["blacklist"], json!([]));
    let mut gate = gate_from(&config);
    let now = now_secs();
    let code = certificate.ride_code(&device, now).to_text();
    assert!(matches!(gate.decide(&code, now), Decision::Open(_)));
    assert!(matches!(gate.decide(&code, now + 1), Decision::Refuse(r) if r.code() == "replay"));
    // A bus gate refuses a metro pass.
    let (_, bus) = app.get("/v1/transit/gate-config?operator=2").await;
    let mut bus_gate = gate_from(&bus);
    let fresh = certificate.ride_code(&device, now + 2).to_text();
    assert!(
        matches!(bus_gate.decide(&fresh, now + 2), Decision::Refuse(r) if r.code() == "wrong_operator")
    );
    let (status, _) = app.get("/v1/transit/gate-config?operator=9").await;
    assert_eq!(status, 404);

    // Rotation: one new key, and the day's passes still open gates; after a second rotation
    // the first key is no longer published and its passes stop working.
    let (status, rotated) = app
        .post("/v1/operator/transit/issuer-keys", &json!({}))
        .await;
    assert_eq!(status, 201, "{rotated}");
    assert_eq!(
        rotated["id"].as_u64(),
        Some(u64::from(body.issuer_key_id) + 1)
    );
    let (_, config) = app.get("/v1/transit/gate-config?operator=1").await;
    assert_eq!(config["issuer_keys"].as_array().map(Vec::len), Some(2));
    let mut gate = gate_from(&config);
    let code = certificate.ride_code(&device, now + 3).to_text();
    assert!(matches!(gate.decide(&code, now + 3), Decision::Open(_)));
    let (_, newer) = app
        .as_user(&token, "/v1/me/transit/pass", &json!({ "operator": 1 }))
        .await;
    assert_eq!(
        newer["issuer_key_id"].as_u64(),
        rotated["id"].as_u64(),
        "new passes use the new key"
    );
    let (status, _) = app
        .post("/v1/operator/transit/issuer-keys", &json!({}))
        .await;
    assert_eq!(status, 201);
    let (_, config) = app.get("/v1/transit/gate-config?operator=1").await;
    let mut gate = gate_from(&config);
    let code = certificate.ride_code(&device, now + 4).to_text();
    assert!(
        matches!(gate.decide(&code, now + 4), Decision::Refuse(r) if r.code() == "unknown_issuer_key")
    );
    // The operator's routes need the operator's token.
    let response = app
        .client
        .post(format!("{}/v1/operator/transit/issuer-keys", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // The key survives a restart (sealed in the database, opened with the same pepper).
    let app = app.restart().await;
    let (status, after) = app
        .as_user(&token, "/v1/me/transit/pass", &json!({ "operator": 1 }))
        .await;
    assert_eq!(status, 200, "{after}");
    let after = Certificate::from_bytes(&unhex(after["certificate"].as_str().unwrap())).unwrap();
    let (_, config) = app.get("/v1/transit/gate-config?operator=1").await;
    let mut gate = gate_from(&config);
    let code = after.ride_code(&device, now + 5).to_text();
    assert!(matches!(gate.decide(&code, now + 5), Decision::Open(_)));
    app.stop().await;
}

both_backends!(a_pass_makes_codes_the_gate_opens_for);
