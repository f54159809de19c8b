//! The storage contract: every test here runs against SQLite and PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use cashless_ledger::{
    AccountFlags, AccountId, Balances, CreateTransferResult as R, Currency, LedgerConfig,
    PendingStatus, Transfer, TransferFlags, TransferId,
};
use cashless_store::{CheckpointConfig, CredentialCache, Param, Store, StoreConfig, StoreError};

use cashless_testkit::{Ids, TestDb, create_accounts, open};

cashless_testkit::both_backends!(
    restart_recovers_every_balance,
    duplicates_across_restart_return_exists,
    hot_account_under_concurrent_submitters_keeps_its_limit,
    failed_operation_rolls_back_only_itself,
    pending_expiry_is_persisted,
    account_history_pages_newest_first,
    recovery_replays_the_log_after_the_last_checkpoint,
    a_swallowed_sql_error_is_never_answered_ok_without_the_write,
    each_operation_in_a_group_keeps_or_loses_only_its_own_rows,
    a_swallowed_error_amid_a_group_leaves_every_answer_true,
    operations_without_a_savepoint_keep_every_answer_true,
    a_final_write_the_database_refuses_fails_its_group_truthfully,
    final_writes_to_several_tables_all_land,
    the_writers_cached_rows_never_outlive_a_change,
    text_with_a_nul_fails_only_its_own_operation,
    a_cached_credential_is_forgotten_once_a_write_changes_it,
);

const BANK: AccountId = AccountId(1);
const SHOP: AccountId = AccountId(2);

fn pay(id: u128, debit: AccountId, credit: AccountId, amount: u64) -> Transfer {
    Transfer::new(TransferId(id), debit, credit, amount, Currency::CNY, 1)
}

fn wallet(n: u128) -> AccountId {
    AccountId(100 + n)
}

/// Checks the writer's in-memory ledger equals the database, account by account, and that
/// debits equal credits.
/// Balances recomputed from the transfer log alone: posted = successful transfers that are
/// neither pending nor void; pending = pending transfers not yet resolved. An oracle that
/// shares no code with the ledger, the checkpoint or the replay.
pub async fn balances_from_log(store: &Store, id: AccountId) -> Balances {
    let bytes = id.to_bytes();
    store
        .read(move |conn| {
            let sum = |side: &str, filter: &str| {
                format!("CAST(COALESCE(SUM(CASE WHEN {side}_account_id = $1 AND {filter} THEN amount ELSE 0 END), 0) AS BIGINT)")
            };
            let (posted, pending) = ("(flags & 10) = 0", "(flags & 2) = 2 AND pending_status = 1");
            let sql = format!(
                "SELECT {}, {}, {}, {} FROM ledger_transfers WHERE result = 0",
                sum("debit", pending),
                sum("debit", posted),
                sum("credit", pending),
                sum("credit", posted)
            );
            let row = conn.query_opt(&sql, &[Param::Blob(&bytes)])?.unwrap();
            Ok(Balances {
                debits_pending: row.int(0)? as u64,
                debits_posted: row.int(1)? as u64,
                credits_pending: row.int(2)? as u64,
                credits_posted: row.int(3)? as u64,
            })
        })
        .await
        .unwrap()
}

/// The writer's memory, what readers see, and the transfer log agree on every account, and
/// debits equal credits.
pub async fn assert_balances_match_the_log(store: &Store, ids: &[AccountId]) {
    let ids_for_writer = ids.to_vec();
    let in_memory = store
        .write(move |tx| {
            Ok::<_, StoreError>(
                ids_for_writer
                    .iter()
                    .map(|id| tx.account(*id))
                    .collect::<Vec<_>>(),
            )
        })
        .await
        .unwrap();
    let (mut debits, mut credits) = (0u128, 0u128);
    for (id, memory) in ids.iter().zip(in_memory) {
        let published = store.account(*id).await.unwrap().map(|row| row.account);
        assert_eq!(
            memory, published,
            "account {id}: writer and readers disagree"
        );
        let Some(account) = published else { continue };
        assert_eq!(
            account.balances,
            balances_from_log(store, *id).await,
            "account {id}: memory and log disagree"
        );
        debits += u128::from(account.balances.debits_posted + account.balances.debits_pending);
        credits += u128::from(account.balances.credits_posted + account.balances.credits_pending);
    }
    assert_eq!(debits, credits, "debits and credits differ");
}

