//! Idempotency records: what a consumer's `Idempotency-Key` made, so a retried request
//! answers with the same payment or movement instead of making a second one.
//!
//! A record is keyed by user and key, and a commit rarely holds two of one user's: kept in
//! one B-tree by that key, every record dirtied a page of its own in the commit that wrote it
//! (one leaf per payer: ~16 of the ~84 pages a commit of ~9 paid orders wrote, BENCHMARKS.md).
//! So a new record is appended to `idempotency_recent`, a table with no key (the records of a
//! commit share its last page), and the writer holds the same records in memory to look them
//! up. From time to time the writer folds them into `idempotency`, the keyed table, in one
//! transaction, sorted: each user's leaf is then written once per fold instead of once per
//! commit. Readers outside the writer look in both tables, in one statement (one snapshot, so
//! a fold cannot hide a record from them); the recent table has no index and is scanned: it
//! holds a tenth of a second of records or so (at most [`FOLD_ROWS`] and a batch, unless folds fail).
//! Only rare paths read it so (a PIN payment, a retried top-up, a card fallback). The same
//! transaction runs the folds other crates registered (`TableRoles::folds`: statement lines,
//! events and orders into their keyed indexes).
//!
//! The memory must never claim a record the database does not hold: a record written by an
//! operation that then fails is rolled back with its savepoint, and a batch that fails rolls
//! back all of its records. So records are staged: the running operation's, then the
//! batch's (once the operation succeeded, or kept what it did so far), and they join the
//! committed map only when the batch commits. A batch that fails leaves the map as it was;
//! when the writer reloads its state (a broken connection, a failed commit) the map is read
//! back from `idempotency_recent`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::db::{Conn, DbError, Param};

/// Records appended since the last fold, at most, before the writer folds them.
pub(crate) const FOLD_ROWS: usize = 2_048;

/// How long records wait for a fold, at most, while writes come in (a fold runs after a
/// batch commits: a quiet system folds at its next write).
const FOLD_EVERY: Duration = Duration::from_millis(100);

/// An idempotency record: the request's fingerprint and the resource it made.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub resource_id: String,
}

