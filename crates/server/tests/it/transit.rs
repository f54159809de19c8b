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
    cashless_kernel::secrets::decode_hex(text).unwrap()
}

/// A gate of `operator` holding exactly what the platform publishes.
fn gate_from(config: &Value) -> Gate {
    gate_at(
        config,
        GatePlace {
            gate_id: "G-WULIN-01".into(),
            operator: u16::try_from(config["operator"].as_u64().unwrap()).unwrap(),
            line: "1".into(),
            station: "wulin-square".into(),
            direction: Direction::Entry,
        },
    )
}

/// A gate at `place` holding exactly what the platform publishes.
fn gate_at(config: &Value, place: GatePlace) -> Gate {
    let mut gate = Gate::new(place, Freshness::default());
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

async fn a_pass_needs_a_real_name_a_known_operator_and_a_device_key(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (token, _device) = app.phone_with_key().await;
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
    app.stop().await;
}

async fn a_pass_makes_codes_the_gate_opens_for(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (token, device) = app.phone_with_key().await;
    app.verify(&token, "周杰").await;
    // A gate that fetched its configuration before anyone had a pass holds the key passes
    // will be signed with.
    let (status, early) = app.get("/v1/transit/gate-config?operator=1").await;
    assert_eq!(status, 200, "{early}");
    assert_eq!(
        early["issuer_keys"].as_array().map(Vec::len),
        Some(1),
        "{early}"
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
    let mut early_gate = gate_from(&early);
    assert!(matches!(early_gate.decide(&code, now), Decision::Open(_)));
    // A bus gate refuses a metro pass.
    let (_, bus) = app.get("/v1/transit/gate-config?operator=2").await;
    let mut bus_gate = gate_from(&bus);
    let fresh = certificate.ride_code(&device, now + 2).to_text();
    assert!(
        matches!(bus_gate.decide(&fresh, now + 2), Decision::Refuse(r) if r.code() == "wrong_operator")
    );
    let (status, _) = app.get("/v1/transit/gate-config?operator=9").await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// Rotation: one new key, and the day's passes still open gates; after a second rotation the
/// first key is no longer published and its passes stop working. The key survives a restart.
async fn issuer_keys_rotate_and_survive_a_restart(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut rider = app.rider("周杰", None).await;
    let certificate = app.pass(&mut rider, 1).await;
    let (token, device) = (rider.token.clone(), &rider.device);
    let now = now_secs();
    let (status, rotated) = app
        .post("/v1/operator/transit/issuer-keys", &json!({}))
        .await;
    assert_eq!(status, 201, "{rotated}");
    assert_eq!(
        rotated["id"].as_u64(),
        Some(u64::from(certificate.body().issuer_key_id) + 1)
    );
    let (_, config) = app.get("/v1/transit/gate-config?operator=1").await;
    assert_eq!(config["issuer_keys"].as_array().map(Vec::len), Some(2));
    let mut gate = gate_from(&config);
    let code = certificate.ride_code(device, now + 3).to_text();
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
    let code = certificate.ride_code(device, now + 4).to_text();
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
    let code = after.ride_code(device, now + 5).to_text();
    assert!(matches!(gate.decide(&code, now + 5), Decision::Open(_)));
    app.stop().await;
}

/// A gate the platform knows: registered with its place and its own key.
struct TestGate {
    gate: Gate,
    key: SigningKey,
    batches: u32,
}

impl TestApp {
    /// Registers a gate at `line`/`station` and builds it from what gates download.
    async fn gate(
        &self,
        operator: u16,
        id: &str,
        line: &str,
        station: &str,
        direction: Direction,
    ) -> TestGate {
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let (status, body) = self
            .post(
                "/v1/operator/transit/gates",
                &json!({
                    "gate_id": id, "operator": operator, "line": line, "station": station,
                    "direction": direction,
                    "public_key": signing::hex(key.verifying_key().as_bytes()),
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (_, config) = self
            .get(&format!("/v1/transit/gate-config?operator={operator}"))
            .await;
        let mut gate = gate_at(
            &config,
            GatePlace {
                gate_id: id.into(),
                operator,
                line: line.into(),
                station: station.into(),
                direction,
            },
        );
        load_blacklist(&mut gate, &config);
        TestGate {
            gate,
            key,
            batches: 0,
        }
    }

    /// Uploads `taps` as the gate's next batch (or as `batch_id`), signed with `key`.
    async fn upload(&self, gate_id: &str, key: &SigningKey, batch: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(batch).unwrap();
        let mut signed = b"cashless-gate-batch-v1\n".to_vec();
        signed.extend_from_slice(&body);
        let signature = signing::hex(&ed25519_dalek::Signer::sign(key, &signed).to_bytes());
        let response = self
            .client
            .post(format!("{}/v1/transit/taps", self.base))
            .header("Cashless-Gate-Id", gate_id)
            .header("Cashless-Gate-Signature", signature)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// A rider with a real name, a device key, a balance and a pass for `operator`.
    /// A new user signed in on a phone holding its own key: the token and the key.
    async fn phone_with_key(&self) -> (String, SigningKey) {
        let device = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let signed_in = self
            .sign_in_device(
                &phone(),
                json!({ "name": "phone", "public_key": signing::hex(device.verifying_key().as_bytes()) }),
            )
            .await;
        let token = signed_in["token"].as_str().unwrap().to_owned();
        (token, device)
    }

    async fn rider(&self, name: &str, balance: Option<&str>) -> Rider {
        let (token, device) = self.phone_with_key().await;
        self.verify(&token, name).await;
        let card = self
            .link_card(&token, &crate::wallet::card(crate::wallet::ICBC), name)
            .await;
        let card_id = card["id"].as_str().unwrap().to_owned();
        if let Some(balance) = balance {
            let top_up = self.top_up(&token, &card_id, balance).await;
            assert_eq!(top_up["status"], "succeeded", "{top_up}");
        }
        Rider {
            token,
            device,
            card_id,
            passes: Vec::new(),
        }
    }

    async fn pass(&self, rider: &mut Rider, operator: u16) -> Certificate {
        let (status, pass) = self
            .as_user(
                &rider.token,
                "/v1/me/transit/pass",
                &json!({ "operator": operator }),
            )
            .await;
        assert_eq!(status, 200, "{pass}");
        let certificate =
            Certificate::from_bytes(&unhex(pass["certificate"].as_str().unwrap())).unwrap();
        rider.passes.push(certificate);
        certificate
    }

    async fn balance(&self, token: &str) -> String {
        let (_, me) = self.get_as(token, "/v1/me").await;
        me["balance"]["available"]["amount"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn journeys(&self, token: &str) -> Value {
        let (status, body) = self.get_as(token, "/v1/me/transit/journeys").await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

struct Rider {
    token: String,
    device: SigningKey,
    card_id: String,
    passes: Vec<Certificate>,
}

fn load_blacklist(gate: &mut Gate, config: &Value) {
    gate.set_blacklist(cashless_transit::Blacklist {
        version: config["blacklist_version"].as_u64().unwrap(),
        accounts: config["blacklist"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| <[u8; 8]>::try_from(unhex(a.as_str().unwrap())).unwrap())
            .collect(),
    });
}

impl TestGate {
    /// The gate decides on the code; it must open.
    fn open(&mut self, code: &str, at: u32) -> cashless_transit::Tap {
        match self.gate.decide(code, at) {
            Decision::Open(tap) => tap,
            Decision::Refuse(refusal) => panic!("the gate refused: {}", refusal.code()),
        }
    }

    fn batch(&mut self, taps: &[&cashless_transit::Tap]) -> Value {
        self.batches += 1;
        json!({
            "gate_id": self.gate.place().gate_id,
            "batch_id": format!("batch-{}", self.batches),
            "taps": taps,
        })
    }
}

/// Seconds to nanoseconds, for looking ahead with `settle_transit`.
fn ns(secs: u32) -> u64 {
    u64::from(secs) * 1_000_000_000
}

/// One rider's day on the metro and the bus, in phases that carry the balance along.
struct Day {
    rider: Rider,
    metro: Certificate,
    entry: TestGate,
    exit: TestGate,
    now: u32,
    /// The code shown at the first entry, and the tap it made there.
    code_in: String,
    tap_in: cashless_transit::Tap,
    /// The entry gate's first batch, and the platform's answer to it.
    entry_batch: Value,
    first: Value,
}

async fn the_whole_ride_is_priced_debited_and_on_the_statement(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut day = a_ride_is_priced_once_both_taps_are_in(&app).await;
    the_fare_is_on_the_statement(&app, &day).await;
    a_batch_is_taken_once_and_only_from_its_gate(&app, &mut day).await;
    a_copied_code_is_flagged_and_charged_once(&app, &day).await;
    the_bus_charges_a_flat_fare_at_boarding(&app, &mut day).await;
    an_entry_without_an_exit_pays_the_most_until_its_exit_comes(&app, &mut day).await;
    app.stop().await;
}

/// A rider with 20.00 enters at Xianghu and leaves at Wulin Square; the exit gate uploads
/// first.
async fn a_ride_is_priced_once_both_taps_are_in(app: &TestApp) -> Day {
    let mut rider = app.rider("王芳", Some("20.00")).await;
    let metro = app.pass(&mut rider, 1).await;
    let mut entry = app
        .gate(1, "HZM-XIANGHU-IN-1", "1", "xianghu", Direction::Entry)
        .await;
    let mut exit = app
        .gate(1, "HZM-WULIN-OUT-1", "1", "wulin-square", Direction::Exit)
        .await;
    let now = now_secs();
    let code_in = metro.ride_code(&rider.device, now).to_text();
    let tap_in = entry.open(&code_in, now);
    let code_out = metro.ride_code(&rider.device, now + 5).to_text();
    let tap_out = exit.open(&code_out, now + 5);

    // The exit gate uploads first: nothing to price until the entry arrives.
    let exit_batch = exit.batch(&[&tap_out]);
    let (status, result) = app.upload("HZM-WULIN-OUT-1", &exit.key, &exit_batch).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        (
            result["accepted"].as_u64(),
            result["journeys_priced"].as_u64()
        ),
        (Some(1), Some(0)),
        "{result}"
    );
    assert_eq!(app.balance(&rider.token).await, "20.00");
    let entry_batch = entry.batch(&[&tap_in]);
    let (status, first) = app
        .upload("HZM-XIANGHU-IN-1", &entry.key, &entry_batch)
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["journeys_priced"], 1, "{first}");
    // Xianghu → Wulin Square is 15.8 km on line 1: the 18 km band, 5 CNY.
    assert_eq!(app.balance(&rider.token).await, "15.00");
    let journeys = app.journeys(&rider.token).await;
    let journey = &journeys["journeys"][0];
    assert_eq!(journey["kind"], "paired", "{journeys}");
    assert_eq!(journey["from"]["name"], "Xianghu");
    assert_eq!(journey["to"]["name"], "Wulin Square");
    assert_eq!(journey["distance_m"], 15_800);
    assert_eq!(journey["fare"]["amount"], "5.00");
    assert_eq!(journey["status"], "paid");
    assert_eq!(journeys["owed"]["amount"], "0.00");
    Day {
        rider,
        metro,
        entry,
        exit,
        now,
        code_in,
        tap_in,
        entry_batch,
        first,
    }
}

async fn the_fare_is_on_the_statement(app: &TestApp, day: &Day) {
    let rider = &day.rider;
    let (_, statement) = app.get_as(&rider.token, "/v1/me/statement").await;
    let line = statement["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["kind"] == "transit")
        .unwrap_or_else(|| panic!("no transit line in {statement}"));
    assert_eq!(line["amount"]["amount"], "-5.00", "{line}");
    assert_eq!(line["counterparty"], "Hangzhou Metro");
    assert_eq!(line["status"], "succeeded");
    // The statement's Transit filter keeps the fares, and only them.
    let (status, fares) = app
        .get_as(&rider.token, "/v1/me/statement?kind=transit")
        .await;
    assert_eq!(status, 200, "{fares}");
    let kinds: Vec<&str> = fares["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["kind"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.is_empty() && kinds.iter().all(|kind| kind.starts_with("transit")),
        "{fares}"
    );
    assert!(
        statement["items"].as_array().unwrap().len() > kinds.len(),
        "the top-up is left out"
    );
}

/// The same batch again answers the same and charges nothing; another body under its id is
/// refused; so is a batch signed with another key, or by an unknown gate.
async fn a_batch_is_taken_once_and_only_from_its_gate(app: &TestApp, day: &mut Day) {
    let (rider, entry, exit) = (&day.rider, &mut day.entry, &day.exit);
    let (entry_batch, first, tap_in) = (&day.entry_batch, &day.first, &day.tap_in);
    let (status, again) = app
        .upload("HZM-XIANGHU-IN-1", &entry.key, entry_batch)
        .await;
    assert_eq!((status, &again), (200, first));
    assert_eq!(app.balance(&rider.token).await, "15.00");
    let mut changed = entry_batch.clone();
    changed["taps"] = json!([]);
    let (status, error) = app.upload("HZM-XIANGHU-IN-1", &entry.key, &changed).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("batch_mismatch"))
    );
    let wrong_key = entry.batch(&[]);
    let (status, error) = app.upload("HZM-XIANGHU-IN-1", &exit.key, &wrong_key).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("gate_signature_invalid"))
    );
    let empty = entry.batch(&[]);
    let (status, _) = app.upload("NO-SUCH-GATE", &entry.key, &empty).await;
    assert_eq!(status, 401);
    // The same tap in a later batch of the same gate is a re-upload, not a second ride.
    let again = entry.batch(&[tap_in]);
    let (status, result) = app.upload("HZM-XIANGHU-IN-1", &entry.key, &again).await;
    assert_eq!(status, 200);
    assert_eq!(result["already_uploaded"], 1, "{result}");
}

/// The entry code also opened a second gate (shown twice, or copied): recorded, flagged for
/// the operator, charged once.
async fn a_copied_code_is_flagged_and_charged_once(app: &TestApp, day: &Day) {
    let (rider, code_in, now) = (&day.rider, &day.code_in, day.now);
    let mut other = app
        .gate(1, "HZM-BINKANG-IN-1", "1", "binkang-road", Direction::Entry)
        .await;
    let copied = other.open(code_in, now + 2);
    let batch = other.batch(&[&copied]);
    let (status, result) = app.upload("HZM-BINKANG-IN-1", &other.key, &batch).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        (result["reused"].as_u64(), result["accepted"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(app.balance(&rider.token).await, "15.00");
    let (status, flags) = app.get("/v1/operator/transit/flags?operator=1").await;
    assert_eq!(status, 200, "{flags}");
    assert_eq!(flags.as_array().unwrap().len(), 1, "{flags}");
    assert_eq!(flags[0]["kind"], "code_reused");
    assert_eq!(flags[0]["gate_id"], "HZM-BINKANG-IN-1");
    assert_eq!(flags[0]["first_gate_id"], "HZM-XIANGHU-IN-1");
}

async fn the_bus_charges_a_flat_fare_at_boarding(app: &TestApp, day: &mut Day) {
    let (rider, now) = (&mut day.rider, day.now);
    let bus = app.pass(rider, 2).await;
    let mut reader = app
        .gate(2, "BUS-7-V0815", "7", "V0815", Direction::Entry)
        .await;
    let board = reader.open(&bus.ride_code(&rider.device, now + 6).to_text(), now + 6);
    let batch = reader.batch(&[&board]);
    let (status, result) = app.upload("BUS-7-V0815", &reader.key, &batch).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["journeys_priced"], 1);
    assert_eq!(app.balance(&rider.token).await, "13.00");
}

/// An entry without an exit: after the longest journey and the upload grace it pays the
/// maximum fare (8 CNY). Its exit arriving later still reprices it and gives back the rest.
async fn an_entry_without_an_exit_pays_the_most_until_its_exit_comes(app: &TestApp, day: &mut Day) {
    let (rider, metro, entry, now) = (&day.rider, &day.metro, &mut day.entry, day.now);
    let lone = entry.open(&metro.ride_code(&rider.device, now + 8).to_text(), now + 8);
    let batch = entry.batch(&[&lone]);
    let (status, _) = app.upload("HZM-XIANGHU-IN-1", &entry.key, &batch).await;
    assert_eq!(status, 200);
    assert_eq!(app.rides.settle_transit(ns(now + 60)).await.unwrap(), 0);
    let later = ns(now + 8 + 6 * 3600 + 1);
    assert_eq!(app.rides.settle_transit(later).await.unwrap(), 1);
    assert_eq!(app.balance(&rider.token).await, "5.00");
    let journeys = app.journeys(&rider.token).await;
    assert_eq!(
        journeys["journeys"][0]["kind"], "unpaired_entry",
        "{journeys}"
    );
    assert_eq!(journeys["journeys"][0]["fare"]["amount"], "8.00");
    let mut xixing = app
        .gate(1, "HZM-XIXING-OUT-1", "1", "xixing", Direction::Exit)
        .await;
    let late_exit = xixing.open(&metro.ride_code(&rider.device, now + 9).to_text(), now + 9);
    let batch = xixing.batch(&[&late_exit]);
    let (status, result) = app.upload("HZM-XIXING-OUT-1", &xixing.key, &batch).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["journeys_priced"], 1);
    // Xianghu → Xixing is 3.3 km: 2 CNY; 6 CNY comes back.
    assert_eq!(app.balance(&rider.token).await, "11.00");
    let journeys = app.journeys(&rider.token).await;
    assert_eq!(journeys["journeys"][0]["kind"], "paired", "{journeys}");
    assert_eq!(journeys["journeys"][0]["fare"]["amount"], "2.00");
    let (_, statement) = app.get_as(&rider.token, "/v1/me/statement").await;
    assert!(
        statement["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|item| item["kind"] == "transit_refund" && item["amount"]["amount"] == "6.00"),
        "{statement}"
    );
    // Settling again changes nothing.
    assert_eq!(app.rides.settle_transit(later).await.unwrap(), 0);
    assert_eq!(app.balance(&rider.token).await, "11.00");
}

async fn a_rider_who_cannot_pay_is_blacklisted_until_the_debt_is_paid(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut rider = app.rider("赵磊", None).await;
    let metro = app.pass(&mut rider, 1).await;
    let mut entry = app
        .gate(1, "HZM-CITY-IN-1", "1", "city-station", Direction::Entry)
        .await;
    let mut exit = app
        .gate(1, "HZM-WULINMEN-OUT-1", "2", "wulinmen", Direction::Exit)
        .await;
    let (_, before) = app.get("/v1/transit/gate-config?operator=1").await;
    let now = now_secs();
    let tap_in = entry.open(&metro.ride_code(&rider.device, now).to_text(), now);
    let tap_out = exit.open(&metro.ride_code(&rider.device, now + 3).to_text(), now + 3);
    let batch = json!({ "gate_id": "HZM-CITY-IN-1", "batch_id": "b1", "taps": [tap_in] });
    assert_eq!(app.upload("HZM-CITY-IN-1", &entry.key, &batch).await.0, 200);
    let batch = json!({ "gate_id": "HZM-WULINMEN-OUT-1", "batch_id": "b1", "taps": [tap_out] });
    assert_eq!(
        app.upload("HZM-WULINMEN-OUT-1", &exit.key, &batch).await.0,
        200
    );
    // City Station → Fengqi Road (3.0 km on line 1) → Wulinmen (2.3 km on line 2): 5.3 km, 3 CNY.
    let journeys = app.journeys(&rider.token).await;
    assert_eq!(journeys["journeys"][0]["distance_m"], 5_300, "{journeys}");
    assert_eq!(journeys["journeys"][0]["status"], "owed");
    assert_eq!(journeys["owed"]["amount"], "3.00");
    let (_, statement) = app.get_as(&rider.token, "/v1/me/statement").await;
    assert_eq!(statement["items"][0]["status"], "processing", "{statement}");

    // The gates hear of it with the next blacklist version and refuse the rider.
    let (_, config) = app.get("/v1/transit/gate-config?operator=1").await;
    assert!(
        config["blacklist_version"].as_u64() > before["blacklist_version"].as_u64(),
        "{config}"
    );
    let account = signing::hex(&metro.body().account_ref);
    assert_eq!(config["blacklist"], json!([account]));
    load_blacklist(&mut entry.gate, &config);
    assert!(matches!(
        entry.gate.decide(&metro.ride_code(&rider.device, now + 4).to_text(), now + 4),
        Decision::Refuse(r) if r.code() == "blacklisted"
    ));
    // Paying with nothing to pay with says what is owed.
    let (status, error) = app
        .as_user(&rider.token, "/v1/me/transit/debts/pay", &json!({}))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("insufficient_balance")),
        "{error}"
    );
    assert_eq!(error["error"]["details"]["owed"]["amount"], "3.00");

    // Topped up, the debt is paid (by the rider, or by the settler first) and the rider is
    // off the list with a newer version.
    app.top_up(&rider.token, &rider.card_id, "10.00").await;
    let (status, paid) = app
        .as_user(&rider.token, "/v1/me/transit/debts/pay", &json!({}))
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["owed"]["amount"], "0.00");
    assert_eq!(paid["journeys"][0]["status"], "paid");
    assert_eq!(app.balance(&rider.token).await, "7.00");
    let (_, cleared) = app.get("/v1/transit/gate-config?operator=1").await;
    assert_eq!(cleared["blacklist"], json!([]));
    assert!(cleared["blacklist_version"].as_u64() > config["blacklist_version"].as_u64());
    load_blacklist(&mut entry.gate, &cleared);
    entry.open(&metro.ride_code(&rider.device, now + 6).to_text(), now + 6);
    // An older list arriving late does not put the rider back.
    load_blacklist(&mut entry.gate, &config);
    entry.open(&metro.ride_code(&rider.device, now + 7).to_text(), now + 7);
    let (_, statement) = app.get_as(&rider.token, "/v1/me/statement").await;
    let line = statement["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["kind"] == "transit")
        .unwrap();
    assert_eq!(line["status"], "succeeded", "{line}");
    app.stop().await;
}

async fn uploaded_taps_are_checked_again(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut rider = app.rider("陈晨", Some("5.00")).await;
    let metro = app.pass(&mut rider, 1).await;
    let mut gate = app
        .gate(1, "HZM-JINJIANG-IN-1", "1", "jinjiang", Direction::Entry)
        .await;
    let now = now_secs();
    let good = gate.open(&metro.ride_code(&rider.device, now).to_text(), now);
    // Each a tap no honest gate uploads.
    let mut forged = good.clone();
    let mut bytes = *cashless_transit::RideCode::parse(&good.code)
        .unwrap()
        .as_bytes();
    bytes[150] ^= 1;
    let forged_code = cashless_transit::RideCode::from_bytes(&bytes).unwrap();
    forged.code = forged_code.to_text();
    forged.code_digest = cashless_transit::gate::hex(&forged_code.digest());
    let mut mismatched = good.clone();
    mismatched.code_digest = "00".repeat(16);
    let mut elsewhere = good.clone();
    elsewhere.station = "xianghu".into();
    let mut future = good.clone();
    future.at = now + 3_600;
    let mut ancient = good.clone();
    ancient.at = now - 40 * 86_400;
    let mut stale = good.clone();
    stale.at = now + 29;
    stale.code = metro.ride_code(&rider.device, now - 100).to_text();
    stale.code_digest = cashless_transit::gate::hex(
        &cashless_transit::RideCode::parse(&stale.code)
            .unwrap()
            .digest(),
    );
    let mut garbage = good.clone();
    garbage.code = "hello".into();
    let batch = gate.batch(&[
        &forged,
        &mismatched,
        &elsewhere,
        &future,
        &ancient,
        &stale,
        &garbage,
        &good,
    ]);
    let (status, result) = app.upload("HZM-JINJIANG-IN-1", &gate.key, &batch).await;
    assert_eq!(status, 200, "{result}");
    let codes: Vec<&str> = result["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "bad_signature",
            "digest_mismatch",
            "wrong_place",
            "tap_from_the_future",
            "tap_too_old",
            "code_too_old",
            "not_transit",
        ]
    );
    assert_eq!(result["accepted"], 1, "{result}");
    app.stop().await;
}

async fn a_malformed_batch_or_one_for_another_gate_is_refused_whole(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let gate = app
        .gate(1, "HZM-JINJIANG-IN-1", "1", "jinjiang", Direction::Entry)
        .await;
    let (status, error) = app
        .upload(
            "HZM-JINJIANG-IN-1",
            &gate.key,
            &json!({ "gate_id": "HZM-JINJIANG-IN-1" }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("body_invalid"))
    );
    let (status, error) = app
        .upload(
            "HZM-JINJIANG-IN-1",
            &gate.key,
            &json!({ "gate_id": "OTHER", "batch_id": "x", "taps": [] }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("gate_mismatch"))
    );
    app.stop().await;
}

/// A gate is registered only at a station its line serves, and asks where it stands signed
/// with its own key.
async fn a_gate_stands_on_its_line_and_asks_where_with_its_key(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let gate = app
        .gate(1, "HZM-JINJIANG-IN-1", "1", "jinjiang", Direction::Entry)
        .await;
    // Registering a gate at a station its line does not serve is refused.
    let (status, error) = app
        .post(
            "/v1/operator/transit/gates",
            &json!({ "gate_id": "X-1", "operator": 1, "line": "2", "station": "xianghu",
                     "direction": "entry", "public_key": signing::hex(gate.key.verifying_key().as_bytes()) }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("transit_station_unknown"))
    );
    // The gate page asks where its gate stands, signed by the gate's key; nobody else can.
    let whoami = |signature: String| {
        app.client
            .get(format!("{}/v1/transit/gate", app.base))
            .header("Cashless-Gate-Id", "HZM-JINJIANG-IN-1")
            .header("Cashless-Gate-Signature", signature)
            .send()
    };
    let signed = ed25519_dalek::Signer::sign(&gate.key, b"cashless-gate-scan-v1\n");
    let response = whoami(signing::hex(&signed.to_bytes())).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let place: Value = response.json().await.unwrap();
    assert_eq!(
        (place["station"].as_str(), place["direction"].as_str()),
        (Some("jinjiang"), Some("entry"))
    );
    let other = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let forged = ed25519_dalek::Signer::sign(&other, b"cashless-gate-scan-v1\n");
    let response = whoami(signing::hex(&forged.to_bytes())).await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    app.stop().await;
}

async fn the_network_is_published_with_its_fares(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (status, network) = app.get("/v1/transit/network?operator=1").await;
    assert_eq!(status, 200, "{network}");
    assert_eq!(network["fare_mode"], "distance");
    assert_eq!(network["lines"][0]["stops"][0]["name"], "Xianghu");
    assert_eq!(network["fare_bands"][0]["fare"]["amount"], "2.00");
    app.stop().await;
}

both_backends!(
    a_pass_needs_a_real_name_a_known_operator_and_a_device_key,
    a_pass_makes_codes_the_gate_opens_for,
    issuer_keys_rotate_and_survive_a_restart,
    the_whole_ride_is_priced_debited_and_on_the_statement,
    a_rider_who_cannot_pay_is_blacklisted_until_the_debt_is_paid,
    uploaded_taps_are_checked_again,
    a_malformed_batch_or_one_for_another_gate_is_refused_whole,
    a_gate_stands_on_its_line_and_asks_where_with_its_key,
    the_network_is_published_with_its_fares,
);
