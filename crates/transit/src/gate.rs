//! The gate: decides, offline and in well under a millisecond, whether a ride code opens it.
//!
//! All a gate holds is its own place (gate, station, line, entry or exit), the transit issuer
//! public keys (the current one and the previous one, by id), the blacklist and its clock. In
//! order, a code is refused when:
//!
//! 1. it is not a well-formed ride code (`malformed`);
//! 2. its certificate is for another operator (`wrong_operator`);
//! 3. its issuer key id is not one the gate holds (`unknown_issuer_key`);
//! 4. the issuer's signature does not verify (`bad_certificate`);
//! 5. the certificate is not yet valid or has expired, beyond the allowed clock skew
//!    (`certificate_not_yet_valid`, `certificate_expired`);
//! 6. the device's signature over the code does not verify (`bad_signature`);
//! 7. the code was made too long ago (`code_too_old`) or too far in the gate's future
//!    (`code_from_the_future`);
//! 8. its account is on the blacklist (`blacklisted`);
//! 9. this gate already opened for this very code (`replay`).
//!
//! Signatures come before everything that reads the certificate's claims, so a forged code
//! learns nothing from the answer. An opened code is recorded as a [`Tap`], kept for upload.
//!
//! Two caches keep it fast: certificates already verified (by their full bytes, so a changed
//! byte is a cache miss, never a pass) with their decompressed device keys, and the digests of
//! codes opened recently (kept only while such a code could still be fresh).

use std::collections::{HashMap, HashSet};

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::code::{CERTIFICATE_LEN, Certificate, FormatError, RideCode};

/// Entry or exit: metro gates are one or the other; a bus reader is an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Entry,
    Exit,
}

/// Where a gate stands and how strict its clock is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatePlace {
    pub gate_id: String,
    pub operator: u16,
    pub line: String,
    pub station: String,
    pub direction: Direction,
}

/// How old a code may be, and how far the phone's and the gate's clocks may disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// A code opens gates for this long after it was made (phones make one every 30–60 s).
    pub max_age_secs: u32,
    /// Allowed disagreement between clocks, both ways.
    pub skew_secs: u32,
}

impl Default for Freshness {
    fn default() -> Freshness {
        Freshness {
            max_age_secs: 90,
            skew_secs: 30,
        }
    }
}

/// The accounts whose codes no gate opens for (they owe a fare), as published by the platform.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blacklist {
    pub version: u64,
    pub accounts: HashSet<[u8; 8]>,
}

/// Why a gate stayed shut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed(FormatError),
    WrongOperator,
    UnknownIssuerKey,
    BadCertificate,
    CertificateNotYetValid,
    CertificateExpired,
    BadSignature,
    CodeTooOld,
    CodeFromTheFuture,
    Blacklisted,
    Replay,
}

impl Refusal {
    /// A stable, machine-readable reason.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::WrongOperator => "wrong_operator",
            Refusal::UnknownIssuerKey => "unknown_issuer_key",
            Refusal::BadCertificate => "bad_certificate",
            Refusal::CertificateNotYetValid => "certificate_not_yet_valid",
            Refusal::CertificateExpired => "certificate_expired",
            Refusal::BadSignature => "bad_signature",
            Refusal::CodeTooOld => "code_too_old",
            Refusal::CodeFromTheFuture => "code_from_the_future",
            Refusal::Blacklisted => "blacklisted",
            Refusal::Replay => "replay",
        }
    }

    /// What the gate's screen says.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Malformed(_) => {
                "This is not a transit code. Open the transit code in the app."
            }
            Refusal::WrongOperator => "This code is for another transit operator.",
            Refusal::UnknownIssuerKey | Refusal::BadCertificate => {
                "This code was not issued by Cashless. Refresh the transit code in the app."
            }
            Refusal::CertificateNotYetValid | Refusal::CertificateExpired => {
                "Your transit pass has expired. Open the app online to renew it."
            }
            Refusal::BadSignature => "This code was not made by your phone.",
            Refusal::CodeTooOld => "This code is too old. Show the code the app shows now.",
            Refusal::CodeFromTheFuture => {
                "Your phone's clock is wrong. Set it to the network time."
            }
            Refusal::Blacklisted => "An unpaid fare is due. Pay it in the app to ride again.",
            Refusal::Replay => "This code was already used here. Show a fresh code.",
        }
    }
}

/// A code that opened a gate: what the platform prices and debits, uploaded later in a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tap {
    pub gate_id: String,
    pub operator: u16,
    pub line: String,
    pub station: String,
    pub direction: Direction,
    /// The gate's clock when it opened (Unix seconds).
    pub at: u32,
    /// The ride code itself (`CT1:…`): the platform checks its signatures again, so a gate
    /// cannot make up a ride.
    pub code: String,
    /// Hex of the code's digest: the same code seen at two gates is one ride.
    pub code_digest: String,
}

/// What the gate decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Open(Tap),
    Refuse(Refusal),
}

/// Certificates verified once are not verified again (bounded memory).
const CERTIFICATES_CACHED_MAX: usize = 50_000;

/// One gate's offline verifier.
#[derive(Debug)]
pub struct Gate {
    place: GatePlace,
    freshness: Freshness,
    issuer_keys: HashMap<u16, VerifyingKey>,
    blacklist: Blacklist,
    /// Certificates whose issuer signature verified, with their device key.
    verified: HashMap<[u8; CERTIFICATE_LEN], VerifyingKey>,
    /// Codes opened recently: digest → when.
    opened: HashMap<[u8; 16], u32>,
    next_prune: u32,
}

