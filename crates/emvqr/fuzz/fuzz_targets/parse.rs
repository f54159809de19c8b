//! `cargo +nightly fuzz run parse` from crates/emvqr: the parser never panics on outside
//! input, and whatever it accepts re-encodes to the same payload and parses back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A QR scan hands us text; bytes that are not UTF-8 never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mpm) = cashless_emvqr::parse(text) else {
        return;
    };
    let payload = mpm.payload();
    // Only the CRC's hex case may differ: we write uppercase, lowercase is accepted.
    assert!(payload.eq_ignore_ascii_case(text), "re-encoding changed the payload");
    match cashless_emvqr::parse(&payload) {
        Ok(again) => assert_eq!(again, mpm, "re-parse differs"),
        Err(error) => panic!("re-encoded payload rejected: {error}"),
    }
});
