//! The audit from storage: it passes on a ledger the writer kept (posted, pending, posted and
//! voided holds, an expiry, refused transfers, log after the last checkpoint), and names each
//! kind of break once the tables are tampered with.

use std::time::Duration;

use cashless_ledger::{AccountFlags, AccountId, Currency, PendingStatus, Transfer, TransferFlags};
use cashless_store::audit::audit_ledger;
use cashless_store::{Param, Store};
use cashless_testkit::{Ids, TestDb, create_accounts, open};

cashless_testkit::both_backends!(the_audit_passes_on_a_kept_ledger_and_names_each_break,);

const BANK: AccountId = AccountId(11);
const SHOP: AccountId = AccountId(12);
const WALLET: AccountId = AccountId(13);

fn pay(ids: &mut Ids, debit: AccountId, credit: AccountId, amount: u64) -> Transfer {
    Transfer::new(
        cashless_ledger::TransferId(ids.new_id()),
        debit,
        credit,
        amount,
        Currency::CNY,
        1,
    )
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The audit on a connection of its own, off the runtime (PostgreSQL's client blocks).
async fn audit(store: &Store, now: u64) -> cashless_store::audit::LedgerAudit {
    let location = store.location().clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = location.open().unwrap();
        let mut pages = 0;
        let audit = audit_ledger(&mut conn, now, &mut |done, total| {
            pages += 1;
            assert!(done <= total);
        })
        .unwrap();
        assert!(pages >= 1, "progress is reported");
        audit
    })
    .await
    .unwrap()
}

async fn tamper(store: &Store, sql: &'static str, account: AccountId) {
    let location = store.location().clone();
    tokio::task::spawn_blocking(move || {
        let bytes = account.to_bytes();
        let mut conn = location.open().unwrap();
        let params = [Param::Blob(&bytes)];
        let params = if sql.contains("$1") { &params[..] } else { &[] };
        conn.execute(sql, params).unwrap();
    })
    .await
    .unwrap();
}

async fn the_audit_passes_on_a_kept_ledger_and_names_each_break(db: TestDb) {
    let store = kept_books(&db).await;
    the_audit_passes_on_kept_books(&store).await;
    the_audit_names_each_break(&store).await;
}

/// Books with every kind of movement: single-phase, posted, voided, expired and open holds,
/// a refusal, and a restart (a checkpoint) in between.
async fn kept_books(db: &TestDb) -> Store {
    let store = open(db.config()).await;
    create_accounts(
        &store,
        &[
            (BANK, AccountFlags::NONE),
            (SHOP, AccountFlags::NONE),
            (WALLET, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        ],
    )
    .await;
    let mut ids = Ids::new();
    let hold = |ids: &mut Ids, amount, timeout_secs| Transfer {
        flags: TransferFlags::PENDING,
        timeout_secs,
        ..pay(ids, WALLET, SHOP, amount)
    };
    let (posted, voided, expiring) = (
        hold(&mut ids, 40, 0),
        hold(&mut ids, 10, 0),
        hold(&mut ids, 5, 1),
    );
    let results = store
        .create_transfers(vec![
            pay(&mut ids, BANK, WALLET, 100),
            posted,
            voided,
            expiring,
            // Refused (more than the wallet holds): kept in the log, moves nothing.
            pay(&mut ids, WALLET, SHOP, 1_000),
        ])
        .await
        .unwrap();
    assert_eq!(
        results.iter().filter(|r| r.is_success()).count(),
        4,
        "{results:?}"
    );
    let resolve = |ids: &mut Ids, flags, pending: &Transfer, amount| Transfer {
        flags,
        pending_id: pending.id,
        ..pay(ids, WALLET, SHOP, amount)
    };
    let results = store
        .create_transfers(vec![
            resolve(&mut ids, TransferFlags::POST_PENDING, &posted, 30),
            resolve(&mut ids, TransferFlags::VOID_PENDING, &voided, 0),
        ])
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.is_success()), "{results:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store
        .transfer(expiring.id)
        .await
        .unwrap()
        .unwrap()
        .record
        .pending_status
        != PendingStatus::Expired
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hold never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A checkpoint at shutdown; then more of the log after it, and a hold still open.
    store.shutdown().await;
    drop(store);
    let store = open(db.config()).await;
    let open_hold = Transfer {
        flags: TransferFlags::PENDING,
        timeout_secs: 3_600,
        ..pay(&mut ids, WALLET, SHOP, 7)
    };
    let results = store
        .create_transfers(vec![pay(&mut ids, BANK, WALLET, 50), open_hold])
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.is_success()), "{results:?}");
    store
}

