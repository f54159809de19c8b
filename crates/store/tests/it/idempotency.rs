//! Idempotency records (the store's `idempotency.rs`): the writer's memory of recent records
//! and the database agree whatever the operations and their groups do, across a restart and
//! across a fold into the keyed table. Every test runs against SQLite and PostgreSQL.

use std::time::Duration;

use cashless_store::{DbError, IdempotencyRecord, Store, StoreError, idempotency_record};
use cashless_testkit::{TestDb, open};

cashless_testkit::both_backends!(
    records_follow_the_fate_of_their_operations,
    records_survive_a_restart_and_a_fold,
);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    Succeed,
    /// Fails after remembering: the record is rolled back with the operation.
    Fail,
    /// Remembers, keeps what it did so far, then fails: the record stays.
    KeepThenFail,
    /// Remembers with no savepoint, then fails: its whole group is abandoned.
    FinalThenFail,
}

#[derive(Debug)]
struct Refused;

impl From<StoreError> for Refused {
    fn from(_: StoreError) -> Refused {
        Refused
    }
}

impl From<DbError> for Refused {
    fn from(_: DbError) -> Refused {
        Refused
    }
}

fn record(resource: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        fingerprint: format!("fp-{resource}"),
        resource_id: resource.to_owned(),
    }
}

/// A request with the user's `key`: answers the resource an earlier one made, or makes
/// `resource` and ends as told.
async fn claim(
    store: &Store,
    user: &'static str,
    key: &'static str,
    resource: &'static str,
    end: End,
) -> Result<String, Refused> {
    store
        .write(move |tx| {
            if let Some(earlier) = tx.idempotency(user, key)? {
                return Ok(earlier.resource_id);
            }
            if end == End::FinalThenFail {
                tx.conn_final()?;
            }
            tx.remember_idempotency(user, key, record(resource))?;
            match end {
                End::Succeed => Ok(resource.to_owned()),
                End::Fail | End::FinalThenFail => Err(Refused),
                End::KeepThenFail => {
                    tx.keep_so_far()?;
                    Err(Refused)
                }
            }
        })
        .await
}

/// What the writer holds for the key.
async fn in_writer(store: &Store, user: &'static str, key: &'static str) -> Option<String> {
    store
        .write(move |tx| {
            Ok::<_, StoreError>(tx.idempotency(user, key)?.map(|record| record.resource_id))
        })
        .await
        .unwrap()
}

/// What a reader finds for the key.
async fn in_database(store: &Store, user: &'static str, key: &'static str) -> Option<String> {
    store
        .read(move |conn| idempotency_record(conn, user, key))
        .await
        .unwrap()
        .map(|record| record.resource_id)
}

async fn count(store: &Store, table: &'static str) -> i64 {
    store
        .read(move |conn| {
            conn.query_opt(&format!("SELECT COUNT(*) FROM {table}"), &[])?
                .unwrap()
                .int(0)
        })
        .await
        .unwrap()
}

/// Writer and readers agree on the key, and it names `expected`.
async fn assert_holds(
    store: &Store,
    user: &'static str,
    key: &'static str,
    expected: Option<&str>,
) {
    assert_eq!(
        in_writer(store, user, key).await.as_deref(),
        expected,
        "writer, {user}/{key}"
    );
    assert_eq!(
        in_database(store, user, key).await.as_deref(),
        expected,
        "database, {user}/{key}"
    );
}

async fn records_follow_the_fate_of_their_operations(db: TestDb) {
    let store = open(db.config()).await;
    // Queued together, so they share groups: the same key twice (the second answers the
    // first's resource, from the batch's own records), a failure, a kept write.
    let (first, again, failed, kept, other) = tokio::join!(
        claim(&store, "u1", "k", "a", End::Succeed),
        claim(&store, "u1", "k", "b", End::Succeed),
        claim(&store, "u2", "k", "c", End::Fail),
        claim(&store, "u3", "k", "d", End::KeepThenFail),
        claim(&store, "u4", "k", "e", End::Succeed),
    );
    let winner = first.unwrap();
    assert_eq!(again.unwrap(), winner, "one key, one resource");
    assert!(failed.is_err() && kept.is_err());
    assert_eq!(other.unwrap(), "e");
    assert_holds(&store, "u1", "k", Some(&winner)).await;
    assert_holds(&store, "u2", "k", None).await;
    assert_holds(&store, "u3", "k", Some("d")).await;
    assert_holds(&store, "u4", "k", Some("e")).await;
    // The key a failed operation did not keep is free again.
    assert_eq!(
        claim(&store, "u2", "k", "f", End::Succeed).await.unwrap(),
        "f"
    );
    assert_holds(&store, "u2", "k", Some("f")).await;

    // An operation that fails after writing with no savepoint takes its group down: every
    // answer must still be the truth, in memory as in the database.
    let (before, broken, after) = tokio::join!(
        claim(&store, "u5", "k", "g", End::Succeed),
        claim(&store, "u6", "k", "h", End::FinalThenFail),
        claim(&store, "u7", "k", "i", End::Succeed),
    );
    assert!(broken.is_err());
    assert_holds(&store, "u6", "k", None).await;
    assert_holds(&store, "u5", "k", before.is_ok().then_some("g")).await;
    assert_holds(&store, "u7", "k", after.is_ok().then_some("i")).await;
    store.shutdown().await;
}

async fn records_survive_a_restart_and_a_fold(db: TestDb) {
    let store = open(db.config()).await;
    for (user, resource) in [("u1", "a"), ("u2", "b"), ("u3", "c")] {
        assert_eq!(
            claim(&store, user, "k", resource, End::Succeed)
                .await
                .unwrap(),
            resource
        );
    }
    // Stopped as by a crash: no last batch (which could fold).
    store.halt().await;
    drop(store);

    // The writer's memory is read back from the recent records.
    let store = open(db.config()).await;
    assert_eq!(count(&store, "idempotency_recent").await, 3);
    assert_holds(&store, "u2", "k", Some("b")).await;
    assert_eq!(
        claim(&store, "u2", "k", "other", End::Succeed)
            .await
            .unwrap(),
        "b",
        "a retry after the restart answers the first resource"
    );

    // Records wait at most a tenth of a second before the writer folds them into the keyed table,
    // after the commit of the batch that finds them due.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    claim(&store, "u4", "k", "d", End::Succeed).await.unwrap();
    // Queued behind the fold.
    claim(&store, "u5", "k", "e", End::Succeed).await.unwrap();
    assert!(
        count(&store, "idempotency_recent").await <= 1,
        "folded: {} recent",
        count(&store, "idempotency_recent").await
    );
    assert!(count(&store, "idempotency").await >= 4);
    for (user, resource) in [
        ("u1", "a"),
        ("u2", "b"),
        ("u3", "c"),
        ("u4", "d"),
        ("u5", "e"),
    ] {
        assert_holds(&store, user, "k", Some(resource)).await;
    }
    // A folded key still answers its resource to a retry.
    assert_eq!(
        claim(&store, "u1", "k", "other", End::Succeed)
            .await
            .unwrap(),
        "a"
    );
    // And a fresh one is recorded.
    assert_eq!(
        claim(&store, "u1", "k2", "z", End::Succeed).await.unwrap(),
        "z"
    );
    assert_holds(&store, "u1", "k2", Some("z")).await;
    store.shutdown().await;
}
