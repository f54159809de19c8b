//! The gate's decisions: every way to open and every reason to refuse.

use cashless_transit::{
    Blacklist, CertificateBody, Decision, Direction, Freshness, Gate, GatePlace, Refusal, RideCode,
};
use ed25519_dalek::SigningKey;

const NOW: u32 = 1_800_000_000;
const DAY: u32 = 86_400;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn gate() -> Gate {
    let mut gate = Gate::new(
        GatePlace {
            gate_id: "G-LONGXIANG-03".into(),
            operator: 1,
            line: "Line 1".into(),
            station: "Longxiangqiao".into(),
            direction: Direction::Entry,
        },
        Freshness::default(),
    );
    gate.set_issuer_keys([(7, key(1).verifying_key()), (6, key(9).verifying_key())]);
    gate
}

fn certificate(issuer: &SigningKey, issuer_key_id: u16, device: &SigningKey) -> CertificateBody {
    let _ = issuer;
    CertificateBody {
        issuer_key_id,
        serial: 42,
        account_ref: *b"RIDER001",
        device_key: device.verifying_key().to_bytes(),
        credit_limit: 5_000,
        not_before: NOW - 3600,
        not_after: NOW - 3600 + DAY,
        operator: 1,
    }
}

fn code(made_at: u32) -> String {
    let (issuer, device) = (key(1), key(2));
    certificate(&issuer, 7, &device)
        .issue(&issuer)
        .ride_code(&device, made_at)
        .to_text()
}

fn refusal(decision: Decision) -> Option<&'static str> {
    match decision {
        Decision::Open(_) => None,
        Decision::Refuse(refusal) => Some(refusal.code()),
    }
}

#[test]
fn a_fresh_code_opens_once_and_is_recorded() {
    let mut gate = gate();
    let text = code(NOW - 5);
    let Decision::Open(tap) = gate.decide(&text, NOW) else {
        panic!("a fresh code opens the gate");
    };
    assert_eq!(tap.gate_id, "G-LONGXIANG-03");
    assert_eq!(tap.direction, Direction::Entry);
    assert_eq!(tap.at, NOW);
    assert_eq!(tap.code, text);
    assert_eq!(tap.code_digest.len(), 32);
    // The same code again, even a moment later: refused.
    assert_eq!(refusal(gate.decide(&text, NOW + 1)), Some("replay"));
    // The phone's next code opens.
    assert_eq!(refusal(gate.decide(&code(NOW + 30), NOW + 31)), None);
}

#[test]
fn every_refusal_has_its_reason() {
    let (issuer, device, stranger) = (key(1), key(2), key(3));
    let mut gate = gate();
    let cases: Vec<(String, u32, &str)> = vec![
        ("https://example.com".into(), NOW, "malformed"),
        ("CT1:ABC".into(), NOW, "malformed"),
        // Another operator's pass.
        (
            CertificateBody {
                operator: 2,
                ..certificate(&issuer, 7, &device)
            }
            .issue(&issuer)
            .ride_code(&device, NOW)
            .to_text(),
            NOW,
            "wrong_operator",
        ),
        // An issuer key id the gate does not hold.
        (
            certificate(&issuer, 8, &device)
                .issue(&issuer)
                .ride_code(&device, NOW)
                .to_text(),
            NOW,
            "unknown_issuer_key",
        ),
        // Signed by someone else under a known id.
        (
            certificate(&issuer, 7, &device)
                .issue(&stranger)
                .ride_code(&device, NOW)
                .to_text(),
            NOW,
            "bad_certificate",
        ),
        (code(NOW), NOW - 3600 - 31, "certificate_not_yet_valid"),
        (
            code(NOW + DAY),
            NOW - 3600 + DAY + 31,
            "certificate_expired",
        ),
        // A genuine certificate, but the code signed by another device.
        (
            certificate(&issuer, 7, &device)
                .issue(&issuer)
                .ride_code(&stranger, NOW)
                .to_text(),
            NOW,
            "bad_signature",
        ),
        (code(NOW - 91), NOW, "code_too_old"),
        (code(NOW + 31), NOW, "code_from_the_future"),
    ];
    for (text, now, expected) in cases {
        assert_eq!(
            refusal(gate.decide(&text, now)),
            Some(expected),
            "{expected}"
        );
    }
    assert_eq!(gate.remembered(), 0, "no refused code is remembered");
}

#[test]
fn clocks_may_disagree_within_the_skew() {
    let mut gate = gate();
    // The phone's clock runs 29 s ahead of the gate's, or the code is 89 s old: it opens.
    assert_eq!(refusal(gate.decide(&code(NOW + 29), NOW)), None);
    assert_eq!(refusal(gate.decide(&code(NOW - 89), NOW)), None);
    // A certificate that expired 20 s ago by the gate's clock still opens (skew 30 s).
    let (issuer, device) = (key(1), key(2));
    let ending = CertificateBody {
        not_after: NOW - 20,
        ..certificate(&issuer, 7, &device)
    }
    .issue(&issuer)
    .ride_code(&device, NOW)
    .to_text();
    assert_eq!(refusal(gate.decide(&ending, NOW)), None);
}

