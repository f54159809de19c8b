//! Fresh, valid identities for tests: phone numbers, resident ID numbers and bank card numbers
//! that pass their checks and differ from test to test (and between concurrent test processes
//! sharing a PostgreSQL server).

use std::sync::atomic::{AtomicU32, Ordering};

use cashless_consumer::card::luhn_check_digit;
use cashless_consumer::resident_id::check_character;

static SERIAL: AtomicU32 = AtomicU32::new(0);

/// The ICBC BIN: cards the simulated bank issues as ICBC debit cards.
pub const ICBC: &str = "622202";

/// A number not handed out before by this process, with a random part across processes.
pub fn serial() -> u32 {
    SERIAL.fetch_add(1, Ordering::Relaxed) + rand::random::<u32>() % 1_000 * 1_000
}

/// A fresh mainland mobile number.
pub fn phone() -> String {
    format!("+86138{:08}", serial() % 100_000_000)
}

/// A valid resident ID number (Hangzhou, Xihu district) born on `birth` (YYYYMMDD).
pub fn resident_id(birth: &str) -> String {
    let first = format!("330106{birth}{:03}", serial() % 1000);
    let check = check_character(first.as_bytes());
    format!("{first}{}", check as char)
}

/// A card number with a valid Luhn digit after `prefix` (a BIN).
pub fn card(prefix: &str) -> String {
    let mut partial = prefix.to_owned();
    let mut n = serial();
    while partial.len() < 18 {
        partial.push(char::from(b'0' + (n % 10) as u8));
        n = n / 10 + 7;
    }
    let check = luhn_check_digit(&partial);
    format!("{partial}{check}")
}
