//! A fast, keyed hasher for 128-bit ids.
//!
//! The ledger hashes ids several times per transfer; SipHash dominated its profile. This is a
//! folded multiply (the construction of foldhash and wyhash) keyed with a per-process random
//! seed, so that callers who choose ids still cannot aim them at one bucket.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

/// A `HashMap` keyed by ids, with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, IdHashBuilder>;

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

#[derive(Clone, Copy, Debug)]
pub struct IdHashBuilder {
    seed: u64,
}

impl Default for IdHashBuilder {
    fn default() -> IdHashBuilder {
        // std's RandomState is keyed randomly per process (and per instance).
        IdHashBuilder {
            seed: RandomState::new().hash_one(MULTIPLIER) | 1,
        }
    }
}

impl BuildHasher for IdHashBuilder {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher { state: self.seed }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct IdHasher {
    state: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.state = folded_multiply(self.state ^ value, MULTIPLIER);
    }

    fn write_u128(&mut self, value: u128) {
        let (low, high) = (value as u64, (value >> 64) as u64);
        self.state = folded_multiply(self.state ^ low, high ^ MULTIPLIER);
    }

    fn finish(&self) -> u64 {
        // One more round so both halves of the product reach the bits hashbrown reads.
        folded_multiply(self.state, MULTIPLIER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_sequential_and_time_ordered_ids() {
        let builder = IdHashBuilder::default();
        let mut buckets = [0u32; 64];
        for n in 0..64_000u128 {
            let id = (0x0190_a5f4_3c2e_u128 << 80) | n;
            buckets[(builder.hash_one(id) >> 58) as usize] += 1;
        }
        // 1000 expected per bucket; a poor hash would pile them up.
        assert!(
            buckets.iter().all(|&count| (800..1200).contains(&count)),
            "{buckets:?}"
        );
    }
}
