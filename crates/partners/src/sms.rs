//! Text messages to phones.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::{BoxFuture, chance, unix_ms};

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmsError {
    #[error("the SMS gateway is unavailable")]
    Unavailable,
}

/// Sends text messages.
pub trait SmsGateway: Send + Sync + 'static {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), SmsError>>;
}

/// A message the simulator "delivered".
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SmsMessage {
    pub phone: String,
    pub text: String,
    pub sent_at_ms: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct SimulatedSmsConfig {
    pub latency: Duration,
    /// Parts per million of sends that fail.
    pub failure_ppm: u32,
}

impl Default for SimulatedSmsConfig {
    fn default() -> SimulatedSmsConfig {
        SimulatedSmsConfig {
            latency: Duration::from_millis(20),
            failure_ppm: 0,
        }
    }
}

/// The one-time code in a text message: its first run of exactly 6 digits (sign-in codes,
/// the bank's card codes).
pub fn code_in(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|part| part.len() == 6)
}

/// The SMS gateway simulator: records every message instead of sending it, so tests and the
/// local demo can read the codes. The most recent messages only (a bounded outbox).
#[derive(Debug)]
pub struct SimulatedSms {
    config: SimulatedSmsConfig,
    outbox: Mutex<VecDeque<SmsMessage>>,
}

/// Messages the simulator keeps at most.
const OUTBOX_MESSAGES_MAX: usize = 10_000;

impl SimulatedSms {
    pub fn new(config: SimulatedSmsConfig) -> SimulatedSms {
        SimulatedSms {
            config,
            outbox: Mutex::new(VecDeque::new()),
        }
    }

    /// Messages sent to `phone` (E.164), newest first.
    pub fn messages_to(&self, phone: &str) -> Vec<SmsMessage> {
        self.recent(usize::MAX)
            .into_iter()
            .filter(|message| message.phone == phone)
            .collect()
    }

    /// The one-time code in the newest message to `phone` (E.164), if any.
    pub fn newest_code_to(&self, phone: &str) -> Option<String> {
        self.messages_to(phone)
            .first()
            .and_then(|message| code_in(&message.text).map(str::to_owned))
    }

    /// The newest `limit` messages, newest first.
    pub fn recent(&self, limit: usize) -> Vec<SmsMessage> {
        let outbox = self
            .outbox
            .lock()
            .map(|outbox| outbox.clone())
            .unwrap_or_default();
        outbox.into_iter().rev().take(limit).collect()
    }
}

impl SmsGateway for SimulatedSms {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), SmsError>> {
        Box::pin(async move {
            tokio::time::sleep(self.config.latency).await;
            if chance(self.config.failure_ppm) {
                return Err(SmsError::Unavailable);
            }
            let message = SmsMessage {
                phone: phone.to_owned(),
                text: text.to_owned(),
                sent_at_ms: unix_ms(),
            };
            if let Ok(mut outbox) = self.outbox.lock() {
                if outbox.len() == OUTBOX_MESSAGES_MAX {
                    outbox.pop_front();
                }
                outbox.push_back(message);
            }
            Ok(())
        })
    }
}
