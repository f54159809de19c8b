//! Ed25519 signature checks, verified together when requests arrive together.
//!
//! A signed merchant request and a payment confirmed by the phone's key each cost one Ed25519
//! verification, the largest single cost of a payment on the request side. Verifying n
//! signatures at once costs far less than n single checks (one multiscalar multiplication
//! shares its ~253 doublings among them all: about 2.3 times less CPU per signature from 8
//! signatures up on this project's machine). So a check waits one turn of its worker thread
//! (`yield_now`: other requests already read in the same burst get to queue their checks),
//! then the first check to resume verifies everything queued, in one batch ([`check_all`]),
//! and answers each. Nothing waits on a timer: a lone check is verified alone, at once.
//!
//! A batch accepts exactly what [`VerifyingKey::verify_strict`] accepts, with one gap that
//! every batch verifier has: a signature whose holder built it with a small-order component
//! can pass the random linear combination that single verification would refuse (ZIP 215).
//! Only the key's holder can build one, and it proves holding the key just the same, so it
//! authenticates nothing the holder could not have signed properly. Every other refusal is
//! made per signature before the batch (non-canonical `s` or `R`, small-order `R` or key),
//! and a batch that fails is checked again one by one, so a bad signature never fails a good
//! one.

use std::sync::{Arc, Mutex, PoisonError};

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};
use tokio::sync::oneshot;

/// Signatures verified in one multiscalar multiplication at most.
const BATCH_SIGNATURES_MAX: usize = 64;

/// Batches one leader verifies before handing the rest to a task of its own, so a request
/// is not held back by other requests' checks for long.
const LEADER_BATCHES_MAX: usize = 4;

/// One signature to check.
#[derive(Clone, Debug)]
pub struct Check {
    pub key: VerifyingKey,
    pub message: Vec<u8>,
    pub signature: [u8; 64],
}

/// The queue of checks waiting to be verified together (see the module documentation).
#[derive(Debug, Default)]
pub struct Verifier {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(Check, oneshot::Sender<bool>)>,
    /// A caller is verifying queued checks: it takes whatever is queued before it stops.
    leading: bool,
    batches: u64,
    checked: u64,
}

impl Verifier {
    pub fn new() -> Arc<Verifier> {
        Arc::new(Verifier::default())
    }

    /// Whether `check.signature` is `check.key`'s signature of `check.message`.
    pub async fn verify(self: &Arc<Self>, check: Check) -> bool {
        let (answer, answered) = oneshot::channel();
        self.lock().waiting.push((check, answer));
        // One turn for the worker's other ready requests to queue their checks too.
        tokio::task::yield_now().await;
        let lead = {
            let mut queue = self.lock();
            let idle = !queue.leading && !queue.waiting.is_empty();
            if idle {
                queue.leading = true;
            }
            idle
        };
        if lead {
            self.lead();
        }
        // A dropped answer means a leader panicked: refuse, never accept.
        answered.await.unwrap_or(false)
    }

