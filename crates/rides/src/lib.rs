//! Transit on the platform's side, beside the pure codes and gate of `cashless_transit`:
//!
//! - [`passes`]: a phone's transit pass (the certificate its ride codes carry), the issuer keys
//!   and their rotation, what gates download (issuer keys, the blacklist), the network.
//! - [`rides`]: gates and their registration, tap uploads checked again, journeys priced and
//!   debited from the wallet, what riders owe, and the settler that collects it.
//!
//! It takes money only through the wallet's payer rules (`cashless_wallet::payer`) and the
//! ledger; it must never know merchants, orders or HTTP.

pub mod passes;
pub mod rides;

use std::sync::Arc;
use std::time::Duration;

use cashless_store::Store;
use cashless_wallet::Wallet;

/// Ledger transfer codes of transit's movements.
pub mod codes {
    /// A transit fare, wallet to the operator's payable account.
    pub const TRANSIT_FARE: u16 = 30;
    /// A fare given back after a journey was repriced.
    pub const TRANSIT_REFUND: u16 = 31;
}

/// Transit's rules that are configuration rather than code. Tests shorten the clocks.
#[derive(Clone, Debug)]
pub struct RidesConfig {
    /// How long a metro journey may take: an entry pairs with an exit within this.
    pub journey_max: Duration,
    /// How long past that a lone tap waits for its pair's gate to upload before it pays the
    /// maximum fare (a pair arriving later still is repriced and the difference given back).
    pub upload_grace: Duration,
    /// How old an uploaded tap may be.
    pub upload_window: Duration,
    /// How often the settler collects fares and debts.
    pub settle_every: Duration,
}

impl Default for RidesConfig {
    fn default() -> RidesConfig {
        RidesConfig {
            journey_max: Duration::from_secs(4 * 3600),
            upload_grace: Duration::from_secs(2 * 3600),
            upload_window: Duration::from_secs(30 * 86_400),
            settle_every: Duration::from_secs(1),
        }
    }
}

/// The transit service. Share it as `Arc<Rides>`.
#[derive(Debug)]
pub struct Rides {
    store: Store,
    wallet: Arc<Wallet>,
    config: RidesConfig,
}

impl Rides {
    pub fn new(wallet: Arc<Wallet>, config: RidesConfig) -> Arc<Rides> {
        Arc::new(Rides {
            store: wallet.store().clone(),
            wallet,
            config,
        })
    }

    pub fn config(&self) -> &RidesConfig {
        &self.config
    }

    /// The settler, collecting fares and debts every `settle_every`.
    pub fn spawn_background(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        vec![self.spawn_settler()]
    }
}
