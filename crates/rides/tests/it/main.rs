#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Transit's rules on the platform's side tested directly on the service, on both backends:
//! passes for a phone's key, gates built from nothing but what the platform publishes, signed
//! tap uploads priced into journeys, fares debited from the wallet, debts and the blacklist.
//! No HTTP (that is `crates/server/tests`); the settler is called by hand with the time it
//! should believe.

mod journeys;
mod passes;

use std::sync::Arc;
use std::time::Duration;

use cashless_kernel::ServiceResult;
use cashless_kernel::secrets::{decode_hex, hex};
use cashless_ledger::Balances;
use cashless_rides::passes::GateConfig;
use cashless_rides::rides::{
    BATCH_DOMAIN, BatchResult, GateInput, Journeys, TapBatch, operator_payable,
};
use cashless_rides::{Rides, RidesConfig};
use cashless_store::{Param, Store};
use cashless_testkit::TestDb;
use cashless_testkit::wallet::{Consumer, TestWallet, bank_config, phone_device, wallet_config};
use cashless_transit::{
    Blacklist, Certificate, Decision, Direction, Freshness, Gate, GatePlace, Tap,
};
use cashless_wallet::statement::StatementItem;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// Hangzhou Metro and Hangzhou Bus, as the migrations make them.
pub const METRO: u16 = 1;
pub const BUS: u16 = 2;

/// Transit with the wallet it takes fares from.
#[derive(Debug)]
pub struct Harness {
    pub store: Store,
    pub kit: TestWallet,
    pub rides: Arc<Rides>,
    _db: TestDb,
}

/// A rider: their phone's key signs the ride codes made from their passes.
#[derive(Debug)]
pub struct Rider {
    pub consumer: Consumer,
    pub device: SigningKey,
}

/// A registered gate holding what gates download, and the key it signs uploads with.
#[derive(Debug)]
pub struct TestGate {
    pub gate: Gate,
    pub key: SigningKey,
    batches: u32,
}

impl Harness {
    pub async fn new(db: TestDb) -> Harness {
        let store = cashless_testkit::open(db.config()).await;
        let kit = TestWallet::new(store.clone(), wallet_config(), bank_config(Duration::ZERO));
        let rides = Rides::new(kit.wallet.clone(), RidesConfig::default());
        Harness {
            store,
            kit,
            rides,
            _db: db,
        }
    }

    /// A phone with a key, signed in and verified as `name`, a card linked, and `balance`
    /// topped up (if any).
    pub async fn rider(&self, name: &str, balance: Option<&str>) -> Rider {
        let device = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let public_key = hex(device.verifying_key().as_bytes());
        let mut consumer = self.kit.sign_in(phone_device(Some(public_key))).await;
        self.kit.verify(&consumer, name).await;
        self.kit.link_card(&mut consumer, name).await;
        if let Some(balance) = balance {
            let funding = self.kit.top_up(&consumer, balance).await;
            assert_eq!(funding.status, "succeeded", "{funding:?}");
        }
        Rider { consumer, device }
    }

    /// The rider's pass for `operator`, as the certificate their codes carry.
    pub async fn pass(&self, rider: &Rider, operator: u16) -> Certificate {
        let pass = self
            .rides
            .transit_pass(&rider.consumer.session, operator)
            .await
            .unwrap();
        Certificate::from_bytes(&decode_hex(&pass.certificate).unwrap()).unwrap()
    }

    /// Registers a gate with a fresh key and builds it from what gates download.
    pub async fn gate(
        &self,
        operator: u16,
        id: &str,
        line: &str,
        station: &str,
        direction: Direction,
    ) -> TestGate {
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let input = GateInput {
            gate_id: id.to_owned(),
            operator,
            line: line.to_owned(),
            station: station.to_owned(),
            direction,
            public_key: hex(key.verifying_key().as_bytes()),
        };
        let (created, _) = self.rides.register_gate(input).await.unwrap();
        assert!(created);
        let place = GatePlace {
            gate_id: id.to_owned(),
            operator,
            line: line.to_owned(),
            station: station.to_owned(),
            direction,
        };
        let mut gate = Gate::new(place, Freshness::default());
        load(&mut gate, &self.rides.gate_config(operator).await.unwrap());
        TestGate {
            gate,
            key,
            batches: 0,
        }
    }

