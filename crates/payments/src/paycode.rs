//! The consumer-presented payment code: 18 digits the phone derives offline, the cashier scans.
//!
//! ```text
//!  28 SSSSSSSS V OOOOOOO
//!  │  │        │ └ 7-digit one-time value: HMAC-SHA-256(device secret,
//!  │  │        │     "cashless-paycode|<slot>|<step>|<variant>") as a big-endian u64 mod 10^7
//!  │  │        └ variant 0-9: the phone moves to the next after showing a code that was used
//!  │  └ the device's slot, given at enrolment (up to 10^8 devices)
//!  └ prefix: a Cashless payment code (Alipay's start with 25-30, WeChat's with 10-15)
//! ```
//!
//! `step` is Unix seconds / 60. The device learns its slot and 256-bit secret once, at
//! enrolment (`POST /v1/me/paycode`), and needs no network afterwards. The platform keeps no
//! copy of the secret: it is re-derived from the platform pepper and a per-enrolment salt.
//!
//! **Guessing.** The slot is visible in every code, so a guesser who knows it must hit the
//! 7-digit value: the platform accepts the current and the previous step, so one guess wins
//! with probability 2 / 10^7 (about 22.3 bits). A device's codes are refused for 10 minutes
//! after 5 wrong values (at most ~720 guesses a day: odds below 1 in 6,900 a day), and one
//! merchant may submit at most 20 unknown or wrong codes a minute across all devices.
//! **Once only.** Each (slot, step, variant) is recorded when used, under a unique key, in
//! the same transaction as the payment: a code scanned twice, or by two terminals at once,
//! pays once.

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const PREFIX: &str = "28";
pub const CODE_DIGITS: usize = 18;
pub const SLOT_MAX: u64 = 99_999_999;
const OTP_MODULUS: u64 = 10_000_000;

/// A payment code as the cashier submits it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PayCode {
    pub slot: u64,
    pub variant: u8,
    pub otp: u32,
}

impl PayCode {
    /// Parses 18 digits starting with `28`; anything else is not a Cashless code.
    pub fn parse(text: &str) -> Option<PayCode> {
        let text = text.trim();
        if text.len() != CODE_DIGITS
            || !text.bytes().all(|b| b.is_ascii_digit())
            || !text.starts_with(PREFIX)
        {
            return None;
        }
        Some(PayCode {
            slot: text[2..10].parse().ok()?,
            variant: text[10..11].parse().ok()?,
            otp: text[11..18].parse().ok()?,
        })
    }

    pub fn to_digits(self) -> String {
        format!("{PREFIX}{:08}{}{:07}", self.slot, self.variant, self.otp)
    }
}

/// The one-time value of a device for a time step and variant.
pub fn otp(secret: &[u8], slot: u64, step: u64, variant: u8) -> u32 {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        // HMAC takes keys of any length; this branch cannot run.
        return 0;
    };
    mac.update(format!("cashless-paycode|{slot}|{step}|{variant}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % OTP_MODULUS) as u32
}

/// The code a device shows at `unix_secs` (what the app computes offline).
pub fn code_at(secret: &[u8], slot: u64, variant: u8, unix_secs: u64, step_secs: u64) -> PayCode {
    let step = unix_secs / step_secs.max(1);
    PayCode {
        slot,
        variant,
        otp: otp(secret, slot, step, variant),
    }
}

/// The time step a code was made in, if it matches the current or the previous step.
pub fn matching_step(secret: &[u8], code: PayCode, unix_secs: u64, step_secs: u64) -> Option<u64> {
    let now = unix_secs / step_secs.max(1);
    [now, now.saturating_sub(1)].into_iter().find(|&step| {
        let expected = otp(secret, code.slot, step, code.variant);
        subtle::ConstantTimeEq::ct_eq(&expected.to_be_bytes()[..], &code.otp.to_be_bytes()[..])
            .into()
    })
}

/// Unknown or wrong codes per merchant in the current minute (in memory: a restart forgets,
/// which only ever lets a guesser start a fresh minute).
#[derive(Debug, Default)]
pub(crate) struct Guesses {
    minute: u64,
    by_merchant: HashMap<String, u32>,
}

impl Guesses {
    /// Takes one of the merchant's guesses this minute, if any is left. Taken before the code
    /// is checked, so concurrent requests cannot all slip under the bound; a code that turns
    /// out valid gives its guess back ([`Guesses::give_back`]).
    pub(crate) fn take_guess(&mut self, merchant_id: &str, unix_secs: u64, max: u32) -> bool {
        self.roll(unix_secs);
        let used = self.by_merchant.entry(merchant_id.to_owned()).or_default();
        if *used >= max {
            return false;
        }
        *used += 1;
        true
    }

    pub(crate) fn give_back(&mut self, merchant_id: &str, unix_secs: u64) {
        if unix_secs / 60 == self.minute
            && let Some(used) = self.by_merchant.get_mut(merchant_id)
        {
            *used = used.saturating_sub(1);
        }
    }

    fn roll(&mut self, unix_secs: u64) {
        let minute = unix_secs / 60;
        if minute != self.minute {
            self.minute = minute;
            self.by_merchant.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_only_cashless_codes_parse() {
        let code = PayCode {
            slot: 42,
            variant: 3,
            otp: 1_234_567,
        };
        assert_eq!(code.to_digits(), "280000004231234567");
        assert_eq!(PayCode::parse("280000004231234567"), Some(code));
        for bad in [
            "",
            "28000000423123456",
            "2800000042312345678",
            "130000004231234567",
            "28000000423123456x",
        ] {
            assert_eq!(PayCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_code_matches_its_own_and_the_previous_step_only() {
        let secret = [7u8; 32];
        let code = code_at(&secret, 9, 0, 6_000, 60);
        assert_eq!(matching_step(&secret, code, 6_000, 60), Some(100));
        assert_eq!(matching_step(&secret, code, 6_060, 60), Some(100));
        assert_eq!(matching_step(&secret, code, 6_120, 60), None);
        assert_eq!(matching_step(&[8u8; 32], code, 6_000, 60), None);
        let other_variant = code_at(&secret, 9, 1, 6_000, 60);
        assert_ne!(code.otp, other_variant.otp);
    }

    #[test]
    fn guesses_are_bounded_per_merchant_per_minute() {
        let mut guesses = Guesses::default();
        for _ in 0..3 {
            assert!(guesses.take_guess("m", 120, 3));
        }
        assert!(!guesses.take_guess("m", 179, 3));
        guesses.give_back("m", 179);
        assert!(guesses.take_guess("m", 179, 3));
        assert!(!guesses.take_guess("m", 179, 3));
        assert!(guesses.take_guess("n", 179, 3));
        assert!(guesses.take_guess("m", 180, 3));
    }
}
