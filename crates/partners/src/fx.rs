//! Foreign-exchange rates.

use std::collections::HashMap;

use cashless_ledger::Currency;

use crate::{BoxFuture, unix_ms};

/// A quote: one unit of `from` buys `rate_micros / 1,000,000` units of `to`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FxRate {
    pub from: Currency,
    pub to: Currency,
    pub rate_micros: u64,
    pub quoted_at_ms: u64,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum FxError {
    #[error("no rate from {0} to {1}")]
    NoRate(Currency, Currency),
}

pub trait FxRates: Send + Sync + 'static {
    fn quote(&self, from: Currency, to: Currency) -> BoxFuture<'_, Result<FxRate, FxError>>;
}

/// The FX simulator: fixed, configurable rates.
#[derive(Clone, Debug)]
pub struct SimulatedFx {
    rates: HashMap<(Currency, Currency), u64>,
}

impl Default for SimulatedFx {
    /// Rates to CNY as of the simulator's invention, in millionths.
    fn default() -> SimulatedFx {
        let to_cny = [
            (Currency::USD, 7_123_400),
            (Currency::EUR, 7_712_300),
            (Currency::GBP, 9_012_300),
            (Currency::HKD, 912_300),
            (Currency::JPY, 47_600),
            (Currency::SGD, 5_301_200),
            (Currency::KRW, 5_120),
            (Currency::AUD, 4_650_100),
        ];
        SimulatedFx {
            rates: to_cny
                .into_iter()
                .map(|(from, rate)| ((from, Currency::CNY), rate))
                .collect(),
        }
    }
}

impl SimulatedFx {
    pub fn with_rate(mut self, from: Currency, to: Currency, rate_micros: u64) -> SimulatedFx {
        self.rates.insert((from, to), rate_micros);
        self
    }
}

impl FxRates for SimulatedFx {
    fn quote(&self, from: Currency, to: Currency) -> BoxFuture<'_, Result<FxRate, FxError>> {
        let rate = self.rates.get(&(from, to)).copied();
        Box::pin(async move {
            let rate_micros = rate.ok_or(FxError::NoRate(from, to))?;
            Ok(FxRate {
                from,
                to,
                rate_micros,
                quoted_at_ms: unix_ms(),
            })
        })
    }
}
