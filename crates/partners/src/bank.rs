//! The bank: binds cards (with an OTP it texts to the cardholder), debits cards for top-ups and
//! pays out to them, confirming asynchronously, and gives a daily statement.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cashless_consumer::{CardNumber, Date};
use cashless_ledger::Currency;
use serde::{Deserialize, Serialize};

use crate::{BoxFuture, SmsGateway, chance, unix_ms};

/// The bank's opaque reference to a bound card: the platform keeps this, never the number.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CardToken(pub String);

impl fmt::Debug for CardToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(6).collect();
        write!(f, "CardToken({shown}…)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingStarted {
    pub binding_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Money from the card to the platform (a top-up).
    Debit,
    /// Money from the platform to the card (a withdrawal, a settlement).
    Payout,
}

/// A movement the platform asks the bank for. `request_id` is the idempotency key: the same
/// request sent twice is one movement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankRequest {
    pub request_id: String,
    pub card: CardToken,
    pub direction: Direction,
    pub amount_minor: u64,
    #[serde(with = "currency_code")]
    pub currency: Currency,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum RequestStatus {
    /// Accepted, not confirmed yet: ask again later.
    Processing,
    Succeeded {
        settled_at_ms: u64,
    },
    Failed {
        reason: String,
    },
    /// The bank never received this request.
    NotFound,
}

/// One settled movement on the bank's daily statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    pub request_id: String,
    pub direction: Direction,
    pub amount_minor: u64,
    #[serde(with = "currency_code")]
    pub currency: Currency,
    pub settled_at_ms: u64,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum BankError {
    #[error("the bank is unavailable; try again")]
    Unavailable,
    #[error("the bank declined: {0}")]
    Declined(String),
    #[error("the verification code is wrong")]
    InvalidOtp,
    #[error("the verification code has expired or was tried too often; start again")]
    BindingExpired,
    #[error("this request id was already used for a different movement")]
    Conflict,
}

/// Bank-side services.
pub trait Bank: Send + Sync + 'static {
    /// Starts binding a card: the bank texts a code to the phone it has for the cardholder.
    fn start_binding<'a>(
        &'a self,
        card: &'a CardNumber,
        holder_name: &'a str,
        phone: &'a str,
    ) -> BoxFuture<'a, Result<BindingStarted, BankError>>;
    /// Completes a binding with the code the cardholder received.
    fn confirm_binding<'a>(
        &'a self,
        binding_id: &'a str,
        otp: &'a str,
    ) -> BoxFuture<'a, Result<CardToken, BankError>>;
    /// Submits a movement (idempotent by request id) and answers where it stands.
    fn submit<'a>(
        &'a self,
        request: &'a BankRequest,
    ) -> BoxFuture<'a, Result<RequestStatus, BankError>>;
    fn status<'a>(&'a self, request_id: &'a str)
    -> BoxFuture<'a, Result<RequestStatus, BankError>>;
    /// Every movement settled on `day` (China time).
    fn statement(&self, day: Date) -> BoxFuture<'_, Result<Vec<StatementLine>, BankError>>;
}

#[derive(Clone, Debug)]
pub struct SimulatedBankConfig {
    /// How long each call takes.
    pub latency: Duration,
    /// How long after submission a movement is confirmed.
    pub confirm_after: Duration,
    /// Parts per million of calls that fail as "unavailable".
    pub unavailable_ppm: u32,
    /// Parts per million of movements the issuer declines.
    pub decline_ppm: u32,
    /// What each card holds, per currency, when first used (minor units).
    pub card_balance_minor: u64,
    /// Where the bank keeps its books (JSON lines), so it remembers across restarts.
    pub journal: Option<PathBuf>,
    /// How long a binding code stays valid.
    pub otp_validity: Duration,
}

impl Default for SimulatedBankConfig {
    fn default() -> SimulatedBankConfig {
        SimulatedBankConfig {
            latency: Duration::from_millis(20),
            confirm_after: Duration::from_millis(300),
            unavailable_ppm: 0,
            decline_ppm: 0,
            card_balance_minor: 10_000_000,
            journal: None,
            otp_validity: Duration::from_secs(300),
        }
    }
}