#[test]
fn a_changed_byte_never_opens_even_after_the_certificate_was_cached() {
    let mut gate = gate();
    // Verify (and cache) the genuine certificate first.
    assert_eq!(refusal(gate.decide(&code(NOW), NOW)), None);
    let genuine = RideCode::parse(&code(NOW + 1)).unwrap();
    for at in 0..197 {
        let mut bytes = *genuine.as_bytes();
        bytes[at] ^= 0x04;
        let Ok(changed) = RideCode::from_bytes(&bytes) else {
            continue;
        };
        let decision = gate.decide(&changed.to_text(), NOW + 1);
        assert!(
            matches!(decision, Decision::Refuse(_)),
            "byte {at} changed, the gate opened"
        );
    }
}

#[test]
fn issuer_keys_rotate_with_an_overlap() {
    let (old, new, device) = (key(1), key(4), key(2));
    let by_old = certificate(&old, 7, &device).issue(&old);
    let by_new = certificate(&new, 8, &device).issue(&new);
    let mut gate = gate();
    assert_eq!(
        refusal(gate.decide(&by_new.ride_code(&device, NOW).to_text(), NOW)),
        Some("unknown_issuer_key")
    );
    // The platform publishes the new key as current, the old one as previous.
    gate.set_issuer_keys([(8, new.verifying_key()), (7, old.verifying_key())]);
    assert_eq!(
        refusal(gate.decide(&by_new.ride_code(&device, NOW).to_text(), NOW)),
        None
    );
    assert_eq!(
        refusal(gate.decide(&by_old.ride_code(&device, NOW + 1).to_text(), NOW + 1)),
        None
    );
    // Once the old key is dropped, certificates it signed stop working, cached or not.
    gate.set_issuer_keys([(8, new.verifying_key())]);
    assert_eq!(
        refusal(gate.decide(&by_old.ride_code(&device, NOW + 2).to_text(), NOW + 2)),
        Some("unknown_issuer_key")
    );
}

#[test]
fn the_blacklist_stops_a_debtor_and_late_versions_are_ignored() {
    let mut gate = gate();
    assert!(gate.set_blacklist(Blacklist {
        version: 3,
        accounts: [*b"RIDER001"].into()
    }));
    assert_eq!(refusal(gate.decide(&code(NOW), NOW)), Some("blacklisted"));
    // An older list arriving late does not lift the ban.
    assert!(!gate.set_blacklist(Blacklist {
        version: 2,
        accounts: Default::default()
    }));
    assert_eq!(
        refusal(gate.decide(&code(NOW + 1), NOW + 1)),
        Some("blacklisted")
    );
    // The debt is paid: the next version no longer lists the account.
    assert!(gate.set_blacklist(Blacklist {
        version: 4,
        accounts: Default::default()
    }));
    assert_eq!(gate.blacklist_version(), 4);
    assert_eq!(refusal(gate.decide(&code(NOW + 2), NOW + 2)), None);
}

#[test]
fn opened_codes_are_forgotten_once_they_could_not_open_anyway() {
    let mut gate = gate();
    for i in 0..100 {
        assert_eq!(refusal(gate.decide(&code(NOW + i), NOW + i)), None);
    }
    assert_eq!(gate.remembered(), 100);
    // Three minutes later, none of them is fresh: the memory is pruned …
    assert_eq!(refusal(gate.decide(&code(NOW + 400), NOW + 400)), None);
    assert_eq!(gate.remembered(), 1);
    // … and they are still refused, as too old.
    assert_eq!(
        refusal(gate.decide(&code(NOW), NOW + 400)),
        Some("code_too_old")
    );
}

#[test]
fn every_refusal_says_something_to_the_rider() {
    for refusal in [
        Refusal::WrongOperator,
        Refusal::UnknownIssuerKey,
        Refusal::BadCertificate,
        Refusal::CertificateNotYetValid,
        Refusal::CertificateExpired,
        Refusal::BadSignature,
        Refusal::CodeTooOld,
        Refusal::CodeFromTheFuture,
        Refusal::Blacklisted,
        Refusal::Replay,
    ] {
        assert!(refusal.message().ends_with('.'), "{refusal:?}");
    }
}

proptest::proptest! {
    /// What the fuzz target (crates/transit/fuzz) checks, on stable: no input panics the
    /// decoder or the gate, and none opens it without both signatures.
    #[test]
    fn no_scanned_text_opens_the_gate_unsigned(text in "CT1:[0-9A-Z $%*+./:-]{0,320}") {
        let mut gate = gate();
        proptest::prop_assert!(matches!(gate.decide(&text, NOW), Decision::Refuse(_)));
    }

    #[test]
    fn no_byte_string_of_code_length_opens_it(bytes in proptest::collection::vec(0u8..=255, 197)) {
        let mut gate = gate();
        // Well formed (version 1, a validity that ends after it begins), so the signatures
        // are what must refuse it.
        let mut bytes = bytes;
        bytes[0] = 1;
        bytes[59..63].copy_from_slice(&[0xff; 4]);
        if let Ok(code) = RideCode::from_bytes(&bytes) {
            proptest::prop_assert_eq!(RideCode::parse(&code.to_text()), Ok(code));
            proptest::prop_assert!(matches!(gate.decide(&code.to_text(), NOW), Decision::Refuse(_)));
        }
    }
}
