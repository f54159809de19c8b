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
//! guesser cannot tell which slots exist. Each such refusal spends a guess of the credential
//! that sent it (a key, or a staff member's session: 5 a minute, 50 a China day) and of the
//! merchant (30 a minute, 300 a day plus one for every 10 codes that paid today); past them
//! the code is refused with `paycode_guesses_limited` (429) before it is looked at, and a
//! warning is logged. One stolen till key or one cashier can so shut only itself, and honest
//! misreads at a busy shop raise the merchant's day. A code that pays spends nothing.
//!
//! **What a guess is worth.** The slot is visible in every code, so a guesser who knows it
//! must hit the 7-digit value: the platform accepts the current and the previous step, so one
//! guess wins with probability 2 / 10^7. A credential's 50 guesses a day win with odds of about
//! 1 in 100,000 a day, a merchant's 300 with about 1 in 17,000; a win charges the payer at
//! most the password-free maximum (1,000 CNY, and only while the payer has password-free
//! payments left today; above it the payer must confirm with the PIN), to a merchant the
//! platform onboarded by licence and settles to a known bank account, and the payer sees it at
//! once. Expected take: under 0.06 CNY a day per merchant.
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

/// How many codes that do not pay one credential (a key or a staff member's session) and one
/// merchant may submit (see the module docs). The merchant's day grows with its payments: one
/// more guess for every [`GuessLimits::paid_per_extra_guess`] codes that paid today, so a
/// busy supermarket's honest misreads do not shut its tills, and a guesser cannot raise it.
#[derive(Clone, Copy, Debug)]
pub struct GuessLimits {
    pub per_credential_minute_max: u32,
    pub per_credential_day_max: u32,
    pub per_merchant_minute_max: u32,
    pub per_merchant_day_max: u32,
    pub paid_per_extra_guess: u32,
}

impl Default for GuessLimits {
    fn default() -> GuessLimits {
        GuessLimits {
            per_credential_minute_max: 5,
            per_credential_day_max: 50,
            per_merchant_minute_max: 30,
            per_merchant_day_max: 300,
            paid_per_extra_guess: 10,
        }
    }
}

/// Which limit a guess ran into.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum GuessLimit {
    CredentialMinute,
    CredentialDay,
    MerchantMinute,
    MerchantDay,
}

/// One budget: spent this minute and this China day.
#[derive(Clone, Copy, Debug, Default)]
struct Spent {
    minute: u32,
    day: u32,
}

/// Guesses spent in the current minute and China day, per merchant and per credential, and
/// the codes that paid today per merchant (in memory: a restart forgets, which only ever
/// gives a guesser a fresh minute and day; a guesser cannot restart the platform).
#[derive(Debug, Default)]
pub(crate) struct Guesses {
    minute: u64,
    day: u64,
    by_credential: HashMap<(String, String), Spent>,
    by_merchant: HashMap<String, Spent>,
    paid_today: HashMap<String, u32>,
    /// Limits already logged this minute (one warning a minute per merchant and limit).
    warned: std::collections::HashSet<(String, GuessLimit)>,
}

impl Guesses {
    /// Takes one guess of the credential's and the merchant's, if every limit allows. Taken
    /// before the code is checked, so concurrent requests cannot all slip under a limit; a
    /// code that pays gives its guess back ([`Guesses::paid`]).
    pub(crate) fn take_guess(
        &mut self,
        merchant_id: &str,
        credential: &str,
        unix_secs: u64,
        limits: &GuessLimits,
    ) -> Result<(), GuessLimit> {
        self.roll(unix_secs);
        let merchant = merchant_id.to_owned();
        let key = (merchant.clone(), credential.to_owned());
        let mine = self.by_credential.get(&key).copied().unwrap_or_default();
        let ours = self.by_merchant.get(&merchant).copied().unwrap_or_default();
        let paid = self.paid_today.get(&merchant).copied().unwrap_or(0);
        let day_max = limits
            .per_merchant_day_max
            .saturating_add(paid / limits.paid_per_extra_guess.max(1));
        let refused = if mine.minute >= limits.per_credential_minute_max {
            Some(GuessLimit::CredentialMinute)
        } else if mine.day >= limits.per_credential_day_max {
            Some(GuessLimit::CredentialDay)
        } else if ours.minute >= limits.per_merchant_minute_max {
            Some(GuessLimit::MerchantMinute)
        } else if ours.day >= day_max {
            Some(GuessLimit::MerchantDay)
        } else {
            None
        };
        if let Some(limit) = refused {
            if self.warned.insert((merchant.clone(), limit)) {
                tracing::warn!(merchant = %merchant, credential, ?limit, "payment-code guesses limited");
            }
            return Err(limit);
        }
        for spent in [
            self.by_credential.entry(key).or_default(),
            self.by_merchant.entry(merchant).or_default(),
        ] {
            spent.minute += 1;
            spent.day += 1;
        }
        Ok(())
    }