/// Wrong codes a binding allows.
const OTP_ATTEMPTS_MAX: u32 = 5;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Binding {
    binding_id: String,
    last4: String,
    otp: String,
    expires_at_ms: u64,
    attempts: u32,
    token: Option<CardToken>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Movement {
    request: BankRequest,
    submitted_at_ms: u64,
    /// `None` while it will succeed; the reason when the bank refused it.
    refused: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Binding(Binding),
    Movement(Movement),
}

#[derive(Debug, Default)]
struct Books {
    bindings: HashMap<String, Binding>,
    movements: HashMap<String, Movement>,
    /// What each card has left, per currency.
    balances: HashMap<(CardToken, Currency), u64>,
}

/// The bank simulator. It keeps its books in memory and, when configured, in a journal file it
/// replays on start, so movements in flight survive a restart of the platform (as a real bank
/// would not forget them).
pub struct SimulatedBank {
    config: SimulatedBankConfig,
    sms: Arc<dyn SmsGateway>,
    books: Mutex<Books>,
}

impl fmt::Debug for SimulatedBank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedBank")
            .field("config", &self.config)
            .finish()
    }
}

impl SimulatedBank {
    /// Opens the simulator, replaying its journal if there is one.
    pub fn open(
        config: SimulatedBankConfig,
        sms: Arc<dyn SmsGateway>,
    ) -> std::io::Result<SimulatedBank> {
        let mut books = Books::default();
        if let Some(path) = &config.journal
            && path.exists()
        {
            let file = std::fs::File::open(path)?;
            for line in std::io::BufReader::new(file).lines() {
                match serde_json::from_str::<Event>(&line?) {
                    Ok(event) => books.apply(event, config.card_balance_minor),
                    Err(error) => {
                        tracing::warn!(%error, "skipping an unreadable bank journal line")
                    }
                }
            }
        }
        Ok(SimulatedBank {
            config,
            sms,
            books: Mutex::new(books),
        })
    }

    fn record(&self, books: &mut Books, event: Event) -> Result<(), BankError> {
        if let Some(path) = &self.config.journal {
            let line = serde_json::to_string(&event).map_err(|_| BankError::Unavailable)?;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|_| BankError::Unavailable)?;
            writeln!(file, "{line}").map_err(|_| BankError::Unavailable)?;
        }
        books.apply(event, self.config.card_balance_minor);
        Ok(())
    }

    async fn call(&self) -> Result<(), BankError> {
        tokio::time::sleep(self.config.latency).await;
        if chance(self.config.unavailable_ppm) {
            return Err(BankError::Unavailable);
        }
        Ok(())
    }

    fn status_of(&self, movement: &Movement, now_ms: u64) -> RequestStatus {
        if let Some(reason) = &movement.refused {
            return RequestStatus::Failed {
                reason: reason.clone(),
            };
        }
        let settled_at_ms = movement.submitted_at_ms + self.config.confirm_after.as_millis() as u64;
        if now_ms >= settled_at_ms {
            RequestStatus::Succeeded { settled_at_ms }
        } else {
            RequestStatus::Processing
        }
    }

    /// The latest code the bank sent for `binding_id`, for demos and tests that do not read
    /// the simulated text messages.
    pub fn otp_for(&self, binding_id: &str) -> Option<String> {
        self.books
            .lock()
            .ok()?
            .bindings
            .get(binding_id)
            .map(|binding| binding.otp.clone())
    }
}

impl Books {
    fn apply(&mut self, event: Event, card_balance_minor: u64) {
        match event {
            Event::Binding(binding) => {
                self.bindings.insert(binding.binding_id.clone(), binding);
            }
            Event::Movement(movement) => {
                if movement.refused.is_none() {
                    let request = &movement.request;
                    let balance = self
                        .balances
                        .entry((request.card.clone(), request.currency))
                        .or_insert(card_balance_minor);
                    *balance = match request.direction {
                        Direction::Debit => balance.saturating_sub(request.amount_minor),
                        Direction::Payout => balance.saturating_add(request.amount_minor),
                    };
                }
                self.movements
                    .insert(movement.request.request_id.clone(), movement);
            }
        }
    }

    fn card_known(&self, card: &CardToken) -> bool {
        self.bindings
            .values()
            .any(|binding| binding.token.as_ref() == Some(card))
    }
}

fn random_digits(count: usize) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..count)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn random_hex(bytes: usize) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

