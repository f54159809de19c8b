//! A crash loses no acknowledged transfer: a child process writes under load and prints every
//! acknowledgement; it is killed with SIGKILL mid-stream; the database must hold every
//! acknowledged transfer and balance to the cent, and the store must carry on.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cashless_ledger::{
    AccountFlags, AccountId, CreateTransferResult as R, Currency, Transfer, TransferId,
};
use cashless_store::{CheckpointConfig, Location, Store, StoreConfig};

use crate::contract::assert_balances_match_the_log;
use cashless_testkit::{Ids, TestDb, open};

const LOCATION_ENV: &str = "CASHLESS_CRASH_LOCATION";
const ACCOUNTS: u128 = 20;
const CHILD_TASKS: usize = 8;
const ACKS_BEFORE_KILL: usize = 400;
const ROUNDS: usize = 2;

cashless_testkit::both_backends!(crash_loses_no_acknowledged_transfer);

fn encode(location: &Location) -> String {
    match location {
        Location::Sqlite(path) => format!("sqlite:{}", path.display()),
        Location::Postgres(url) => url.clone(),
    }
}

fn decode(text: &str) -> Location {
    match text.strip_prefix("sqlite:") {
        Some(path) => Location::Sqlite(path.into()),
        None => Location::Postgres(text.to_owned()),
    }
}

fn account(n: u128) -> AccountId {
    AccountId(1_000 + n)
}

/// The child: opens the store and writes until killed, printing `ack <id>` per commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by crash_loses_no_acknowledged_transfer as a child process"]
async fn crash_child() {
    let Ok(location) = std::env::var(LOCATION_ENV) else {
        return;
    };
    // Checkpoint balances often, so the kill lands between checkpoints and recovery replays.
    let config = StoreConfig {
        checkpoints: CheckpointConfig {
            transfers_max: 50,
            interval: Duration::from_secs(30),
        },
        ..StoreConfig::new(decode(&location))
    };
    let store = Store::open(config).await.unwrap();
    let accounts = (0..ACCOUNTS)
        .map(|n| {
            cashless_ledger::Account::new(
                account(n),
                Currency::CNY,
                cashless_ledger::AccountKind::Wallet,
                AccountFlags::NONE,
            )
        })
        .collect();
    let results = store.create_accounts(accounts).await.unwrap();
    assert!(results.iter().all(|r| r.is_success()));
    let mut tasks = Vec::new();
    for task in 0..CHILD_TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Ids::new();
            for n in 0u128.. {
                let debit = account((n + task as u128) % ACCOUNTS);
                let credit = account((n * 7 + task as u128 + 1) % ACCOUNTS);
                if debit == credit {
                    continue;
                }
                let transfer = Transfer::new(
                    TransferId(ids.new_id()),
                    debit,
                    credit,
                    1 + (n as u64 % 97),
                    Currency::CNY,
                    1,
                );
                let results = store.create_transfers(vec![transfer]).await.unwrap();
                assert_eq!(results, [R::Ok]);
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {}", transfer.id).unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

fn run_child_until_killed(location: &Location) -> Vec<TransferId> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "crash::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LOCATION_ENV, encode(location))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.parse().unwrap());
        }
        if acked.len() >= ACKS_BEFORE_KILL || Instant::now() > deadline {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no goodbye
    child.wait().unwrap();
    assert!(
        acked.len() >= ACKS_BEFORE_KILL,
        "the child acknowledged only {} transfers",
        acked.len()
    );
    acked
}

async fn crash_loses_no_acknowledged_transfer(db: TestDb) {
    let mut all_acked = Vec::new();
    for _ in 0..ROUNDS {
        let location = db.location.clone();
        let acked = tokio::task::spawn_blocking(move || run_child_until_killed(&location))
            .await
            .unwrap();
        all_acked.extend(acked);

        let store = open(db.config()).await;
        for id in &all_acked {
            let row = store.transfer(*id).await.unwrap();
            assert!(
                row.is_some_and(|row| row.record.is_success()),
                "acknowledged transfer {id} lost"
            );
        }
        let accounts: Vec<AccountId> = (0..ACCOUNTS).map(account).collect();
        // Every balance equals what the stored transfers say: nothing half-written, nothing
        // replayed twice or missed since the last balance checkpoint.
        assert_balances_match_the_log(&store, &accounts).await;
        let mut ids = Ids::new();
        let after = Transfer::new(
            TransferId(ids.new_id()),
            account(0),
            account(1),
            1,
            Currency::CNY,
            1,
        );
        assert_eq!(
            store.create_transfers(vec![after]).await.unwrap(),
            [R::Ok],
            "writes resume"
        );
        store.shutdown().await;
    }
}
