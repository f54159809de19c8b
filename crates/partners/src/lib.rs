//! The outside parties Cashless talks to. None is reachable from here, so each is a trait with
//! a simulator named as such (`SimulatedSms`, `SimulatedBank`, `SimulatedFx`): configurable
//! latency and failures, asynchronous confirmations. Everything on the platform's side of
//! these traits is real.

pub mod bank;
pub mod fx;
pub mod sms;

use std::future::Future;
use std::pin::Pin;

pub use bank::{
    Bank, BankError, BankRequest, BindingStarted, CardToken, Direction, RequestStatus,
    SimulatedBank, SimulatedBankConfig, StatementLine,
};
pub use fx::{FxError, FxRate, FxRates, SimulatedFx};
pub use sms::{SimulatedSms, SimulatedSmsConfig, SmsError, SmsGateway, SmsMessage};

/// A boxed future, so the traits can be used as `Arc<dyn Trait>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// True with probability `ppm` parts per million.
fn chance(ppm: u32) -> bool {
    use rand::RngExt;
    ppm > 0 && rand::rng().random_range(0..1_000_000) < ppm
}
