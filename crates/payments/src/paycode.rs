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
//! enrolment (`POST /v1/me/paycode`), and needs no network afterwards. The enrolment gives the
//! secret as 64 hex digits: the HMAC key is the 32 bytes they decode to, not the text. The platform keeps no
//! copy of the secret: it is re-derived from the platform pepper and a per-enrolment salt.
//!
//! **Guessing.** Only a merchant can submit a code, and guessing costs the guesser, never the
//! payer: a device is never locked by wrong codes (anyone could otherwise lock anyone's codes,
//! slots being small numbers), and every refusal of a code that does not pay (no such slot,
//! a wrong value, an expired code, a signed-out device) is the same `paycode_unknown`, so a
//! guesser cannot tell which slots exist. Each such refusal spends one of the merchant's
//! guesses ([`GuessLimits`]): at most 5 a minute from one terminal, 20 a minute and 200 a China
//! day across the merchant; past them the merchant gets `paycode_guesses_limited` (429)
//! before any code is looked at. A code that pays spends none.
//!
//! **What a guess is worth.** The slot is visible in every code, so a guesser who knows it
//! must hit the 7-digit value: the platform accepts the current and the previous step, so one
//! guess wins with probability 2 / 10^7. A merchant's 200 guesses a day win with odds of about
//! 1 in 25,000 a day; a win charges the payer at most the password-free maximum (1,000 CNY,
//! and only while the payer has password-free payments left today; above it the payer must
//! confirm with the PIN), to a merchant the platform onboarded by licence and settles to a
//! known bank account, and the payer sees it at once. Expected take: about 0.04 CNY a day per
//! merchant.
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

/// How many codes that do not pay a merchant may submit (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct GuessLimits {
    pub per_terminal_minute_max: u32,
    pub per_merchant_minute_max: u32,
    pub per_merchant_day_max: u32,
}

impl Default for GuessLimits {
    fn default() -> GuessLimits {
        GuessLimits {
            per_terminal_minute_max: 5,
            per_merchant_minute_max: 20,
            per_merchant_day_max: 200,
        }
    }
}

/// Which limit a guess ran into.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum GuessLimit {
    TerminalMinute,
    MerchantMinute,
    MerchantDay,
}

/// Guesses spent in the current minute and China day, per merchant and per terminal (in
/// memory: a restart forgets, which only ever gives a guesser a fresh minute and day; a
/// guesser cannot restart the platform).
#[derive(Debug, Default)]
pub(crate) struct Guesses {
    minute: u64,
    day: u64,
    by_terminal: HashMap<(String, String), u32>,
    by_merchant_minute: HashMap<String, u32>,
    by_merchant_day: HashMap<String, u32>,
}

impl Guesses {
    /// Takes one guess of the merchant's (and of its terminal's, `""` for none), if every
    /// limit allows. Taken before the code is checked, so concurrent requests cannot all slip
    /// under a limit; a code that pays gives its guess back ([`Guesses::give_back`]).
    pub(crate) fn take_guess(
        &mut self,
        merchant_id: &str,
        terminal_id: &str,
        unix_secs: u64,
        limits: &GuessLimits,
    ) -> Result<(), GuessLimit> {
        self.roll(unix_secs);
        let merchant = merchant_id.to_owned();
        let terminal = (merchant.clone(), terminal_id.to_owned());
        let get = |map: &HashMap<_, u32>, key| map.get(key).copied().unwrap_or(0);
        if get(&self.by_merchant_day, &merchant) >= limits.per_merchant_day_max {
            return Err(GuessLimit::MerchantDay);
        }
        if get(&self.by_merchant_minute, &merchant) >= limits.per_merchant_minute_max {
            return Err(GuessLimit::MerchantMinute);
        }
        if self.by_terminal.get(&terminal).copied().unwrap_or(0) >= limits.per_terminal_minute_max {
            return Err(GuessLimit::TerminalMinute);
        }
        *self.by_merchant_day.entry(merchant.clone()).or_default() += 1;
        *self.by_merchant_minute.entry(merchant).or_default() += 1;
        *self.by_terminal.entry(terminal).or_default() += 1;
        Ok(())
    }

    pub(crate) fn give_back(&mut self, merchant_id: &str, terminal_id: &str, unix_secs: u64) {
        let (minute, day) = minute_and_day(unix_secs);
        let merchant = merchant_id.to_owned();
        if day == self.day
            && let Some(used) = self.by_merchant_day.get_mut(&merchant)
        {
            *used = used.saturating_sub(1);
        }
        if minute == self.minute {
            if let Some(used) = self.by_merchant_minute.get_mut(&merchant) {
                *used = used.saturating_sub(1);
            }
            if let Some(used) = self
                .by_terminal
                .get_mut(&(merchant, terminal_id.to_owned()))
            {
                *used = used.saturating_sub(1);
            }
        }
    }

    fn roll(&mut self, unix_secs: u64) {
        let (minute, day) = minute_and_day(unix_secs);
        if minute != self.minute {
            self.minute = minute;
            self.by_merchant_minute.clear();
            self.by_terminal.clear();
        }
        if day != self.day {
            self.day = day;
            self.by_merchant_day.clear();
        }
    }
}

/// The minute, and the China day (UTC+8), of a Unix time.
fn minute_and_day(unix_secs: u64) -> (u64, u64) {
    (unix_secs / 60, (unix_secs + 8 * 3600) / 86_400)
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
    fn guesses_are_bounded_per_terminal_per_merchant_and_per_day() {
        let limits = GuessLimits {
            per_terminal_minute_max: 2,
            per_merchant_minute_max: 3,
            per_merchant_day_max: 5,
        };
        let mut guesses = Guesses::default();
        let t0 = 16 * 3600; // 00:00 in China
        assert_eq!(guesses.take_guess("m", "till-1", t0, &limits), Ok(()));
        assert_eq!(guesses.take_guess("m", "till-1", t0, &limits), Ok(()));
        assert_eq!(
            guesses.take_guess("m", "till-1", t0 + 1, &limits),
            Err(GuessLimit::TerminalMinute)
        );
        assert_eq!(guesses.take_guess("m", "till-2", t0 + 1, &limits), Ok(()));
        assert_eq!(
            guesses.take_guess("m", "till-3", t0 + 2, &limits),
            Err(GuessLimit::MerchantMinute)
        );
        guesses.give_back("m", "till-2", t0 + 2);
        assert_eq!(guesses.take_guess("m", "till-3", t0 + 3, &limits), Ok(()));
        assert_eq!(guesses.take_guess("n", "till-1", t0 + 3, &limits), Ok(()));
        // A new minute: the terminal and minute limits start over, the day's does not.
        assert_eq!(guesses.take_guess("m", "till-1", t0 + 60, &limits), Ok(()));
        assert_eq!(guesses.take_guess("m", "till-1", t0 + 61, &limits), Ok(()));
        assert_eq!(
            guesses.take_guess("m", "till-2", t0 + 62, &limits),
            Err(GuessLimit::MerchantDay)
        );
        // The next China day.
        assert_eq!(
            guesses.take_guess("m", "till-1", t0 + 86_400, &limits),
            Ok(())
        );
    }
}