    /// Uploads `batch` signed with `key` as gate `gate_id`.
    pub async fn upload(
        &self,
        gate_id: &str,
        key: &SigningKey,
        batch: &TapBatch,
    ) -> ServiceResult<BatchResult> {
        let body = serde_json::to_vec(batch).unwrap();
        let mut signed = BATCH_DOMAIN.to_vec();
        signed.extend_from_slice(&body);
        let signature = hex(&key.sign(&signed).to_bytes());
        self.rides.upload_taps(gate_id, &signature, &body).await
    }

    /// Uploads `taps` as the gate's next batch, signed with its key.
    pub async fn send(&self, gate: &mut TestGate, taps: &[&Tap]) -> ServiceResult<BatchResult> {
        let batch = gate.batch(taps);
        self.upload(&batch.gate_id, &gate.key, &batch).await
    }

    /// The rider's journeys, newest first, and what they owe.
    pub async fn journeys(&self, rider: &Rider) -> Journeys {
        self.rides.journeys(&rider.consumer.session).await.unwrap()
    }

    /// The rider's statement lines for fares and fares given back, newest first.
    pub async fn transit_lines(&self, rider: &Rider) -> Vec<StatementItem> {
        let session = &rider.consumer.session;
        let statement = self
            .kit
            .wallet
            .statement(session, None, None, Some("transit"));
        statement.await.unwrap().items
    }

    /// The operator's payable account (all zeros before its first fare).
    pub async fn payable(&self, operator: u16) -> Balances {
        let row = self
            .store
            .account(operator_payable(operator))
            .await
            .unwrap();
        row.map(|row| row.account.balances).unwrap_or_default()
    }

    /// The account references an operator's gates refuse.
    pub async fn blacklist(&self, operator: u16) -> Vec<String> {
        self.rides.gate_config(operator).await.unwrap().blacklist
    }

    /// What the rider can spend, in fen.
    pub async fn balance(&self, rider: &Rider) -> u64 {
        self.kit.available(&rider.consumer).await
    }

    /// `SELECT COUNT(*) FROM {table}`.
    pub async fn rows(&self, table: &'static str) -> i64 {
        self.store
            .read(move |conn| {
                conn.query_opt(&format!("SELECT COUNT(*) FROM {table}"), &[])?
                    .map_or(Ok(0), |row| row.int(0))
            })
            .await
            .unwrap()
    }

    /// How many journeys of the user the table holds.
    pub async fn journeys_of(&self, rider: &Rider) -> i64 {
        let user_id = rider.consumer.session.user_id.clone();
        self.store
            .read(move |conn| {
                conn.query_opt(
                    "SELECT COUNT(*) FROM transit_journeys WHERE user_id = $1",
                    &[Param::Text(&user_id)],
                )?
                .map_or(Ok(0), |row| row.int(0))
            })
            .await
            .unwrap()
    }
}

/// Gives a gate the issuer keys and the blacklist of a configuration.
pub fn load(gate: &mut Gate, config: &GateConfig) {
    gate.set_issuer_keys(config.issuer_keys.iter().map(|key| {
        let bytes: [u8; 32] = decode_hex(&key.public_key).unwrap().try_into().unwrap();
        (key.id, VerifyingKey::from_bytes(&bytes).unwrap())
    }));
    gate.set_blacklist(Blacklist {
        version: config.blacklist_version,
        accounts: config
            .blacklist
            .iter()
            .map(|account| <[u8; 8]>::try_from(decode_hex(account).unwrap()).unwrap())
            .collect(),
    });
}

impl TestGate {
    /// The gate decides on the code; it must open.
    pub fn open(&mut self, code: &str, at: u32) -> Tap {
        match self.gate.decide(code, at) {
            Decision::Open(tap) => tap,
            Decision::Refuse(refusal) => panic!("the gate refused: {}", refusal.code()),
        }
    }

    /// The gate's next batch of `taps`.
    pub fn batch(&mut self, taps: &[&Tap]) -> TapBatch {
        self.batches += 1;
        TapBatch {
            gate_id: self.gate.place().gate_id.clone(),
            batch_id: format!("batch-{}", self.batches),
            taps: taps.iter().map(|tap| (*tap).clone()).collect(),
        }
    }
}

/// Now, in the seconds ride codes and taps count in.
pub fn now_secs() -> u32 {
    u32::try_from(cashless_kernel::now_ns() / 1_000_000_000).unwrap()
}

/// Seconds to nanoseconds, for looking ahead with `settle_transit`.
pub fn ns(secs: u32) -> u64 {
    u64::from(secs) * 1_000_000_000
}