async fn restart_recovers_every_balance(db: TestDb) {
    let mut ids = Ids::new();
    let store = open(db.config()).await;
    let wallets: Vec<AccountId> = (0..8).map(wallet).collect();
    let mut accounts = vec![(BANK, AccountFlags::NONE), (SHOP, AccountFlags::NONE)];
    accounts.extend(
        wallets
            .iter()
            .map(|w| (*w, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)),
    );
    create_accounts(&store, &accounts).await;

    let mut transfers = Vec::new();
    for (n, w) in wallets.iter().enumerate() {
        transfers.push(pay(ids.new_id(), BANK, *w, 1_000 + n as u64));
        transfers.push(pay(ids.new_id(), *w, SHOP, 100));
    }
    let hold = Transfer {
        flags: TransferFlags::PENDING,
        ..pay(ids.new_id(), wallets[0], SHOP, 300)
    };
    let open_hold = Transfer {
        flags: TransferFlags::PENDING,
        ..pay(ids.new_id(), wallets[1], SHOP, 200)
    };
    transfers.push(hold);
    transfers.push(open_hold);
    let post = Transfer {
        flags: TransferFlags::POST_PENDING,
        pending_id: hold.id,
        ..pay(ids.new_id(), wallets[0], SHOP, 250)
    };
    transfers.push(post);
    let results = store.create_transfers(transfers).await.unwrap();
    assert!(results.iter().all(|r| *r == R::Ok), "{results:?}");
    store.shutdown().await;
    drop(store);

    let store = open(db.config()).await;
    let mut all = vec![BANK, SHOP];
    all.extend(&wallets);
    assert_balances_match_the_log(&store, &all).await;
    let w0 = store
        .account(wallets[0])
        .await
        .unwrap()
        .unwrap()
        .account
        .balances;
    assert_eq!(
        (w0.credits_posted, w0.debits_posted, w0.debits_pending),
        (1_000, 350, 0)
    );
    let w1 = store
        .account(wallets[1])
        .await
        .unwrap()
        .unwrap()
        .account
        .balances;
    assert_eq!(w1.debits_pending, 200, "the open hold survived the restart");

    // The recovered ledger enforces the recovered balance to the cent.
    let spendable = 1_001 - 100 - 200;
    let results = store
        .create_transfers(vec![
            pay(ids.new_id(), wallets[1], SHOP, spendable + 1),
            pay(ids.new_id(), wallets[1], SHOP, spendable),
        ])
        .await
        .unwrap();
    assert_eq!(results, [R::ExceedsCredits, R::Ok]);
    // The open hold can still be voided after the restart.
    let void = Transfer {
        flags: TransferFlags::VOID_PENDING,
        pending_id: open_hold.id,
        amount: 0,
        ..pay(ids.new_id(), wallets[1], SHOP, 0)
    };
    assert_eq!(store.create_transfers(vec![void]).await.unwrap(), [R::Ok]);
    assert_balances_match_the_log(&store, &all).await;
    store.shutdown().await;
}

