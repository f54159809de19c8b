//! A transit pass: only for a verified rider, bound to the phone's key, renewed with the same
//! account reference; a gate holding only what the platform publishes opens for its codes.

use cashless_testkit::wallet::phone_device;
use cashless_testkit::{TestDb, both_backends};
use cashless_transit::{Decision, Direction, Freshness, Gate, GatePlace};
use ed25519_dalek::SigningKey;

use crate::{BUS, Harness, METRO, load, now_secs};

async fn a_pass_binds_the_phones_key_and_its_codes_open_gates(db: TestDb) {
    let harness = Harness::new(db).await;
    let device = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let public_key = cashless_kernel::secrets::hex(device.verifying_key().as_bytes());
    let consumer = harness.kit.sign_in(phone_device(Some(public_key))).await;
    let unverified = harness.rides.transit_pass(&consumer.session, METRO).await;
    assert_eq!(unverified.unwrap_err().code, "kyc_required");
    harness.kit.verify(&consumer, "周杰").await;
    let unknown = harness.rides.transit_pass(&consumer.session, 9).await;
    assert_eq!(unknown.unwrap_err().code, "transit_operator_unknown");
    // A phone signed in without a key cannot hold a pass.
    let keyless = harness.kit.verified("李雷").await;
    let refused = harness.rides.transit_pass(&keyless.session, METRO).await;
    assert_eq!(refused.unwrap_err().code, "device_key_required");
    assert_eq!(harness.rows("transit_passes").await, 0);

    let pass = harness
        .rides
        .transit_pass(&consumer.session, METRO)
        .await
        .unwrap();
    assert_eq!(pass.operator_name, "Hangzhou Metro");
    assert_eq!(pass.credit_limit.amount, "50.00");
    let certificate = cashless_transit::Certificate::from_bytes(
        &cashless_kernel::secrets::decode_hex(&pass.certificate).unwrap(),
    )
    .unwrap();
    let body = certificate.body();
    assert_eq!(body.device_key, device.verifying_key().to_bytes());
    assert_eq!(
        (body.operator, body.issuer_key_id),
        (METRO, pass.issuer_key_id)
    );
    assert_eq!(u64::from(body.not_after - body.not_before), 86_400);
    // Renewing keeps the opaque account reference; the serial is new.
    let renewed = harness
        .pass(&consumer_rider(consumer, device.clone()), METRO)
        .await;
    assert_eq!(renewed.body().account_ref, body.account_ref);
    assert_ne!(renewed.body().serial, body.serial);
    assert_eq!(harness.rows("transit_passes").await, 2);
    assert_eq!(harness.rows("transit_accounts").await, 1);

    // A metro gate holding only the published keys opens for the code once.
    let config = harness.rides.gate_config(METRO).await.unwrap();
    assert!(config.blacklist.is_empty());
    let mut gate = entry_gate(METRO, "1", "wulin-square");
    load(&mut gate, &config);
    let now = now_secs();
    let code = certificate.ride_code(&device, now).to_text();
    assert!(matches!(gate.decide(&code, now), Decision::Open(_)));
    assert!(matches!(gate.decide(&code, now + 1), Decision::Refuse(r) if r.code() == "replay"));
    // A code made with another phone's key does not.
    let thief = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let stolen = certificate.ride_code(&thief, now + 2).to_text();
    assert!(matches!(gate.decide(&stolen, now + 2), Decision::Refuse(_)));
    // A bus reader refuses a metro pass.
    let mut bus = entry_gate(BUS, "7", "V0815");
    load(&mut bus, &harness.rides.gate_config(BUS).await.unwrap());
    let fresh = certificate.ride_code(&device, now + 3).to_text();
    assert!(
        matches!(bus.decide(&fresh, now + 3), Decision::Refuse(r) if r.code() == "wrong_operator")
    );
}

async fn a_rotated_issuer_key_keeps_the_days_passes_working_once(db: TestDb) {
    let harness = Harness::new(db).await;
    let rider = harness.rider("王芳", None).await;
    let certificate = harness.pass(&rider, METRO).await;
    let first_key = certificate.body().issuer_key_id;
    let rotated = harness.rides.rotate_issuer_key().await.unwrap();
    assert_eq!(rotated.id, first_key + 1);
    let config = harness.rides.gate_config(METRO).await.unwrap();
    let ids: Vec<u16> = config.issuer_keys.iter().map(|key| key.id).collect();
    assert_eq!(
        ids,
        [rotated.id, first_key],
        "newest first, the previous one kept"
    );
    let newer = harness.pass(&rider, METRO).await;
    assert_eq!(newer.body().issuer_key_id, rotated.id);
    let now = now_secs();
    let mut gate = entry_gate(METRO, "1", "wulin-square");
    load(&mut gate, &config);
    let code = certificate.ride_code(&rider.device, now).to_text();
    assert!(matches!(gate.decide(&code, now), Decision::Open(_)));

    // A second rotation retires the first key: its passes stop opening gates.
    harness.rides.rotate_issuer_key().await.unwrap();
    let mut gate = entry_gate(METRO, "1", "wulin-square");
    load(&mut gate, &harness.rides.gate_config(METRO).await.unwrap());
    let code = certificate.ride_code(&rider.device, now + 1).to_text();
    assert!(
        matches!(gate.decide(&code, now + 1), Decision::Refuse(r) if r.code() == "unknown_issuer_key")
    );
    let code = newer.ride_code(&rider.device, now + 2).to_text();
    assert!(matches!(gate.decide(&code, now + 2), Decision::Open(_)));
}

fn consumer_rider(
    consumer: cashless_testkit::wallet::Consumer,
    device: SigningKey,
) -> crate::Rider {
    crate::Rider { consumer, device }
}

/// An entry gate at `station`, not registered (deciding needs no platform).
fn entry_gate(operator: u16, line: &str, station: &str) -> Gate {
    let place = GatePlace {
        gate_id: format!("G-{station}"),
        operator,
        line: line.to_owned(),
        station: station.to_owned(),
        direction: Direction::Entry,
    };
    Gate::new(place, Freshness::default())
}

both_backends!(
    a_pass_binds_the_phones_key_and_its_codes_open_gates,
    a_rotated_issuer_key_keeps_the_days_passes_working_once,
);
