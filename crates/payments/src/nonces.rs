//! The nonces of signed merchant requests, checked in memory.
//!
//! A signed request's nonce may be used once within the signature window; a second request
//! with it is refused (`nonce_reused`). The writer checks a set of 64-bit digests in memory
//! (not a unique index on (merchant, nonce), whose random keys would dirty a random page per
//! order), and the `merchant_nonces` table only logs each claim, appended in time order, in the same
//! transaction as the request's work; the set is filled from it on the first claim after a
//! start. So the check survives restarts: a claim that was not yet durable when the process
//! died was lost together with the work it guarded, and replaying that request does it once.
//!
//! Digests come from a keyed hash (a random key per process), so no one can aim two nonces
//! at the same digest; an accidental collision (odds 2⁻⁶⁴ per pair) would refuse a fresh
//! nonce, never accept a used one. Memory: about 40 bytes per nonce claimed in the window
//! (twice the signature skew).

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;

use cashless_kernel::{ServiceError, ServiceResult};
use cashless_store::{Conn, Param};

/// The nonces claimed in the last `keep_ns`.
#[derive(Debug)]
pub(crate) struct SeenNonces {
    keep_ns: u64,
    digests: std::hash::RandomState,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether the log was read since the start.
    loaded: bool,
    seen: HashSet<u64>,
    /// (claimed at, digest), oldest first: what to forget when.
    order: VecDeque<(u64, u64)>,
}

impl State {
    fn remember(&mut self, seen_ns: u64, digest: u64) -> bool {
        let fresh = self.seen.insert(digest);
        if fresh {
            self.order.push_back((seen_ns, digest));
        }
        fresh
    }

    fn forget_before(&mut self, cutoff_ns: u64) {
        while let Some(&(seen_ns, digest)) = self.order.front() {
            if seen_ns >= cutoff_ns {
                break;
            }
            self.seen.remove(&digest);
            self.order.pop_front();
        }
    }
}

impl SeenNonces {
    pub(crate) fn new(keep_ns: u64) -> SeenNonces {
        SeenNonces {
            keep_ns,
            digests: std::hash::RandomState::new(),
            state: Mutex::new(State::default()),
        }
    }

    /// Claims `nonce` for `merchant_id` at `now_ns` (the writer's clock): logs it in the open
    /// transaction, or refuses it if it was claimed within the window. Runs in the writer, so
    /// claims are checked one at a time.
    pub(crate) fn claim(
        &self,
        conn: &mut Conn,
        merchant_id: &str,
        nonce: &str,
        now_ns: u64,
    ) -> ServiceResult<()> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cutoff = now_ns.saturating_sub(self.keep_ns);
        if !state.loaded {
            let rows = conn.query(
                "SELECT merchant_id, nonce, seen_ns FROM merchant_nonces WHERE seen_ns >= $1 \
                 ORDER BY seen_ns",
                &[Param::Int(cutoff as i64)],
            )?;
            for row in &rows {
                let digest = self.digest(row.text(0)?, row.text(1)?);
                state.remember(row.int(2)? as u64, digest);
            }
            state.loaded = true;
        }
        state.forget_before(cutoff);
        let digest = self.digest(merchant_id, nonce);
        if state.seen.contains(&digest) {
            return Err(ServiceError::new(
                cashless_kernel::ErrorKind::Unauthorized,
                "nonce_reused",
                "this nonce was already used: sign every request with a fresh nonce",
            ));
        }
        conn.write(
            "INSERT INTO merchant_nonces (merchant_id, nonce, seen_ns) VALUES ($1, $2, $3)",
            &[
                Param::Text(merchant_id),
                Param::Text(nonce),
                Param::Int(now_ns as i64),
            ],
        )?;
        // Only once logged: a claim whose insert failed did not happen. (If the whole batch
        // then fails, the nonce stays refused: refusing is the safe side.)
        state.remember(now_ns, digest);
        Ok(())
    }

    fn digest(&self, merchant_id: &str, nonce: &str) -> u64 {
        self.digests.hash_one((merchant_id, nonce))
    }

    /// How many nonces are remembered (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().map_or(0, |state| state.seen.len())
    }
}

#[cfg(test)]
mod tests {
    use super::State;

    #[test]
    fn nonces_are_forgotten_oldest_first_once_out_of_the_window() {
        let mut state = State::default();
        assert!(state.remember(10, 1));
        assert!(state.remember(20, 2));
        assert!(!state.remember(25, 1), "claimed already");
        state.forget_before(15);
        assert!(!state.seen.contains(&1) && state.seen.contains(&2));
        assert!(state.remember(30, 1), "out of the window: fresh again");
        state.forget_before(31);
        assert!(state.seen.is_empty() && state.order.is_empty());
    }

    #[test]
    fn merchants_do_not_share_nonces() {
        let nonces = super::SeenNonces::new(1);
        assert_ne!(nonces.digest("m1", "n"), nonces.digest("m2", "n"));
        assert_ne!(nonces.digest("m1", "n1"), nonces.digest("m1n", "1"));
        assert_eq!(nonces.len(), 0);
    }
}