/// The record of the user's `key`, for readers outside the writer (who see only committed
/// rows, in either table).
pub fn idempotency_record(
    conn: &mut Conn,
    user_id: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>, DbError> {
    let row = conn.query_opt(
        "SELECT fingerprint, resource_id FROM idempotency WHERE user_id = $1 AND key = $2 \
         UNION ALL \
         SELECT fingerprint, resource_id FROM idempotency_recent WHERE user_id = $1 AND key = $2 \
         LIMIT 1",
        &[Param::Text(user_id), Param::Text(key)],
    )?;
    row.as_ref().map(decode).transpose()
}

/// The record of the user's `key` among the folded ones (the keyed table), for the writer,
/// which holds the recent ones in memory.
pub(crate) fn folded_record(
    conn: &mut Conn,
    user_id: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>, DbError> {
    let row = conn.query_opt(
        "SELECT fingerprint, resource_id FROM idempotency WHERE user_id = $1 AND key = $2",
        &[Param::Text(user_id), Param::Text(key)],
    )?;
    row.as_ref().map(decode).transpose()
}

fn decode(row: &crate::Row) -> Result<IdempotencyRecord, DbError> {
    Ok(IdempotencyRecord {
        fingerprint: row.text(0)?.to_owned(),
        resource_id: row.text(1)?.to_owned(),
    })
}

type Key = (String, String);

/// The writer's recent records (see the module's documentation).
#[derive(Debug)]
pub(crate) struct Recent {
    /// Committed rows of `idempotency_recent`.
    committed: HashMap<Key, IdempotencyRecord>,
    /// Written by operations of the running batch that succeeded (or kept their writes).
    batch: Vec<(Key, IdempotencyRecord)>,
    /// Written by the running operation.
    op: Vec<(Key, IdempotencyRecord)>,
    last_fold: Instant,
}

impl Default for Recent {
    fn default() -> Recent {
        Recent {
            committed: HashMap::new(),
            batch: Vec::new(),
            op: Vec::new(),
            last_fold: Instant::now(),
        }
    }
}

impl Recent {
    /// The records of `idempotency_recent`, as committed.
    pub fn load(conn: &mut Conn) -> Result<Recent, DbError> {
        let rows = conn.query(
            "SELECT user_id, key, fingerprint, resource_id FROM idempotency_recent",
            &[],
        )?;
        let mut committed = HashMap::with_capacity(rows.len());
        for row in rows.iter() {
            committed.insert(
                (row.text(0)?.to_owned(), row.text(1)?.to_owned()),
                IdempotencyRecord {
                    fingerprint: row.text(2)?.to_owned(),
                    resource_id: row.text(3)?.to_owned(),
                },
            );
        }
        Ok(Recent {
            committed,
            ..Recent::default()
        })
    }

    /// The record of `key` among the recent ones, including the running batch's and
    /// operation's.
    pub fn get(&self, user_id: &str, key: &str) -> Option<&IdempotencyRecord> {
        fn staged<'a>(
            records: &'a [(Key, IdempotencyRecord)],
            user_id: &str,
            key: &str,
        ) -> Option<&'a IdempotencyRecord> {
            records
                .iter()
                .rev()
                .find(|((user, k), _)| user == user_id && k == key)
                .map(|(_, record)| record)
        }
        staged(&self.op, user_id, key)
            .or_else(|| staged(&self.batch, user_id, key))
            .or_else(|| self.committed.get(&(user_id.to_owned(), key.to_owned())))
    }

    /// Appends a record in the open transaction, staged with the running operation. Refuses
    /// a key already recorded (the caller must look it up first): the keyless table cannot.
    pub fn remember(
        &mut self,
        conn: &mut Conn,
        user_id: &str,
        key: &str,
        record: IdempotencyRecord,
        now_ns: u64,
    ) -> Result<(), DbError> {
        if self.get(user_id, key).is_some() {
            return Err(DbError::decode(
                "an idempotency key recorded twice (a write operation did not look it up first)",
            ));
        }
        conn.write(
            "INSERT INTO idempotency_recent (user_id, key, fingerprint, resource_id, created_ns) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                Param::Text(user_id),
                Param::Text(key),
                Param::Text(&record.fingerprint),
                Param::Text(&record.resource_id),
                Param::Int(i64::try_from(now_ns).unwrap_or(i64::MAX)),
            ],
        )?;
        self.op.push(((user_id.to_owned(), key.to_owned()), record));
        Ok(())
    }

    /// The running operation's records stick with the batch: it succeeded, or kept what it
    /// did so far.
    pub fn keep_op(&mut self) {
        self.batch.append(&mut self.op);
    }

    /// The running operation was rolled back.
    pub fn drop_op(&mut self) {
        self.op.clear();
    }

    /// The batch failed: none of its records exist.
    pub fn drop_batch(&mut self) {
        self.op.clear();
        self.batch.clear();
    }

    /// The batch committed.
    pub fn commit_batch(&mut self) {
        debug_assert!(self.op.is_empty());
        self.op.clear();
        self.committed.extend(self.batch.drain(..));
    }

    /// Whether recent rows should be folded now; asked after a batch committed (so there
    /// may be rows to fold).
    pub fn fold_due(&self) -> bool {
        self.committed.len() >= FOLD_ROWS || self.last_fold.elapsed() >= FOLD_EVERY
    }

    /// Moves every recent record into `idempotency`, sorted by key, and folds the other
    /// tables' recent rows (the folds their owners registered, see `roles`), in a transaction of its own (between
    /// batches). If it fails, nothing moved and the rows stay recent (should the connection
    /// break during COMMIT, the outcome is unknown and the writer reloads this memory).
    pub fn fold(&mut self, conn: &mut Conn, begin: &str) -> Result<u64, DbError> {
        self.last_fold = Instant::now();
        conn.batch_execute(begin)?;
        let folded = (|| {
            let mut moved = 0;
            if !self.committed.is_empty() {
                // `WHERE true`: SQLite would read `ON CONFLICT` as part of the SELECT's join.
                moved += conn.execute(
                    "INSERT INTO idempotency (user_id, key, fingerprint, resource_id, created_ns) \
                     SELECT user_id, key, fingerprint, resource_id, created_ns \
                     FROM idempotency_recent WHERE true ORDER BY user_id, key \
                     ON CONFLICT (user_id, key) DO NOTHING",
                    &[],
                )?;
                // Not TRUNCATE on PostgreSQL: it is not MVCC-safe, and a reader's snapshot
                // must see the records in exactly one of the two tables. The dead rows DELETE
                // leaves are vacuumed early (migration 0011 sets this table's thresholds).
                conn.execute("DELETE FROM idempotency_recent", &[])?;
            }
            let roles = std::sync::Arc::clone(&conn.roles);
            for sql in &roles.folds {
                moved += conn.execute(sql, &[])?;
            }
            Ok(moved)
        })();
        match folded.and_then(|moved| conn.commit().map(|()| moved)) {
            Ok(moved) => {
                self.committed.clear();
                Ok(moved)
            }
            Err(error) => {
                let _ = conn.batch_execute("ROLLBACK");
                Err(error)
            }
        }
    }
}