impl Gate {
    pub fn new(place: GatePlace, freshness: Freshness) -> Gate {
        Gate {
            place,
            freshness,
            issuer_keys: HashMap::new(),
            blacklist: Blacklist::default(),
            verified: HashMap::new(),
            opened: HashMap::new(),
            next_prune: 0,
        }
    }

    pub fn place(&self) -> &GatePlace {
        &self.place
    }

    /// The issuer keys the gate trusts (the platform publishes the current and the previous
    /// one). Certificates verified under a key no longer held are forgotten.
    pub fn set_issuer_keys(&mut self, keys: impl IntoIterator<Item = (u16, VerifyingKey)>) {
        self.issuer_keys = keys.into_iter().collect();
        self.verified.clear();
    }

    /// A newer blacklist replaces the gate's; an older one (arriving late) is ignored.
    /// Answers whether it was taken.
    pub fn set_blacklist(&mut self, blacklist: Blacklist) -> bool {
        if blacklist.version < self.blacklist.version {
            return false;
        }
        self.blacklist = blacklist;
        true
    }

    pub fn blacklist_version(&self) -> u64 {
        self.blacklist.version
    }

    /// Decides on the scanned text at the gate's clock `now` (Unix seconds).
    pub fn decide(&mut self, text: &str, now: u32) -> Decision {
        match self.check(text, now) {
            Ok(tap) => Decision::Open(tap),
            Err(refusal) => Decision::Refuse(refusal),
        }
    }

    fn check(&mut self, text: &str, now: u32) -> Result<Tap, Refusal> {
        let code = RideCode::parse(text).map_err(Refusal::Malformed)?;
        let certificate = code.certificate();
        let body = certificate.body();
        if body.operator != self.place.operator {
            return Err(Refusal::WrongOperator);
        }
        let device_key = match self.verified.get(certificate.as_bytes()) {
            Some(key) => *key,
            None => {
                let issuer = self
                    .issuer_keys
                    .get(&body.issuer_key_id)
                    .ok_or(Refusal::UnknownIssuerKey)?;
                let key = verify_certificate(&certificate, issuer)?;
                if self.verified.len() >= CERTIFICATES_CACHED_MAX {
                    self.verified.clear();
                }
                self.verified.insert(*certificate.as_bytes(), key);
                key
            }
        };
        verify_code(&code, &device_key, now, self.freshness)?;
        if self.blacklist.accounts.contains(&body.account_ref) {
            return Err(Refusal::Blacklisted);
        }
        let digest = code.digest();
        self.prune(now);
        if self.opened.insert(digest, now).is_some() {
            return Err(Refusal::Replay);
        }
        Ok(Tap {
            gate_id: self.place.gate_id.clone(),
            operator: self.place.operator,
            line: self.place.line.clone(),
            station: self.place.station.clone(),
            direction: self.place.direction,
            at: now,
            code: text.trim_end_matches(['\r', '\n']).to_owned(),
            code_digest: hex(&digest),
        })
    }

    /// Forgets opened codes that could no longer open anything (too old by now), at most
    /// once a second.
    fn prune(&mut self, now: u32) {
        if now < self.next_prune {
            return;
        }
        self.next_prune = now.saturating_add(1);
        let keep = self.freshness.max_age_secs + 2 * self.freshness.skew_secs;
        self.opened.retain(|_, at| at.saturating_add(keep) >= now);
    }

    /// How many opened codes the gate remembers (for tests and monitoring).
    pub fn remembered(&self) -> usize {
        self.opened.len()
    }
}

/// Checks that `issuer` signed the certificate and that the device key it names is a usable
/// Ed25519 key; answers that key.
pub fn verify_certificate(
    certificate: &Certificate,
    issuer: &VerifyingKey,
) -> Result<VerifyingKey, Refusal> {
    if !certificate.signed_by(issuer) {
        return Err(Refusal::BadCertificate);
    }
    VerifyingKey::from_bytes(&certificate.body().device_key)
        .ok()
        .filter(|key| !key.is_weak())
        .ok_or(Refusal::BadCertificate)
}

/// The checks of a code whose certificate verified that need no memory of earlier codes:
/// the certificate's validity and the code's age at `now`, and the device's signature. The
/// gate runs them offline; the platform runs them again on every uploaded tap, at the tap's
/// time.
pub fn verify_code(
    code: &RideCode,
    device_key: &VerifyingKey,
    now: u32,
    freshness: Freshness,
) -> Result<(), Refusal> {
    let body = code.certificate().body();
    let skew = freshness.skew_secs;
    if now.saturating_add(skew) < body.not_before {
        return Err(Refusal::CertificateNotYetValid);
    }
    if now > body.not_after.saturating_add(skew) {
        return Err(Refusal::CertificateExpired);
    }
    if !code.signed_by(device_key) {
        return Err(Refusal::BadSignature);
    }
    let made_at = code.made_at();
    if made_at > now.saturating_add(skew) {
        return Err(Refusal::CodeFromTheFuture);
    }
    if now > made_at.saturating_add(freshness.max_age_secs) {
        return Err(Refusal::CodeTooOld);
    }
    Ok(())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}