    /// (batches, signatures) verified so far.
    pub fn stats(&self) -> (u64, u64) {
        let queue = self.lock();
        (queue.batches, queue.checked)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Verifies queued checks until none are left (or hands over to a task after
    /// `LEADER_BATCHES_MAX` batches). Called with `leading` set.
    fn lead(self: &Arc<Self>) {
        for _ in 0..LEADER_BATCHES_MAX {
            let batch = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.leading = false;
                    return;
                }
                let take = queue.waiting.len().min(BATCH_SIGNATURES_MAX);
                queue.batches += 1;
                queue.checked += take as u64;
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            let (checks, answers): (Vec<Check>, Vec<_>) = batch.into_iter().unzip();
            // A panic must not leave `leading` set with no one leading: every later check
            // would wait forever. Its batch is refused (never accepted) and the queue goes on.
            let valid = std::panic::catch_unwind(|| check_all(&checks))
                .unwrap_or_else(|_| vec![false; checks.len()]);
            for (valid, answer) in valid.into_iter().zip(answers) {
                let _ = answer.send(valid);
            }
        }
        let verifier = Arc::clone(self);
        tokio::spawn(async move { verifier.lead() });
    }
}

/// Whether each signature is valid, as [`VerifyingKey::verify_strict`] decides (see the
/// module documentation for the one gap): one batch when they all are.
pub fn check_all(checks: &[Check]) -> Vec<bool> {
    if let [check] = checks {
        return vec![verify_one(check)];
    }
    let prepared: Vec<Option<Prepared>> = checks.iter().map(prepare).collect();
    let candidates: Vec<&Prepared> = prepared.iter().flatten().collect();
    if candidates.len() == checks.len() && batch_holds(&candidates) {
        return vec![true; checks.len()];
    }
    // Refused already, or in a batch that failed: one by one, so a bad signature cannot
    // fail a good one.
    checks
        .iter()
        .zip(&prepared)
        .map(|(check, prepared)| prepared.is_some() && verify_one(check))
        .collect()
}

fn verify_one(check: &Check) -> bool {
    check
        .key
        .verify_strict(&check.message, &Signature::from_bytes(&check.signature))
        .is_ok()
}

/// A signature that passed the per-signature rules, ready for the batch equation.
struct Prepared {
    s: Scalar,
    r: EdwardsPoint,
    a: EdwardsPoint,
    /// H(R ‖ A ‖ M)
    k: Scalar,
}

/// The per-signature rules of `verify_strict`: canonical `s` (below the group order) and
/// `R`, and neither `R` nor the key of small order.
fn prepare(check: &Check) -> Option<Prepared> {
    let (r_bytes, s_bytes) = check.signature.split_at(32);
    let r_bytes: [u8; 32] = r_bytes.try_into().ok()?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes.try_into().ok()?))?;
    if !canonical_y(&r_bytes) {
        return None;
    }
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let a = check.key.to_edwards();
    if r.is_small_order() || a.is_small_order() {
        return None;
    }
    let mut hash = Sha512::new();
    hash.update(r_bytes);
    hash.update(check.key.as_bytes());
    hash.update(&check.message);
    let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
    Some(Prepared { s, r, a, k })
}

/// Whether the encoded y coordinate is below p = 2²⁵⁵ − 19. (The other non-canonical form,
/// x = 0 with the sign bit set, only encodes points of small order, refused anyway.)
fn canonical_y(bytes: &[u8; 32]) -> bool {
    let top = bytes[31] & 0x7f;
    !(top == 0x7f && bytes[1..31].iter().all(|&byte| byte == 0xff) && bytes[0] >= 0xed)
}

/// Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ) = 0 for random 128-bit zᵢ: holds (but for a chance of 2⁻¹²⁸)
/// only if every signature's equation holds, up to small-order components.
fn batch_holds(prepared: &[&Prepared]) -> bool {
    let zs: Vec<Scalar> = prepared
        .iter()
        .map(|_| Scalar::from(rand::random::<u128>()))
        .collect();
    let b = -prepared
        .iter()
        .zip(&zs)
        .map(|(p, z)| z * p.s)
        .sum::<Scalar>();
    let scalars = std::iter::once(b)
        .chain(zs.iter().copied())
        .chain(prepared.iter().zip(&zs).map(|(p, z)| z * p.k));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(prepared.iter().map(|p| p.r))
        .chain(prepared.iter().map(|p| p.a));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::{Check, Verifier, batch_holds, canonical_y, check_all, prepare};

    fn signed(seed: u8, message: &str) -> Check {
        let key = SigningKey::from_bytes(&[seed; 32]);
        Check {
            key: key.verifying_key(),
            message: message.as_bytes().to_vec(),
            signature: key.sign(message.as_bytes()).to_bytes(),
        }
    }

    fn strict(check: &Check) -> bool {
        check
            .key
            .verify_strict(
                &check.message,
                &ed25519_dalek::Signature::from_bytes(&check.signature),
            )
            .is_ok()
    }

    #[test]
    fn a_batch_of_good_signatures_passes() {
        let checks: Vec<Check> = (0..20).map(|n| signed(n, &format!("m{n}"))).collect();
        assert_eq!(check_all(&checks), vec![true; 20]);
        assert_eq!(check_all(&checks[..1]), [true]);
        assert!(check_all(&[]).is_empty());
    }

    #[test]
    fn each_bad_signature_is_found_and_fails_no_good_one() {
        let mut checks: Vec<Check> = (0..12).map(|n| signed(n, &format!("m{n}"))).collect();
        checks[1].message.push(b'!'); // another message
        checks[4].signature[3] ^= 1; // R changed
        checks[7].signature[40] ^= 1; // s changed
        checks[9].key = checks[10].key; // someone else's key
        let expected: Vec<bool> = checks.iter().map(strict).collect();
        assert_eq!(
            expected,
            [
                true, false, true, true, false, true, true, false, true, false, true, true
            ]
        );
        assert_eq!(check_all(&checks), expected);
    }

    #[test]
    fn malleable_and_small_order_signatures_are_refused_as_strict_refuses_them() {
        let good = signed(1, "pay");
        // s + ℓ: the same signature, non-canonical.
        let mut malleable = good.clone();
        let order: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (byte, add) in malleable.signature[32..].iter_mut().zip(order) {
            let sum = u16::from(*byte) + u16::from(add) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        // R = the identity (small order), s = 0: valid for any message under a small-order key
        // only; refused either way.
        let mut identity_r = good.clone();
        identity_r.signature = [0; 64];
        identity_r.signature[0] = 1;
        for bad in [malleable, identity_r] {
            assert!(!strict(&bad));
            let batch = [signed(2, "a"), bad, signed(3, "b")];
            assert_eq!(check_all(&batch), [true, false, true]);
        }
    }

    #[test]
    fn the_batch_equation_holds_only_when_every_signature_does() {
        let mut checks: Vec<Check> = (0..8).map(|n| signed(n, &format!("m{n}"))).collect();
        let holds = |checks: &[Check]| {
            let prepared: Vec<_> = checks.iter().map(|check| prepare(check).unwrap()).collect();
            batch_holds(&prepared.iter().collect::<Vec<_>>())
        };
        assert!(holds(&checks));
        checks[5].message[0] ^= 1;
        assert!(!holds(&checks));
    }

    #[test]
    fn random_batches_agree_with_strict_verification() {
        for round in 0..40u32 {
            let size = 2 + (rand::random::<u32>() % 16) as usize;
            let checks: Vec<Check> = (0..size)
                .map(|n| {
                    let mut check = signed(rand::random(), &format!("{round}/{n}"));
                    match rand::random::<u32>() % 6 {
                        0 => {
                            check.signature[rand::random::<u32>() as usize % 64] ^=
                                1 << (rand::random::<u32>() % 8)
                        }
                        1 => check.message.push(b'x'),
                        _ => {}
                    }
                    check
                })
                .collect();
            let expected: Vec<bool> = checks.iter().map(strict).collect();
            assert_eq!(check_all(&checks), expected, "round {round}");
        }
    }

    #[test]
    fn y_at_or_above_p_is_not_canonical() {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!canonical_y(&p));
        p[0] = 0xec;
        assert!(canonical_y(&p));
        let mut above = [0xff; 32];
        above[31] = 0xff; // sign bit set, y = 2²⁵⁵ − 1
        assert!(!canonical_y(&above));
        assert!(canonical_y(&[0; 32]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_are_answered_each_by_its_own_signature() {
        let verifier = Verifier::new();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..200u32 {
            let verifier = std::sync::Arc::clone(&verifier);
            tasks.spawn(async move {
                let mut check = signed((n % 7) as u8, &format!("request {n}"));
                let forged = n % 5 == 0;
                if forged {
                    check.signature[50] ^= 0x40;
                }
                (forged, verifier.verify(check).await)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (forged, valid) = joined.unwrap();
            assert_eq!(valid, !forged);
        }
        let (batches, checked) = verifier.stats();
        assert_eq!(checked, 200);
        assert!(batches <= 200);
    }
}