    /// A code that paid: its guess given back, and the merchant's day grows.
    pub(crate) fn paid(&mut self, merchant_id: &str, credential: &str, unix_secs: u64) {
        if minute_and_day(unix_secs).1 == self.day {
            *self.paid_today.entry(merchant_id.to_owned()).or_default() += 1;
        }
        self.give_back(merchant_id, credential, unix_secs);
    }

    /// A request refused for another reason than its code: its guess given back.
    pub(crate) fn give_back(&mut self, merchant_id: &str, credential: &str, unix_secs: u64) {
        let (minute, day) = minute_and_day(unix_secs);
        let merchant = merchant_id.to_owned();
        let key = (merchant.clone(), credential.to_owned());
        for spent in [
            self.by_credential.get_mut(&key),
            self.by_merchant.get_mut(&merchant),
        ]
        .into_iter()
        .flatten()
        {
            if day == self.day {
                spent.day = spent.day.saturating_sub(1);
            }
            if minute == self.minute {
                spent.minute = spent.minute.saturating_sub(1);
            }
        }
    }

    fn roll(&mut self, unix_secs: u64) {
        let (minute, day) = minute_and_day(unix_secs);
        if minute != self.minute {
            self.minute = minute;
            self.warned.clear();
            for spent in self
                .by_credential
                .values_mut()
                .chain(self.by_merchant.values_mut())
            {
                spent.minute = 0;
            }
        }
        if day != self.day {
            self.day = day;
            self.by_credential.clear();
            self.by_merchant.clear();
            self.paid_today.clear();
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
    fn guesses_are_bounded_per_credential_and_per_merchant() {
        let limits = GuessLimits {
            per_credential_minute_max: 2,
            per_credential_day_max: 3,
            per_merchant_minute_max: 4,
            per_merchant_day_max: 5,
            paid_per_extra_guess: 2,
        };
        let mut guesses = Guesses::default();
        let t0 = 16 * 3600; // 00:00 in China
        assert_eq!(guesses.take_guess("m", "key:a", t0, &limits), Ok(()));
        assert_eq!(guesses.take_guess("m", "key:a", t0, &limits), Ok(()));
        assert_eq!(
            guesses.take_guess("m", "key:a", t0 + 1, &limits),
            Err(GuessLimit::CredentialMinute)
        );
        // Another credential of the merchant is not shut by the first one's guesses.
        assert_eq!(guesses.take_guess("m", "staff:b", t0 + 1, &limits), Ok(()));
        assert_eq!(guesses.take_guess("m", "staff:c", t0 + 1, &limits), Ok(()));
        assert_eq!(
            guesses.take_guess("m", "staff:d", t0 + 2, &limits),
            Err(GuessLimit::MerchantMinute)
        );
        guesses.paid("m", "staff:c", t0 + 2);
        assert_eq!(guesses.take_guess("m", "staff:d", t0 + 3, &limits), Ok(()));
        assert_eq!(guesses.take_guess("n", "key:a", t0 + 3, &limits), Ok(()));
        // A new minute: a's day runs out at 3; the merchant's day at 5 (4 spent).
        assert_eq!(guesses.take_guess("m", "key:a", t0 + 60, &limits), Ok(()));
        assert_eq!(
            guesses.take_guess("m", "key:a", t0 + 61, &limits),
            Err(GuessLimit::CredentialDay)
        );
        assert_eq!(
            guesses.take_guess("m", "staff:e", t0 + 62, &limits),
            Err(GuessLimit::MerchantDay)
        );
        // Codes that paid today grow the merchant's day: 2 more paid, one more guess.
        guesses.paid("m", "staff:x", t0 + 62);
        guesses.paid("m", "staff:x", t0 + 62);
        assert_eq!(guesses.take_guess("m", "staff:e", t0 + 63, &limits), Ok(()));
        // The next China day starts over.
        assert_eq!(
            guesses.take_guess("m", "key:a", t0 + 86_400, &limits),
            Ok(())
        );
    }
}
