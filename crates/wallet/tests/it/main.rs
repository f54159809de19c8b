#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The wallet's rules tested directly on the service, on both backends: no HTTP, the real
//! store, simulated partners (SMS, bank, FX). The HTTP contract is tested in
//! `crates/server/tests`.

mod access;
mod funding;

use std::sync::Arc;
use std::time::Duration;

use cashless_kernel::{ServiceError, ServiceResult};
use cashless_ledger::{AccountId, Balances};
use cashless_partners::SimulatedBankConfig;
use cashless_store::{Param, Store};
use cashless_testkit::TestDb;
use cashless_testkit::wallet::{TestWallet, bank_config, wallet_config};
use cashless_wallet::{Wallet, WalletConfig};

/// The wallet service with the store and partners it stands on.
#[derive(Debug)]
pub struct Harness {
    pub store: Store,
    pub kit: TestWallet,
    _db: TestDb,
}

impl Harness {
    /// Fast clocks, cheap PIN hashing, and a bank that confirms at once: a top-up or a
    /// withdrawal has settled when it answers.
    pub async fn new(db: TestDb) -> Harness {
        Harness::with(db, wallet_config(), bank_config(Duration::ZERO)).await
    }

    pub async fn with(db: TestDb, config: WalletConfig, bank: SimulatedBankConfig) -> Harness {
        let store = cashless_testkit::open(db.config()).await;
        let kit = TestWallet::new(store.clone(), config, bank);
        Harness {
            store,
            kit,
            _db: db,
        }
    }

    pub fn wallet(&self) -> &Arc<Wallet> {
        &self.kit.wallet
    }

    /// The user's wallet account in the ledger.
    pub async fn wallet_account(&self, user_id: &str) -> AccountId {
        let user_id = user_id.to_owned();
        self.store
            .read(move |conn| Ok(cashless_wallet::payer::payer(conn, &user_id)))
            .await
            .unwrap()
            .unwrap()
            .wallet()
    }

    /// An account's balances as the ledger holds them.
    pub async fn balances(&self, account: AccountId) -> Balances {
        self.store
            .account(account)
            .await
            .unwrap()
            .expect("the account exists")
            .account
            .balances
    }

    /// The user's wallet balances.
    pub async fn user_balances(&self, user_id: &str) -> Balances {
        self.balances(self.wallet_account(user_id).await).await
    }

    /// `SELECT COUNT(*) FROM {table} WHERE user_id = $1`.
    pub async fn rows_of(&self, table: &'static str, user_id: &str) -> i64 {
        let user_id = user_id.to_owned();
        self.store
            .read(move |conn| {
                let sql = format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1");
                conn.query_opt(&sql, &[Param::Text(&user_id)])?
                    .map_or(Ok(0), |row| row.int(0))
            })
            .await
            .unwrap()
    }
}

/// The refusal a call ended with; fails the test if it succeeded.
pub fn refused<T: std::fmt::Debug>(result: ServiceResult<T>) -> ServiceError {
    match result {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(error) => error,
    }
}

/// The code of the refusal a call ended with.
pub fn code<T: std::fmt::Debug>(result: ServiceResult<T>) -> &'static str {
    refused(result).code
}
