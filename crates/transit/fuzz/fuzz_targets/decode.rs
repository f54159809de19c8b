//! The ride code decoder and the gate on arbitrary input: never a panic, never an open gate
//! for anything but a code the issuer's and the device's keys signed.
//!
//! `cargo +nightly fuzz run decode` (from crates/transit).
#![no_main]

use cashless_transit::{Decision, Direction, Freshness, Gate, GatePlace, RideCode};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut gate = Gate::new(
        GatePlace {
            gate_id: "FUZZ".into(),
            operator: 1,
            line: "1".into(),
            station: "S".into(),
            direction: Direction::Entry,
        },
        Freshness::default(),
    );
    gate.set_issuer_keys([(1, SigningKey::from_bytes(&[7; 32]).verifying_key())]);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = RideCode::parse(text);
        assert!(!matches!(gate.decide(text, 1_800_000_000), Decision::Open(_)));
    }
    if let Ok(code) = RideCode::from_bytes(data) {
        assert_eq!(RideCode::parse(&code.to_text()), Ok(code));
        assert!(!matches!(gate.decide(&code.to_text(), 1_800_000_000), Decision::Open(_)));
    }
});
