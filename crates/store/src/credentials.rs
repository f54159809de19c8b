//! Credentials kept in memory between requests.
//!
//! Every signed or authenticated request looks up who is calling: a session by its token, a
//! payment device's public key, a merchant's API key. Read from the database each time, those
//! lookups were about a tenth of a payment's CPU (on SQLite every commit empties the readers'
//! page caches, so each one re-reads its B-tree pages). A [`CredentialCache`] keeps the rows it
//! read, and forgets all of them whenever a committed write may have changed or removed a row
//! of a credential table (a sign-out, a removed device, a rotated key): the tables their
//! owners registered as `TableRoles::credentials`, watched by `Conn::note`. Writes that only add credentials (a sign-in) forget nothing.
//!
//! The rule that makes this safe: an entry is tagged with the store's credentials epoch as it
//! was read BEFORE the database lookup, and is served only while the epoch is still that
//! value. The writer bumps the epoch after committing such a write and before answering
//! anyone, so a lookup that could have seen the row as it was before the write is never served
//! once the write has answered. Rows that expire by time (sessions, rotated-out keys) carry
//! their expiry in the cached value and the caller checks it on every use.
//!
//! Only what was found is cached: an unknown token or key costs a database read every time,
//! so guessing cannot fill memory. A cache holds at most `CAPACITY` entries and starts over
//! when full.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Entries a cache holds before it starts over.
const CAPACITY: usize = 100_000;

/// Credentials of one kind, by their lookup key. See the module documentation.
#[derive(Debug)]
pub struct CredentialCache<K, V> {
    state: Mutex<State<K, V>>,
}

#[derive(Debug)]
struct State<K, V> {
    /// The credentials epoch every entry was read in.
    epoch: u64,
    entries: HashMap<K, V>,
}

impl<K: Hash + Eq, V: Clone> Default for CredentialCache<K, V> {
    fn default() -> Self {
        CredentialCache {
            state: Mutex::new(State {
                epoch: 0,
                entries: HashMap::new(),
            }),
        }
    }
}

impl<K: Hash + Eq, V: Clone> CredentialCache<K, V> {
    pub fn new() -> CredentialCache<K, V> {
        CredentialCache::default()
    }

    /// The entry for `key`, if it was read in `epoch` (the current one).
    pub(crate) fn get(&self, key: &K, epoch: u64) -> Option<V> {
        let state = self.state.lock().ok()?;
        if state.epoch != epoch {
            return None;
        }
        state.entries.get(key).cloned()
    }

    /// Keeps `value`, read from the database after the epoch was `epoch`. A value read in an
    /// older epoch than the entries' is dropped; a newer epoch drops the entries instead.
    pub(crate) fn insert(&self, key: K, epoch: u64, value: V) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if epoch < state.epoch {
            return;
        }
        if epoch > state.epoch || state.entries.len() >= CAPACITY {
            state.entries.clear();
            state.epoch = epoch;
        }
        state.entries.insert(key, value);
    }

    /// How many entries the cache holds (for tests).
    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |state| state.entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::CredentialCache;

    #[test]
    fn entries_serve_only_the_epoch_they_were_read_in() {
        let cache = CredentialCache::new();
        cache.insert("token", 3, "alice");
        assert_eq!(cache.get(&"token", 3), Some("alice"));
        assert_eq!(
            cache.get(&"token", 4),
            None,
            "a later epoch: maybe revoked since"
        );
        // A lookup that began before the bump must not bring the old row back.
        cache.insert("token", 3, "alice");
        cache.insert("other", 4, "bob");
        assert_eq!(cache.get(&"token", 4), None);
        assert_eq!(cache.get(&"other", 4), Some("bob"));
        cache.insert("token", 3, "alice");
        assert_eq!(cache.len(), 1, "a read from an older epoch is not kept");
    }
}