/// The books as kept pass, with their totals; a hold past its timeout on a stopped server is
/// waiting for the sweep, not a break.
async fn the_audit_passes_on_kept_books(store: &Store) {
    let found = audit(store, now_ns()).await;
    assert!(found.passed(), "{:#?}", found.breaks);
    assert_eq!((found.accounts, found.transfers, found.expiries), (3, 8, 1));
    assert_eq!(found.pending, 1);
    let cny = &found.currencies[0];
    assert_eq!(cny.currency, "CNY");
    // Posted: 100 + 50 in, 30 out; pending: the open hold.
    assert_eq!(
        (cny.debits_posted.as_str(), cny.credits_posted.as_str()),
        ("180", "180")
    );
    assert_eq!(
        (cny.debits_pending.as_str(), cny.credits_pending.as_str()),
        ("7", "7")
    );

    // Two hours on, the open hold is past its timeout; nothing was written since, so it waits
    // for the writer's sweep (a stopped server's books are not broken by it).
    let later = audit(store, now_ns() + 2 * 3_600 * 1_000_000_000).await;
    assert!(later.passed(), "{:#?}", later.breaks);
    assert_eq!(later.expired_unswept, 1);
}

/// Each way the tables can be broken is named.
async fn the_audit_names_each_break(store: &Store) {
    // A balance row that no longer equals its transfers, and so debits that exceed credits.
    store.halt().await;
    tamper(
        store,
        "UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE id = $1",
        SHOP,
    )
    .await;
    let broken = audit(store, now_ns()).await;
    assert!(!broken.passed());
    assert_eq!(
        broken.breaks["balance_mismatch"].count, 1,
        "{:#?}",
        broken.breaks
    );
    assert!(broken.breaks["balance_mismatch"].listed[0].contains(&SHOP.to_string()));
    assert!(broken.breaks.contains_key("unbalanced_currency"));

    // A transfer that moves more than the wallet ever held crosses its limit.
    tamper(
        store,
        "UPDATE ledger_transfers SET amount = amount + 1000 WHERE debit_account_id = $1 AND flags = 4 AND result = 0",
        WALLET,
    )
    .await;
    let crossed = audit(store, now_ns()).await;
    assert!(
        crossed.breaks.contains_key("constraint_crossed"),
        "{:#?}",
        crossed.breaks
    );

    // An expiry lost (and its hold dated ten minutes back): the hold looks open past its
    // timeout although the ledger went on writing.
    tamper(store, "DELETE FROM ledger_expiries", SHOP).await;
    tamper(
        store,
        "UPDATE ledger_transfers SET ts = ts - 600000000000 \
         WHERE amount = 5 AND flags = 2 AND debit_account_id = $1",
        WALLET,
    )
    .await;
    let stuck = audit(store, now_ns()).await;
    assert_eq!(
        stuck.breaks["overdue_pending"].count, 1,
        "{:#?}",
        stuck.breaks
    );
    // A transfer naming an account that is not stored, and an account of another currency.
    tamper(
        store,
        "UPDATE ledger_transfers SET credit_account_id = $1 WHERE amount = 50 AND flags = 0",
        AccountId(99),
    )
    .await;
    tamper(
        store,
        "UPDATE ledger_accounts SET currency = 840 WHERE id = $1",
        BANK,
    )
    .await;
    // A pending transfer gone, so the void that resolved it resolves nothing.
    tamper(
        store,
        "DELETE FROM ledger_transfers WHERE amount = 10 AND flags = 2 AND debit_account_id = $1",
        WALLET,
    )
    .await;
    let broken = audit(store, now_ns()).await;
    for kind in ["unknown_account", "currency_mismatch", "orphan_resolution"] {
        assert!(
            broken.breaks.contains_key(kind),
            "{kind}: {:#?}",
            broken.breaks
        );
    }
}