impl Bank for SimulatedBank {
    fn start_binding<'a>(
        &'a self,
        card: &'a CardNumber,
        _holder_name: &'a str,
        phone: &'a str,
    ) -> BoxFuture<'a, Result<BindingStarted, BankError>> {
        Box::pin(async move {
            self.call().await?;
            let binding = Binding {
                binding_id: format!("bind_{}", random_hex(12)),
                last4: card.last4().to_owned(),
                otp: random_digits(6),
                expires_at_ms: unix_ms() + self.config.otp_validity.as_millis() as u64,
                attempts: 0,
                token: None,
            };
            let bank = card
                .bin()
                .issuer
                .map_or("Card issuer", |issuer| issuer.name);
            let text = format!(
                "[{bank}] Your code to link the card ending {} is {}. Valid for 5 minutes. Do not share it.",
                binding.last4, binding.otp
            );
            let started = BindingStarted {
                binding_id: binding.binding_id.clone(),
            };
            {
                let mut books = self.books.lock().map_err(|_| BankError::Unavailable)?;
                self.record(&mut books, Event::Binding(binding))?;
            }
            self.sms
                .send(phone, &text)
                .await
                .map_err(|_| BankError::Unavailable)?;
            Ok(started)
        })
    }

    fn confirm_binding<'a>(
        &'a self,
        binding_id: &'a str,
        otp: &'a str,
    ) -> BoxFuture<'a, Result<CardToken, BankError>> {
        Box::pin(async move {
            self.call().await?;
            let mut books = self.books.lock().map_err(|_| BankError::Unavailable)?;
            let mut binding = books
                .bindings
                .get(binding_id)
                .cloned()
                .ok_or(BankError::BindingExpired)?;
            if let Some(token) = &binding.token {
                return Ok(token.clone()); // confirming twice is idempotent
            }
            if unix_ms() > binding.expires_at_ms || binding.attempts >= OTP_ATTEMPTS_MAX {
                return Err(BankError::BindingExpired);
            }
            if binding.otp != otp {
                binding.attempts += 1;
                self.record(&mut books, Event::Binding(binding))?;
                return Err(BankError::InvalidOtp);
            }
            let token = CardToken(format!("tok_{}", random_hex(16)));
            binding.token = Some(token.clone());
            self.record(&mut books, Event::Binding(binding))?;
            Ok(token)
        })
    }

    fn submit<'a>(
        &'a self,
        request: &'a BankRequest,
    ) -> BoxFuture<'a, Result<RequestStatus, BankError>> {
        Box::pin(async move {
            self.call().await?;
            let now = unix_ms();
            let mut books = self.books.lock().map_err(|_| BankError::Unavailable)?;
            if let Some(existing) = books.movements.get(&request.request_id) {
                if existing.request != *request {
                    return Err(BankError::Conflict);
                }
                return Ok(self.status_of(existing, now));
            }
            let balance = books
                .balances
                .get(&(request.card.clone(), request.currency))
                .copied()
                .unwrap_or(self.config.card_balance_minor);
            let refused = if !books.card_known(&request.card) {
                Some("unknown card".to_owned())
            } else if chance(self.config.decline_ppm) {
                Some("declined by the issuer".to_owned())
            } else if request.direction == Direction::Debit && balance < request.amount_minor {
                Some("insufficient funds on the card".to_owned())
            } else {
                None
            };
            let movement = Movement {
                request: request.clone(),
                submitted_at_ms: now,
                refused,
            };
            let status = self.status_of(&movement, now);
            self.record(&mut books, Event::Movement(movement))?;
            Ok(status)
        })
    }

    fn status<'a>(
        &'a self,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<RequestStatus, BankError>> {
        Box::pin(async move {
            self.call().await?;
            let books = self.books.lock().map_err(|_| BankError::Unavailable)?;
            Ok(books
                .movements
                .get(request_id)
                .map_or(RequestStatus::NotFound, |m| self.status_of(m, unix_ms())))
        })
    }

    fn statement(&self, day: Date) -> BoxFuture<'_, Result<Vec<StatementLine>, BankError>> {
        Box::pin(async move {
            self.call().await?;
            let books = self.books.lock().map_err(|_| BankError::Unavailable)?;
            let now = unix_ms();
            let mut lines: Vec<StatementLine> = books
                .movements
                .values()
                .filter_map(|movement| match self.status_of(movement, now) {
                    RequestStatus::Succeeded { settled_at_ms } => Some((movement, settled_at_ms)),
                    _ => None,
                })
                .filter(|(_, settled_at_ms)| Date::china_day(settled_at_ms * 1_000_000) == day)
                .map(|(movement, settled_at_ms)| StatementLine {
                    request_id: movement.request.request_id.clone(),
                    direction: movement.request.direction,
                    amount_minor: movement.request.amount_minor,
                    currency: movement.request.currency,
                    settled_at_ms,
                })
                .collect();
            lines.sort_by(|a, b| {
                (a.settled_at_ms, &a.request_id).cmp(&(b.settled_at_ms, &b.request_id))
            });
            Ok(lines)
        })
    }
}