async fn duplicates_across_restart_return_exists(db: TestDb) {
    let mut ids = Ids::new();
    let store = open(db.config()).await;
    create_accounts(
        &store,
        &[
            (BANK, AccountFlags::NONE),
            (SHOP, AccountFlags::NONE),
            (wallet(0), AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        ],
    )
    .await;
    let hold = Transfer {
        flags: TransferFlags::PENDING,
        ..pay(ids.new_id(), BANK, SHOP, 500)
    };
    let post = Transfer {
        flags: TransferFlags::POST_PENDING,
        pending_id: hold.id,
        ..pay(ids.new_id(), BANK, SHOP, 500)
    };
    let failed = pay(ids.new_id(), wallet(0), SHOP, 1);
    let mut batch: Vec<Transfer> = (0..20).map(|_| pay(ids.new_id(), BANK, SHOP, 7)).collect();
    batch.extend([hold, post, failed]);
    let first = store.create_transfers(batch.clone()).await.unwrap();
    assert_eq!(first[20..], [R::Ok, R::Ok, R::ExceedsCredits]);
    store.shutdown().await;
    drop(store);

    // A tiny cache: almost every id must now be found in the database (cold lookups).
    let config = StoreConfig {
        ledger: LedgerConfig {
            transfers_cached_max: 2,
        },
        ..db.config()
    };
    let store = open(config).await;
    let again = store.create_transfers(batch.clone()).await.unwrap();
    assert!(again[..22].iter().all(|r| *r == R::Exists), "{again:?}");
    assert_eq!(again[22], R::IdAlreadyFailed);
    let changed = Transfer {
        amount: 8,
        ..batch[0]
    };
    let repost = Transfer {
        id: TransferId(ids.new_id()),
        ..post
    };
    assert_eq!(
        store.create_transfers(vec![changed, repost]).await.unwrap(),
        [
            R::ExistsWithDifferentAmount,
            R::PendingTransferAlreadyPosted
        ]
    );
    let shop = store.account(SHOP).await.unwrap().unwrap().account.balances;
    assert_eq!(shop.credits_posted, 20 * 7 + 500, "nothing moved twice");
    store.shutdown().await;
}

async fn hot_account_under_concurrent_submitters_keeps_its_limit(db: TestDb) {
    const SUBMITTERS: usize = 16;
    const ATTEMPTS: usize = 60;
    const FUNDS: u64 = 500;
    let store = open(db.config()).await;
    let hot = wallet(0);
    create_accounts(
        &store,
        &[
            (BANK, AccountFlags::NONE),
            (SHOP, AccountFlags::NONE),
            (hot, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        ],
    )
    .await;
    let mut ids = Ids::new();
    assert_eq!(
        store
            .create_transfers(vec![pay(ids.new_id(), BANK, hot, FUNDS)])
            .await
            .unwrap(),
        [R::Ok]
    );

    // 16 submitters race to spend one unit each from the same wallet, one transfer per
    // request, while also crediting the same merchant: 960 attempts for 500 units.
    let mut tasks = Vec::new();
    for _ in 0..SUBMITTERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Ids::new();
            let mut ok = 0;
            for _ in 0..ATTEMPTS {
                match store
                    .create_transfers(vec![pay(ids.new_id(), hot, SHOP, 1)])
                    .await
                    .unwrap()[0]
                {
                    R::Ok => ok += 1,
                    R::ExceedsCredits => {}
                    other => panic!("unexpected {other}"),
                }
            }
            ok
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        succeeded += task.await.unwrap();
    }
    assert_eq!(succeeded, FUNDS, "exactly the funds were spent, no more");
    let balances = store.account(hot).await.unwrap().unwrap().account.balances;
    assert_eq!(
        (balances.credits_posted, balances.debits_posted),
        (FUNDS, FUNDS)
    );
    assert_balances_match_the_log(&store, &[BANK, SHOP, hot]).await;
    assert!(
        store.batches_committed() < (SUBMITTERS * ATTEMPTS) as u64,
        "writes were grouped"
    );
    store.shutdown().await;
}

#[derive(Debug)]
struct Refused;

impl From<StoreError> for Refused {
    fn from(_: StoreError) -> Refused {
        Refused
    }
}

async fn failed_operation_rolls_back_only_itself(db: TestDb) {
    let store = open(db.config()).await;
    create_accounts(
        &store,
        &[(BANK, AccountFlags::NONE), (SHOP, AccountFlags::NONE)],
    )
    .await;
    let mut ids = Ids::new();
    let (kept, dropped) = (
        pay(ids.new_id(), BANK, SHOP, 5),
        pay(ids.new_id(), BANK, SHOP, 7),
    );
    let failing = store.write(move |tx| {
        assert_eq!(tx.create_transfers(&[dropped])?, [R::Ok]);
        tx.conn()?
            .batch_execute("CREATE TABLE scratch (n BIGINT)")
            .map_err(|_| Refused)?;
        Err::<(), Refused>(Refused)
    });
    let succeeding = store.write(move |tx| tx.create_transfers(&[kept]));
    let (failing, succeeding) = tokio::join!(failing, succeeding);
    assert!(failing.is_err());
    assert_eq!(succeeding.unwrap(), [R::Ok]);
    assert!(store.transfer(dropped.id).await.unwrap().is_none());
    assert!(store.transfer(kept.id).await.unwrap().is_some());
    let scratch = store
        .read(|conn| conn.query("SELECT n FROM scratch", &[]))
        .await;
    assert!(
        scratch.is_err(),
        "the failed operation's table was rolled back"
    );
    assert_eq!(
        store
            .account(SHOP)
            .await
            .unwrap()
            .unwrap()
            .account
            .balances
            .credits_posted,
        5
    );
    store.shutdown().await;
}

async fn pending_expiry_is_persisted(db: TestDb) {
    let store = open(db.config()).await;
    let w = wallet(0);
    create_accounts(
        &store,
        &[
            (BANK, AccountFlags::NONE),
            (SHOP, AccountFlags::NONE),
            (w, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        ],
    )
    .await;
    let mut ids = Ids::new();
    let hold = Transfer {
        flags: TransferFlags::PENDING,
        timeout_secs: 1,
        ..pay(ids.new_id(), w, SHOP, 40)
    };
    let results = store
        .create_transfers(vec![pay(ids.new_id(), BANK, w, 100), hold])
        .await
        .unwrap();
    assert_eq!(results, [R::Ok, R::Ok]);
    assert_eq!(
        store
            .account(w)
            .await
            .unwrap()
            .unwrap()
            .account
            .balances
            .debits_pending,
        40
    );
    // Nobody writes: the writer's expiry ticker must release and persist the hold by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = store
            .transfer(hold.id)
            .await
            .unwrap()
            .unwrap()
            .record
            .pending_status;
        if status == PendingStatus::Expired {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "hold never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.shutdown().await;
    drop(store);
    let store = open(db.config()).await;
    assert_eq!(
        store
            .account(w)
            .await
            .unwrap()
            .unwrap()
            .account
            .balances
            .debits_pending,
        0
    );
    let post = Transfer {
        flags: TransferFlags::POST_PENDING,
        pending_id: hold.id,
        ..pay(ids.new_id(), w, SHOP, 40)
    };
    assert_eq!(
        store.create_transfers(vec![post]).await.unwrap(),
        [R::PendingTransferExpired]
    );
    assert_balances_match_the_log(&store, &[BANK, SHOP, w]).await;
    store.shutdown().await;
}

async fn account_history_pages_newest_first(db: TestDb) {
    let store = open(db.config()).await;
    let w = wallet(0);
    create_accounts(
        &store,
        &[
            (BANK, AccountFlags::NONE),
            (SHOP, AccountFlags::NONE),
            (w, AccountFlags::NONE),
        ],
    )
    .await;
    let mut ids = Ids::new();
    let mut expected = Vec::new();
    for n in 0..25u64 {
        // In, out, and transfers that do not touch the wallet (which must not appear).
        let transfer = match n % 3 {
            0 => pay(ids.new_id(), BANK, w, 10 + n),
            1 => pay(ids.new_id(), w, SHOP, 1 + n),
            _ => pay(ids.new_id(), BANK, SHOP, 1),
        };
        if n % 3 != 2 {
            expected.push(transfer.id);
        }
        // Separate batches and a single multi-transfer batch both link correctly.
        assert_eq!(
            store.create_transfers(vec![transfer]).await.unwrap(),
            [R::Ok]
        );
    }
    expected.reverse();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let (rows, next) = store
            .account_transfers(w, cursor, 7)
            .await
            .unwrap()
            .unwrap();
        assert!(rows.len() <= 7);
        seen.extend(rows.iter().map(|row| row.record.transfer.id));
        pages += 1;
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, expected.len().div_ceil(7));
    assert!(
        store
            .account_transfers(AccountId(999), None, 7)
            .await
            .unwrap()
            .is_none()
    );
    let shop_rows: HashMap<TransferId, u64> = store
        .account_transfers(SHOP, None, 100)
        .await
        .unwrap()
        .unwrap()
        .0
        .iter()
        .map(|row| (row.record.transfer.id, row.record.transfer.amount))
        .collect();
    assert_eq!(shop_rows.len(), 8 + 8);
    store.shutdown().await;
}

/// Balances are checkpointed into account rows only every few transfers; the rest is replayed
/// from the log on start-up. Stop (without a final checkpoint) after every phase of a mix of
/// payments, holds, partial posts, voids and expiries; restarting must recover every balance
/// and head exactly, each time.
async fn recovery_replays_the_log_after_the_last_checkpoint(db: TestDb) {
    // Even phases checkpoint every few transfers; odd phases never do, so everything they do
    // (payments, holds, posts, voids, expiries) is recovered by replay alone.
    let config = |phase: u64| StoreConfig {
        checkpoints: CheckpointConfig {
            transfers_max: if phase.is_multiple_of(2) { 3 } else { u64::MAX },
            interval: Duration::from_secs(3600),
        },
        ..db.config()
    };
    let wallets: Vec<AccountId> = (0..4).map(wallet).collect();
    let mut all = vec![BANK, SHOP];
    all.extend(&wallets);
    let mut ids = Ids::new();
    let mut before = Vec::new();
    for phase in 0..5u64 {
        let store = open(config(phase)).await;
        for id in &all {
            // Each restart recovers exactly what the last run had, head included.
            if let Some((account, head)) = before
                .iter()
                .find(|(a, _): &&(cashless_store::AccountRow, u64)| a.account.id == *id)
            {
                let now = store.account(*id).await.unwrap().unwrap();
                assert_eq!(
                    (now.account, now.head),
                    (account.account, *head),
                    "phase {phase}, account {id}"
                );
            }
        }
        if phase == 0 {
            let mut accounts = vec![(BANK, AccountFlags::NONE), (SHOP, AccountFlags::NONE)];
            accounts.extend(
                wallets
                    .iter()
                    .map(|w| (*w, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)),
            );
            create_accounts(&store, &accounts).await;
        }
        let w = |n: usize| wallets[(n + phase as usize) % wallets.len()];
        let hold = Transfer {
            flags: TransferFlags::PENDING,
            ..pay(ids.new_id(), w(0), SHOP, 30)
        };
        let expiring = Transfer {
            flags: TransferFlags::PENDING,
            timeout_secs: 1,
            ..pay(ids.new_id(), w(1), SHOP, 20)
        };
        let voided = Transfer {
            flags: TransferFlags::PENDING,
            ..pay(ids.new_id(), w(2), SHOP, 10)
        };
        let batches = vec![
            vec![
                pay(ids.new_id(), BANK, w(0), 100 + phase),
                pay(ids.new_id(), BANK, w(1), 50),
                pay(ids.new_id(), BANK, w(2), 40),
            ],
            vec![pay(ids.new_id(), w(0), SHOP, 7), hold, expiring, voided],
            vec![
                Transfer {
                    flags: TransferFlags::POST_PENDING,
                    pending_id: hold.id,
                    ..pay(ids.new_id(), w(0), SHOP, 25)
                },
                Transfer {
                    flags: TransferFlags::VOID_PENDING,
                    pending_id: voided.id,
                    amount: 0,
                    ..pay(ids.new_id(), w(2), SHOP, 0)
                },
            ],
            vec![pay(ids.new_id(), w(1), w(3), 5)],
        ];
        for batch in batches {
            let results = store.create_transfers(batch).await.unwrap();
            assert!(
                results.iter().all(|r| *r == R::Ok),
                "phase {phase}: {results:?}"
            );
            assert_balances_match_the_log(&store, &all).await;
        }
        // Let the hold expire on its own (the ticker wakes the writer), then stop as a crash
        // would: no final checkpoint.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let row = store.transfer(expiring.id).await.unwrap().unwrap();
        assert_eq!(row.record.pending_status, PendingStatus::Expired);
        assert_balances_match_the_log(&store, &all).await;
        before.clear();
        for id in &all {
            let row = store.account(*id).await.unwrap().unwrap();
            before.push((row, row.head));
        }
        store.halt().await;
    }
}

/// An operation that swallows a SQL error and claims success: on PostgreSQL the error aborted
/// the transaction and COMMIT would silently roll back. Whatever the backend does, "ok" must
/// mean the write is there, and the store must carry on.
async fn a_swallowed_sql_error_is_never_answered_ok_without_the_write(db: TestDb) {
    let store = open(db.config()).await;
    create_notes(&store).await;
    let outcome = store
        .write(|tx| {
            let conn = tx.conn()?;
            conn.execute("INSERT INTO notes (n) VALUES (1)", &[])?;
            let _ignored = conn.batch_execute("SELECT * FROM no_such_table");
            Ok::<_, StoreError>(())
        })
        .await;
    let count = store
        .read(|conn| {
            conn.query_opt("SELECT CAST(COUNT(*) AS BIGINT) FROM notes", &[])?
                .unwrap()
                .int(0)
        })
        .await
        .unwrap();
    match outcome {
        Ok(()) => assert_eq!(count, 1, "answered ok, but the row is missing"),
        Err(_) => assert_eq!(count, 0, "answered with an error, but the row was written"),
    }
    create_accounts(
        &store,
        &[(BANK, AccountFlags::NONE), (SHOP, AccountFlags::NONE)],
    )
    .await;
    let mut ids = Ids::new();
    assert_eq!(
        store
            .create_transfers(vec![pay(ids.new_id(), BANK, SHOP, 1)])
            .await
            .unwrap(),
        [R::Ok]
    );
    store.shutdown().await;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeed,
    Fail,
    KeepThenFail,
    /// Runs a statement that fails, ignores the error and claims success.
    SwallowError,
    /// Reads, then writes with no savepoint (`conn_final`) and succeeds.
    FinalThenSucceed,
    /// Breaks its promise: fails after writing with no savepoint.
    FinalThenFail,
    /// Only reads, then fails.
    ReadThenFail,
    /// Writes what it keeps (`conn_kept`), then writes more and fails.
    KeptThenFail,
}

/// Writes the note `n` to the table `notes` in an operation of its own that ends as told.
async fn note(store: &Store, n: i64, outcome: Outcome) -> Result<(), Refused> {
    store
        .write(move |tx| {
            let insert = "INSERT INTO notes (n) VALUES ($1)";
            let count = "SELECT COUNT(*) FROM notes";
            match outcome {
                Outcome::FinalThenSucceed | Outcome::FinalThenFail => {
                    tx.conn()?.query(count, &[]).map_err(|_| Refused)?;
                    tx.conn_final()?
                        .write(insert, &[Param::Int(n)])
                        .map_err(|_| Refused)?;
                    return match outcome {
                        Outcome::FinalThenSucceed => Ok(()),
                        _ => Err(Refused),
                    };
                }
                Outcome::ReadThenFail => {
                    tx.conn()?.query(count, &[]).map_err(|_| Refused)?;
                    return Err(Refused);
                }
                Outcome::KeptThenFail => {
                    tx.conn_kept()?
                        .write(insert, &[Param::Int(n)])
                        .map_err(|_| Refused)?;
                    tx.conn()?
                        .execute(insert, &[Param::Int(n + 100)])
                        .map_err(|_| Refused)?;
                    return Err(Refused);
                }
                _ => {}
            }
            let conn = tx.conn()?;
            conn.execute(insert, &[Param::Int(n)])
                .map_err(|_| Refused)?;
            match outcome {
                Outcome::Succeed => Ok(()),
                Outcome::Fail => Err(Refused),
                Outcome::KeepThenFail => {
                    tx.keep_so_far()?;
                    let conn = tx.conn()?;
                    conn.execute(insert, &[Param::Int(n + 100)])
                        .map_err(|_| Refused)?;
                    Err(Refused)
                }
                Outcome::SwallowError => {
                    let _ignored = conn.execute("SELECT * FROM no_such_table", &[]);
                    Ok(())
                }
                _ => unreachable!("handled above"),
            }
        })
        .await
}

async fn notes(store: &Store) -> Vec<i64> {
    store
        .read(|conn| {
            conn.query("SELECT n FROM notes ORDER BY n", &[])?
                .iter()
                .map(|row| row.int(0))
                .collect::<Result<Vec<i64>, _>>()
        })
        .await
        .unwrap()
}

async fn create_notes(store: &Store) {
    store
        .write(|tx| {
            tx.conn()?.batch_execute("CREATE TABLE notes (n BIGINT)")?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

/// Operations that succeed and fail in turn, queued together so they share a group: each
/// keeps its rows, or loses them, or keeps only what it wrote before `keep_so_far`, whatever
/// the backend does with the savepoint statements around each one (PostgreSQL defers them to
/// share round trips).
async fn each_operation_in_a_group_keeps_or_loses_only_its_own_rows(db: TestDb) {
    let store = open(db.config()).await;
    create_notes(&store).await;
    let outcomes = tokio::join!(
        note(&store, 1, Outcome::Succeed),
        note(&store, 2, Outcome::Fail),
        note(&store, 3, Outcome::KeepThenFail),
        note(&store, 4, Outcome::Succeed),
        note(&store, 5, Outcome::Fail),
        note(&store, 6, Outcome::Succeed),
    );
    assert!(outcomes.0.is_ok() && outcomes.3.is_ok() && outcomes.5.is_ok());
    assert!(outcomes.1.is_err() && outcomes.2.is_err() && outcomes.4.is_err());
    assert_eq!(notes(&store).await, [1, 3, 4, 6]);
    // And the store carries on.
    assert!(note(&store, 7, Outcome::Succeed).await.is_ok());
    store.shutdown().await;
}

/// Operations that write with no savepoint, or only read, or keep part of what they wrote,
/// queued together with others: each keeps or loses exactly its own rows. One that breaks
/// its promise (fails after writing with no savepoint) cannot be undone alone, so its whole
/// group is abandoned: then every answer must still be the truth.
async fn operations_without_a_savepoint_keep_every_answer_true(db: TestDb) {
    let store = open(db.config()).await;
    create_notes(&store).await;
    let outcomes = tokio::join!(
        note(&store, 1, Outcome::Succeed),
        note(&store, 2, Outcome::Fail),
        note(&store, 3, Outcome::KeptThenFail),
        note(&store, 4, Outcome::FinalThenSucceed),
        note(&store, 5, Outcome::ReadThenFail),
        note(&store, 6, Outcome::FinalThenSucceed),
        note(&store, 7, Outcome::Succeed),
    );
    assert!(outcomes.0.is_ok() && outcomes.3.is_ok() && outcomes.5.is_ok() && outcomes.6.is_ok());
    assert!(outcomes.1.is_err() && outcomes.2.is_err() && outcomes.4.is_err());
    assert_eq!(notes(&store).await, [1, 3, 4, 6, 7]);

    let outcomes = tokio::join!(
        note(&store, 10, Outcome::Succeed),
        note(&store, 11, Outcome::FinalThenFail),
        note(&store, 12, Outcome::FinalThenSucceed),
        note(&store, 13, Outcome::Succeed),
    );
    assert!(outcomes.1.is_err());
    let kept = notes(&store).await;
    assert!(!kept.contains(&11), "{kept:?}");
    for (n, answered_ok) in [
        (10, outcomes.0.is_ok()),
        (12, outcomes.2.is_ok()),
        (13, outcomes.3.is_ok()),
    ] {
        assert_eq!(kept.contains(&n), answered_ok, "note {n}: {kept:?}");
    }
    // The store carries on, memory and database equal.
    assert!(note(&store, 20, Outcome::FinalThenSucceed).await.is_ok());
    assert!(notes(&store).await.contains(&20));
    store.shutdown().await;
}

/// Two operations write the same key with no savepoint (on PostgreSQL such writes are
/// deferred and sent together, so the database's refusal comes after both were run): the
/// second write is refused, and since nothing can undo the first alone, the group fails.
/// Whatever happened, each answer is the truth.
async fn a_final_write_the_database_refuses_fails_its_group_truthfully(db: TestDb) {
    let store = open(db.config()).await;
    store
        .write(|tx| {
            tx.conn()?
                .batch_execute("CREATE TABLE keys_once (n BIGINT PRIMARY KEY)")?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let claim = |n: i64| {
        store.write(move |tx| {
            tx.conn_final()?
                .write("INSERT INTO keys_once (n) VALUES ($1)", &[Param::Int(n)])?;
            Ok::<_, StoreError>(())
        })
    };
    let (first, second, other) = tokio::join!(claim(1), claim(1), claim(2));
    let kept: Vec<i64> = store
        .read(|conn| {
            conn.query("SELECT n FROM keys_once ORDER BY n", &[])?
                .iter()
                .map(|row| row.int(0))
                .collect::<Result<Vec<i64>, _>>()
        })
        .await
        .unwrap();
    assert!(first.is_err() || second.is_err(), "one key, two claims");
    assert_eq!(
        kept.contains(&1),
        first.is_ok() || second.is_ok(),
        "{kept:?}"
    );
    assert_eq!(kept.contains(&2), other.is_ok(), "{kept:?}");
    // The store carries on.
    assert!(claim(3).await.is_ok());
    store.shutdown().await;
}

/// An operation's final writes to several tables (on PostgreSQL: sent as one statement with
/// renumbered placeholders) and a later read in the same operation and the next one.
async fn final_writes_to_several_tables_all_land(db: TestDb) {
    let store = open(db.config()).await;
    store
        .write(|tx| {
            let conn = tx.conn()?;
            conn.batch_execute("CREATE TABLE wa (id BIGINT PRIMARY KEY, note TEXT NOT NULL)")?;
            conn.batch_execute("CREATE TABLE wb (id BIGINT PRIMARY KEY, total BIGINT NOT NULL)")?;
            conn.execute("INSERT INTO wb (id, total) VALUES (1, 10)", &[])?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let seen = store
        .write(|tx| {
            let conn = tx.conn_final()?;
            conn.write(
                "INSERT INTO wa (id, note) VALUES ($1, $2)",
                &[Param::Int(7), Param::Text("it's $1")],
            )?;
            conn.write(
                "UPDATE wb SET total = total + $2 WHERE id = $1",
                &[Param::Int(1), Param::Int(5)],
            )?;
            conn.write(
                "INSERT INTO wb (id, total) VALUES ($1, $2)",
                &[Param::Int(2), Param::Int(3)],
            )?;
            // A read sees what this operation wrote.
            let row = conn.query_opt("SELECT COUNT(*), CAST(SUM(total) AS BIGINT) FROM wb", &[])?;
            let row = row.expect("one row");
            Ok::<_, StoreError>((row.int(0)?, row.int(1)?))
        })
        .await
        .unwrap();
    assert_eq!(seen, (2, 18));
    let (note, totals) = store
        .read(|conn| {
            let note = conn.query_opt("SELECT note FROM wa WHERE id = 7", &[])?;
            let totals = conn.query("SELECT total FROM wb ORDER BY id", &[])?;
            Ok((
                note.map(|row| row.text(0).map(str::to_owned)).transpose()?,
                totals
                    .iter()
                    .map(|row| row.int(0))
                    .collect::<Result<Vec<_>, _>>()?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(note.as_deref(), Some("it's $1"));
    assert_eq!(totals, [15, 3]);
    store.shutdown().await;
}

/// A user's KYC level through the writer's row cache, counting the database reads.
async fn cached_level(
    store: &Store,
    reads: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> i64 {
    let reads = std::sync::Arc::clone(reads);
    store
        .write(move |tx| {
            let level = tx.cached("users", "u1", |conn| {
                reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                conn.query_opt("SELECT kyc_level FROM users WHERE id = 'u1'", &[])?
                    .map(|row| row.int(0))
                    .transpose()
            })?;
            Ok::<_, StoreError>(level.unwrap_or(-1))
        })
        .await
        .unwrap()
}

/// Sets the user's KYC level in an operation of its own that ends as told.
async fn set_level(store: &Store, level: i64, outcome: Outcome) -> Result<(), Refused> {
    store
        .write(move |tx| {
            tx.conn()?
                .execute(
                    "UPDATE users SET kyc_level = $1 WHERE id = 'u1'",
                    &[Param::Int(level)],
                )
                .map_err(|_| Refused)?;
            match outcome {
                Outcome::Fail => Err(Refused),
                _ => Ok(()),
            }
        })
        .await
}

/// Rows the writer keeps between operations are read once, and read again after anything
/// that may have changed their table: a committed update, and also an update rolled back
/// with its operation (the row read meanwhile showed it).
/// The roles these tests give the wallet's tables (its own registration, by hand: the store
/// knows no table by name).
const TEST_ROLES: cashless_store::TableRoles = cashless_store::TableRoles {
    credentials: &["sessions"],
    cached: &["users"],
    folds: &[],
};

async fn the_writers_cached_rows_never_outlive_a_change(db: TestDb) {
    let store = open(db.config()).await;
    store.register(TEST_ROLES);
    store
        .write(|tx| {
            tx.conn()?.execute(
                "INSERT INTO users (id, phone, created_ns, kyc_level, wallet_account_id, \
                 pin_failures, pin_locked_until_ns) VALUES ('u1', '+8613900000001', 0, 1, $1, 0, 0)",
                &[Param::Blob(&[0; 16])],
            )?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = |reads: &std::sync::Arc<std::sync::atomic::AtomicUsize>| {
        reads.load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(cached_level(&store, &reads).await, 1);
    assert_eq!(cached_level(&store, &reads).await, 1);
    assert_eq!(count(&reads), 1, "served from memory the second time");

    set_level(&store, 2, Outcome::Succeed).await.unwrap();
    assert_eq!(cached_level(&store, &reads).await, 2);
    assert_eq!(count(&reads), 2);

    // An update and a read in one operation that then fails: the read saw the update, which
    // is rolled back.
    let reads_in = std::sync::Arc::clone(&reads);
    let failed = store
        .write(move |tx| {
            tx.conn()?
                .execute("UPDATE users SET kyc_level = 3 WHERE id = 'u1'", &[])?;
            let seen = tx.cached("users", "u1", |conn| {
                reads_in.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                conn.query_opt("SELECT kyc_level FROM users WHERE id = 'u1'", &[])?
                    .map(|row| row.int(0))
                    .transpose()
            })?;
            assert_eq!(seen, Some(3));
            Err::<(), _>(StoreError::Internal("refused after reading".into()))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(
        cached_level(&store, &reads).await,
        2,
        "the rolled-back level"
    );
    assert!(set_level(&store, 4, Outcome::Fail).await.is_err());
    assert_eq!(cached_level(&store, &reads).await, 2);
    // Other tables' writes keep the row.
    let before = count(&reads);
    create_notes(&store).await;
    assert!(note(&store, 1, Outcome::Succeed).await.is_ok());
    assert_eq!(cached_level(&store, &reads).await, 2);
    assert_eq!(count(&reads), before);
    store.shutdown().await;
}

/// A lookup by a caller's text holding a NUL character (PostgreSQL refuses such text, and a
/// refused statement outside a savepoint would abort the whole transaction) fails only the
/// operation that made it: its neighbours in the group keep their rows and their "ok".
async fn text_with_a_nul_fails_only_its_own_operation(db: TestDb) {
    let store = open(db.config()).await;
    create_notes(&store).await;
    let lookup = store.write(|tx| {
        let found = tx.conn()?.query_opt(
            "SELECT n FROM notes WHERE CAST(n AS TEXT) = $1",
            &[Param::Text("1\u{0}2")],
        )?;
        match found {
            Some(_) => Ok(()),
            None => Err(StoreError::Internal("no such note".into())),
        }
    });
    let (first, looked_up, last) = tokio::join!(
        note(&store, 1, Outcome::Succeed),
        lookup,
        note(&store, 3, Outcome::Succeed),
    );
    assert!(looked_up.is_err());
    assert!(first.is_ok() && last.is_ok());
    assert_eq!(notes(&store).await, [1, 3]);
    store.shutdown().await;
}

/// One operation of a group swallows a SQL error (on PostgreSQL that aborts the whole
/// transaction, and the savepoint statements deferred after it fail): every operation's
/// answer must still be the truth, "ok" with its row there, an error without it.
async fn a_swallowed_error_amid_a_group_leaves_every_answer_true(db: TestDb) {
    let store = open(db.config()).await;
    create_notes(&store).await;
    let outcomes = tokio::join!(
        note(&store, 1, Outcome::Succeed),
        note(&store, 2, Outcome::SwallowError),
        note(&store, 3, Outcome::Succeed),
    );
    let kept = notes(&store).await;
    for (n, answered_ok) in [
        (1, outcomes.0.is_ok()),
        (2, outcomes.1.is_ok()),
        (3, outcomes.2.is_ok()),
    ] {
        assert_eq!(kept.contains(&n), answered_ok, "note {n}: {kept:?}");
    }
    assert!(note(&store, 4, Outcome::Succeed).await.is_ok());
    assert!(notes(&store).await.contains(&4));
    store.shutdown().await;
}

/// Writes `sql` (about the session "t1") in an operation of its own.
async fn write_session(store: &Store, sql: &'static str) {
    store
        .write(move |tx| {
            tx.conn()?.execute(sql, &[])?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

/// A session looked up through a credential cache, counting the database reads.
async fn session_user(
    store: &Store,
    cache: &CredentialCache<String, String>,
    reads: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Option<String> {
    let reads = std::sync::Arc::clone(reads);
    store
        .read_credential(cache, "t1".to_owned(), move |conn| {
            reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            conn.query_opt(
                "SELECT user_id FROM sessions WHERE token_hash = 't1' AND revoked_ns IS NULL",
                &[],
            )?
            .map(|row| row.text(0).map(str::to_owned))
            .transpose()
        })
        .await
        .unwrap()
}

/// Credentials read once are served from memory until a committed write may have changed
/// one; then the next lookup reads the database again and sees the change. Adding a
/// credential (or writing anything else) forgets nothing; not finding one caches nothing.
async fn a_cached_credential_is_forgotten_once_a_write_changes_it(db: TestDb) {
    let store = open(db.config()).await;
    store.register(TEST_ROLES);
    let cache = CredentialCache::new();
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let read_count = || reads.load(std::sync::atomic::Ordering::Relaxed);

    assert_eq!(session_user(&store, &cache, &reads).await, None);
    assert_eq!(session_user(&store, &cache, &reads).await, None);
    assert_eq!(read_count(), 2, "an unknown token is looked up every time");

    write_session(
        &store,
        "INSERT INTO sessions (token_hash, user_id, device_id, created_ns, expires_ns) \
         VALUES ('t1', 'u1', 'd1', 1, 9)",
    )
    .await;
    assert_eq!(
        session_user(&store, &cache, &reads).await.as_deref(),
        Some("u1")
    );
    assert_eq!(
        session_user(&store, &cache, &reads).await.as_deref(),
        Some("u1")
    );
    assert_eq!(read_count(), 3, "the second lookup is served from memory");

    // Adding another session, or writing something else, keeps the cache.
    write_session(
        &store,
        "INSERT INTO sessions (token_hash, user_id, device_id, created_ns, expires_ns) \
         VALUES ('t2', 'u2', 'd2', 1, 9)",
    )
    .await;
    write_session(
        &store,
        "UPDATE users SET pin_failures = 0 WHERE id = 'nobody'",
    )
    .await;
    assert_eq!(
        session_user(&store, &cache, &reads).await.as_deref(),
        Some("u1")
    );
    assert_eq!(read_count(), 3);

    // Revoking it: the very next lookup reads again and finds it gone.
    write_session(
        &store,
        "UPDATE sessions SET revoked_ns = 5 WHERE token_hash = 't1'",
    )
    .await;
    assert_eq!(session_user(&store, &cache, &reads).await, None);
    assert_eq!(read_count(), 4);

    // A failed operation's change is rolled back; forgetting costs a read, nothing else.
    write_session(
        &store,
        "UPDATE sessions SET revoked_ns = NULL WHERE token_hash = 't1'",
    )
    .await;
    assert_eq!(
        session_user(&store, &cache, &reads).await.as_deref(),
        Some("u1")
    );
    let failed = store
        .write(|tx| {
            tx.conn()?
                .execute("DELETE FROM sessions WHERE token_hash = 't1'", &[])?;
            Err::<(), _>(StoreError::Internal("changed its mind".into()))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(
        session_user(&store, &cache, &reads).await.as_deref(),
        Some("u1")
    );
    assert_eq!(read_count(), 6);
    store.shutdown().await;
}