mod currency_code {
    use cashless_ledger::Currency;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(currency: &Currency, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(currency.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown currency {code}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SimulatedSms, SimulatedSmsConfig};

    fn card() -> CardNumber {
        CardNumber::parse("4111111111111111").unwrap()
    }

    fn quick() -> SimulatedBankConfig {
        SimulatedBankConfig {
            latency: Duration::ZERO,
            confirm_after: Duration::from_millis(50),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn binds_with_the_texted_code_and_moves_money_once() {
        let sms = Arc::new(SimulatedSms::new(SimulatedSmsConfig {
            latency: Duration::ZERO,
            failure_ppm: 0,
        }));
        let bank = SimulatedBank::open(quick(), sms.clone()).unwrap();
        let started = bank
            .start_binding(&card(), "JOHN SMITH", "+447911123456")
            .await
            .unwrap();
        let text = &sms.messages_to("+447911123456")[0].text;
        let otp = bank.otp_for(&started.binding_id).unwrap();
        assert!(text.contains(&otp) && text.contains("1111"), "{text}");
        assert_eq!(
            bank.confirm_binding(&started.binding_id, "000000").await,
            Err(BankError::InvalidOtp)
        );
        let token = bank
            .confirm_binding(&started.binding_id, &otp)
            .await
            .unwrap();
        let request = BankRequest {
            request_id: "r1".into(),
            card: token.clone(),
            direction: Direction::Debit,
            amount_minor: 10_000,
            currency: Currency::USD,
        };
        assert_eq!(
            bank.submit(&request).await.unwrap(),
            RequestStatus::Processing
        );
        assert_eq!(
            bank.submit(&request).await.unwrap(),
            RequestStatus::Processing,
            "idempotent"
        );
        let other = BankRequest {
            amount_minor: 1,
            ..request.clone()
        };
        assert_eq!(bank.submit(&other).await, Err(BankError::Conflict));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(matches!(
            bank.status("r1").await.unwrap(),
            RequestStatus::Succeeded { .. }
        ));
        assert_eq!(bank.status("nope").await.unwrap(), RequestStatus::NotFound);
        let too_much = BankRequest {
            request_id: "r2".into(),
            amount_minor: 1 << 40,
            ..request
        };
        assert!(matches!(
            bank.submit(&too_much).await.unwrap(),
            RequestStatus::Failed { .. }
        ));
    }

    #[tokio::test]
    async fn remembers_across_restarts() {
        let dir = std::env::temp_dir().join(format!("cashless-bank-{}", random_hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let config = SimulatedBankConfig {
            journal: Some(dir.join("bank.jsonl")),
            ..quick()
        };
        let sms: Arc<dyn SmsGateway> = Arc::new(SimulatedSms::new(SimulatedSmsConfig::default()));
        let bank = SimulatedBank::open(config.clone(), sms.clone()).unwrap();
        let started = bank
            .start_binding(&card(), "A", "+447911123456")
            .await
            .unwrap();
        let otp = bank.otp_for(&started.binding_id).unwrap();
        let token = bank
            .confirm_binding(&started.binding_id, &otp)
            .await
            .unwrap();
        let request = BankRequest {
            request_id: "r1".into(),
            card: token,
            direction: Direction::Payout,
            amount_minor: 5,
            currency: Currency::CNY,
        };
        bank.submit(&request).await.unwrap();
        drop(bank);
        let bank = SimulatedBank::open(config, sms).unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(matches!(
            bank.status("r1").await.unwrap(),
            RequestStatus::Succeeded { .. }
        ));
        let today = Date::china_day(unix_ms() * 1_000_000);
        assert_eq!(bank.statement(today).await.unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
