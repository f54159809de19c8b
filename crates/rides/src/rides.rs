//! Rides after the gate: tap uploads, journeys, fares and what riders owe.
//!
//! - **Gates** are registered by the platform's operator with their place (operator, line,
//!   station, entry or exit) and an Ed25519 public key. A gate uploads the taps it opened
//!   for in batches signed with its key: `Cashless-Gate-Signature` is the hex signature over
//!   `cashless-gate-batch-v1\n` followed by the body. A batch is named by the gate
//!   (`batch_id`): uploading it again answers the first upload's result and changes nothing;
//!   the same name with another body is refused. Batches may come in any order, days late.
//! - **Every tap is checked again**: its place is the gate's, its code's signatures verify
//!   against the issuer keys, and the code was fresh at the tap's time. A gate cannot make up
//!   a ride, and a tap refused here is reported back, never priced.
//! - **One code opens one gate once.** The same code uploaded by the same gate is the same
//!   tap (a re-upload); seen at another gate it is kept as `reused`, flagged for the
//!   operator, and never priced: the ride is charged once.
//! - **Journeys.** Bus boardings pay their line's flat fare at once. Metro taps are paired
//!   (see `cashless_transit::fares::pair`): an entry and the exit right after it within
//!   `journey_max` pay the fare for the distance between them; a tap left alone for
//!   `journey_max + upload_grace` pays the maximum fare. If the missing tap
//!   arrives later still, the journey is repriced and the difference given back.
//! - **Debits.** A fare moves from the rider's wallet to the operator's payable account as a
//!   ledger transfer, once per journey (the journey row records what was charged). If the
//!   balance cannot cover it, the rider owes it: their account reference goes on the
//!   operator's blacklist, which gates download, until the debt is paid (by the rider, or by
//!   the settler as soon as the balance allows).

use std::collections::{BTreeSet, HashMap};

use cashless_consumer::rfc3339;
use cashless_kernel::wire::{self, Amount};
use cashless_kernel::{ServiceError, ServiceResult, secrets};
use cashless_ledger::{
    AccountId, AccountKind, CreateTransferResult, Currency, Money, Transfer, TransferId,
};
use cashless_store::{Conn, DbError, Param, WriteTx};
use cashless_transit::fares::{FareTable, Line, Network, Pairing, RiderTap, pair};
use cashless_transit::{Direction, Freshness, RideCode, Tap, verify_certificate, verify_code};
use cashless_wallet::payer::{self, Activity};
use cashless_wallet::{Session, Wallet};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_json::json;

use cashless_kernel::keys;

use crate::passes::{operator_name, unknown_operator};
use crate::{Rides, codes};

/// What a gate's batch signature covers before the body.
pub const BATCH_DOMAIN: &[u8] = b"cashless-gate-batch-v1\n";
/// What a gate's signature over a picture to read covers before the picture.
pub const SCAN_DOMAIN: &[u8] = b"cashless-gate-scan-v1\n";
/// Taps one upload may carry.
pub const BATCH_TAPS_MAX: usize = 1_000;
/// Riders the settler prices per run.
const SETTLE_RIDERS_MAX: i64 = 200;

/// The answer to a gate request without a valid signature of a registered gate.
pub fn gate_refused() -> ServiceError {
    ServiceError::new(
        cashless_kernel::ErrorKind::Unauthorized,
        "gate_signature_invalid",
        "sign with the gate's registered key: Cashless-Gate-Id and Cashless-Gate-Signature",
    )
}

/// The operator's payable account at a transit operator: `0x4_0000 + operator id`.
pub fn operator_payable(operator: u16) -> AccountId {
    AccountId(0x4_0000 + u128::from(operator))
}

/// `Direction` as the API document names it (the transit crate knows no OpenAPI).
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GateDirection {
    Entry,
    Exit,
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GateInput {
    /// The gate's own name, 1–64 letters, digits, `-`, `_` or `.`.
    #[schema(example = "HZM-1-WULIN-IN-01")]
    pub gate_id: String,
    #[schema(maximum = 65535)]
    pub operator: u16,
    /// A line of the operator (`GET /v1/transit/network`).
    #[schema(example = "1")]
    pub line: String,
    /// A station of that line (metro); a bus gate names its vehicle.
    #[schema(example = "wulin-square")]
    pub station: String,
    #[schema(value_type = GateDirection, example = "entry")]
    pub direction: Direction,
    /// The gate's Ed25519 public key, 64 hex digits: it signs the gate's tap uploads.
    pub public_key: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GateView {
    pub gate_id: String,
    pub operator: u16,
    pub line: String,
    pub station: String,
    #[schema(value_type = GateDirection)]
    pub direction: Direction,
    pub public_key: String,
    pub registered_at: String,
    pub updated_at: String,
}

/// A gate's upload: the taps it opened for since its last one.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TapBatch {
    pub gate_id: String,
    /// The gate's name for this batch (1–64 printable characters): an upload is idempotent
    /// by it.
    pub batch_id: String,
    #[schema(value_type = Vec<Object>)]
    pub taps: Vec<Tap>,
}

impl TapBatch {
    /// The batch in a gate's signed body, checked: for this gate, a usable batch id, not too
    /// many taps.
    fn parse(gate_id: &str, body: &[u8]) -> ServiceResult<TapBatch> {
        let batch: TapBatch = serde_json::from_slice(body).map_err(|error| {
            ServiceError::invalid("body_invalid", format!("the batch is not valid: {error}"))
        })?;
        if batch.gate_id != gate_id {
            return Err(ServiceError::invalid(
                "gate_mismatch",
                "the batch names another gate than Cashless-Gate-Id",
            ));
        }
        if batch.batch_id.is_empty()
            || batch.batch_id.len() > 64
            || !batch.batch_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ServiceError::invalid(
                "batch_id_invalid",
                "a batch id is 1–64 printable characters without spaces",
            ));
        }
        if batch.taps.len() > BATCH_TAPS_MAX {
            return Err(ServiceError::invalid(
                "batch_too_large",
                format!("a batch carries at most {BATCH_TAPS_MAX} taps"),
            ));
        }
        Ok(batch)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TapRejection {
    /// The tap's position in the batch.
    pub index: usize,
    pub code: String,
    pub message: String,
}

/// What the platform made of a batch.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BatchResult {
    pub gate_id: String,
    pub batch_id: String,
    pub received: usize,
    /// New taps recorded.
    pub accepted: usize,
    /// Taps this gate had uploaded before (in another batch).
    pub already_uploaded: usize,
    /// Codes already seen at another gate: recorded, flagged, not charged again.
    pub reused: usize,
    pub rejected: Vec<TapRejection>,
    /// Journeys priced or repriced because of this batch.
    pub journeys_priced: usize,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StationView {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct JourneyView {
    pub id: String,
    pub operator: u16,
    pub operator_name: String,
    /// `flat` (a bus boarding), `paired` (metro entry and exit), `unpaired_entry` or
    /// `unpaired_exit` (the maximum fare), `void` (merged into another journey).
    pub kind: String,
    pub line: String,
    pub from: Option<StationView>,
    pub to: Option<StationView>,
    pub distance_m: Option<u32>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub fare: Amount,
    pub charged: Amount,
    pub owed: Amount,
    /// `paid` or `owed`.
    pub status: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Journeys {
    pub journeys: Vec<JourneyView>,
    /// What the rider owes in all (unpaid fares).
    pub owed: Amount,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FlagView {
    pub id: String,
    pub operator: u16,
    /// `code_reused`: one ride code opened two gates.
    pub kind: String,
    pub account_ref: String,
    pub tap_id: String,
    pub gate_id: String,
    pub first_tap_id: String,
    pub first_gate_id: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StopView {
    pub station: String,
    pub name: String,
    pub distance_m: u32,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LineView {
    pub id: String,
    pub name: String,
    pub flat_fare: Option<Amount>,
    pub stops: Vec<StopView>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FareBandView {
    pub up_to_m: u32,
    pub fare: Amount,
}

/// An operator's lines, stations and fare rules.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NetworkView {
    pub operator: u16,
    pub name: String,
    /// `distance` (metro: by the fare table) or `flat` (bus: each line's fare).
    pub fare_mode: String,
    /// What a metro tap without its pair pays.
    pub max_fare: Amount,
    pub lines: Vec<LineView>,
    pub fare_bands: Vec<FareBandView>,
    /// How long an entry waits for its exit.
    pub journey_max_secs: u64,
}

fn cny(fen: i64) -> Amount {
    Amount::new(u64::try_from(fen).unwrap_or(0), Currency::CNY)
}

fn direction_text(direction: Direction) -> &'static str {
    match direction {
        Direction::Entry => "entry",
        Direction::Exit => "exit",
    }
}

fn direction_of(text: &str) -> Result<Direction, DbError> {
    match text {
        "entry" => Ok(Direction::Entry),
        "exit" => Ok(Direction::Exit),
        other => Err(DbError::Decode(format!("unknown tap direction {other}"))),
    }
}

fn secs(now_ns: u64) -> i64 {
    (now_ns / 1_000_000_000) as i64
}

fn is_name(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// How an operator prices rides, loaded once per operation.
#[derive(Debug)]
struct Pricing {
    name: String,
    distance: bool,
    max_fare: i64,
    flat_fares: HashMap<String, i64>,
    network: Network,
    table: FareTable,
    names: HashMap<String, String>,
}

/// How `operator` prices rides, or `unknown_operator`.
fn pricing(conn: &mut Conn, operator: u16) -> ServiceResult<Pricing> {
    load_pricing(conn, operator)?.ok_or_else(unknown_operator)
}

fn load_pricing(conn: &mut Conn, operator: u16) -> Result<Option<Pricing>, DbError> {
    let op = i64::from(operator);
    let Some(row) = conn.query_opt(
        "SELECT name, fare_mode, max_fare FROM transit_operators WHERE id = $1",
        &[Param::Int(op)],
    )?
    else {
        return Ok(None);
    };
    let (name, distance, max_fare) = (
        row.text(0)?.to_owned(),
        row.text(1)? == "distance",
        row.int(2)?,
    );
    let mut flat_fares = HashMap::new();
    for row in conn.query(
        "SELECT id, flat_fare FROM transit_lines WHERE operator = $1",
        &[Param::Int(op)],
    )? {
        if let Some(fare) = row.opt_int(1)? {
            flat_fares.insert(row.text(0)?.to_owned(), fare);
        }
    }
    let mut lines: Vec<Line> = Vec::new();
    let mut names = HashMap::new();
    for row in conn.query(
        "SELECT line, station, name, distance_m FROM transit_stops WHERE operator = $1 ORDER BY line, seq",
        &[Param::Int(op)],
    )? {
        let line = row.text(0)?;
        if lines.last().is_none_or(|last| last.id != line) {
            lines.push(Line { id: line.to_owned(), stops: Vec::new() });
        }
        let station = row.text(1)?.to_owned();
        names.insert(station.clone(), row.text(2)?.to_owned());
        if let Some(last) = lines.last_mut() {
            last.stops.push((station, u32::try_from(row.int(3)?).unwrap_or(u32::MAX)));
        }
    }
    let bands = conn
        .query(
            "SELECT up_to_m, fare FROM transit_fare_bands WHERE operator = $1 ORDER BY up_to_m",
            &[Param::Int(op)],
        )?
        .iter()
        .map(|row| {
            Ok((
                u32::try_from(row.int(0)?).unwrap_or(u32::MAX),
                u32::try_from(row.int(1)?).unwrap_or(u32::MAX),
            ))
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Some(Pricing {
        name,
        distance,
        max_fare,
        flat_fares,
        network: Network::new(&lines),
        table: FareTable {
            bands,
            max_fare: u32::try_from(max_fare).unwrap_or(u32::MAX),
        },
        names,
    }))
}

/// A rider at an operator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rider {
    operator: u16,
    account_ref: Vec<u8>,
}

/// A journey to open: its kind (`paired`, `flat`, `unpaired_entry`, `unpaired_exit`), its
/// taps, and what it costs.
struct NewJourney<'t> {
    kind: &'static str,
    entry: Option<&'t TapRow>,
    exit: Option<&'t TapRow>,
    fare: i64,
    distance: Option<u32>,
}

/// A tap as pricing reads it.
#[derive(Clone, Debug)]
struct TapRow {
    id: String,
    line: String,
    station: String,
    direction: Direction,
    at: i64,
    journey: Option<(String, String)>,
}

/// A journey row, as far as repricing needs it.
#[derive(Clone, Debug)]
struct JourneyRow {
    id: String,
    user_id: String,
    fare: i64,
    charged: i64,
}

fn journey_row(conn: &mut Conn, id: &str) -> ServiceResult<JourneyRow> {
    let row = conn
        .query_opt(
            "SELECT id, user_id, fare, charged FROM transit_journeys WHERE id = $1",
            &[Param::Text(id)],
        )?
        .ok_or_else(|| ServiceError::internal("tap names a missing journey"))?;
    Ok(JourneyRow {
        id: row.text(0)?.to_owned(),
        user_id: row.text(1)?.to_owned(),
        fare: row.int(2)?,
        charged: row.int(3)?,
    })
}

/// Everything a writer operation that prices rides needs.
struct Pricer<'w> {
    wallet: &'w Wallet,
    journey_max: i64,
    settle_after: i64,
    window_start: i64,
    now: u64,
    priced: usize,
    pricing: HashMap<u16, Pricing>,
}

impl Pricer<'_> {
    fn pricing(&mut self, conn: &mut Conn, operator: u16) -> ServiceResult<&Pricing> {
        match self.pricing.entry(operator) {
            std::collections::hash_map::Entry::Occupied(entry) => Ok(entry.into_mut()),
            std::collections::hash_map::Entry::Vacant(entry) => {
                Ok(entry.insert(pricing(conn, operator)?))
            }
        }
    }

    /// Prices whatever of the rider's taps can be priced now.
    fn price_rider(&mut self, tx: &mut WriteTx<'_, '_>, rider: &Rider) -> ServiceResult<()> {
        let conn = tx.conn()?;
        let Some(user_id) = conn
            .query_opt(
                "SELECT user_id FROM transit_accounts WHERE operator = $1 AND account_ref = $2",
                &[
                    Param::Int(i64::from(rider.operator)),
                    Param::Blob(&rider.account_ref),
                ],
            )?
            .map(|row| row.text(0).map(str::to_owned))
            .transpose()?
        else {
            return Err(ServiceError::internal(
                "a tap for an account the platform never issued",
            ));
        };
        let taps: Vec<TapRow> = conn
            .query(
                "SELECT t.id, t.line, t.station, t.direction, t.at, t.journey_id, j.kind \
                 FROM transit_taps t LEFT JOIN transit_journeys j ON j.id = t.journey_id \
                 WHERE t.operator = $1 AND t.account_ref = $2 AND t.status = 'ok' AND t.at >= $3 \
                 ORDER BY t.at, t.id",
                &[
                    Param::Int(i64::from(rider.operator)),
                    Param::Blob(&rider.account_ref),
                    Param::Int(self.window_start),
                ],
            )?
            .iter()
            .map(|row| {
                Ok(TapRow {
                    id: row.text(0)?.to_owned(),
                    line: row.text(1)?.to_owned(),
                    station: row.text(2)?.to_owned(),
                    direction: direction_of(row.text(3)?)?,
                    at: row.int(4)?,
                    journey: match (row.opt_text(5)?, row.opt_text(6)?) {
                        (Some(id), Some(kind)) => Some((id.to_owned(), kind.to_owned())),
                        _ => None,
                    },
                })
            })
            .collect::<Result<_, DbError>>()?;
        if !self.pricing(conn, rider.operator)?.distance {
            for tap in taps.iter().filter(|tap| tap.journey.is_none()) {
                let fare = {
                    let pricing = self.pricing(tx.conn()?, rider.operator)?;
                    pricing
                        .flat_fares
                        .get(&tap.line)
                        .copied()
                        .unwrap_or(pricing.max_fare)
                };
                let journey = NewJourney {
                    kind: "flat",
                    entry: Some(tap),
                    exit: None,
                    fare,
                    distance: None,
                };
                self.new_journey(tx, rider, &user_id, journey)?;
            }
            return Ok(());
        }
        self.price_by_distance(tx, rider, &user_id, &taps)
    }

    /// Pairs the rider's taps and prices each journey by its distance: new pairs open
    /// journeys, a pair completing a journey priced without it repairs that one, and a tap
    /// alone past the upload grace pays the maximum.
    fn price_by_distance(
        &mut self,
        tx: &mut WriteTx<'_, '_>,
        rider: &Rider,
        user_id: &str,
        taps: &[TapRow],
    ) -> ServiceResult<()> {
        let now = secs(self.now);
        let view: Vec<RiderTap> = taps
            .iter()
            .map(|tap| RiderTap {
                direction: tap.direction,
                at: u32::try_from(tap.at).unwrap_or(u32::MAX),
                fixed: tap
                    .journey
                    .as_ref()
                    .is_some_and(|(_, kind)| kind == "paired"),
            })
            .collect();
        for pairing in pair(&view, u32::try_from(self.journey_max).unwrap_or(u32::MAX)) {
            match pairing {
                Pairing::Journey { entry, exit } => {
                    let (entry, exit) = (&taps[entry], &taps[exit]);
                    let (distance, fare) = {
                        let pricing = self.pricing(tx.conn()?, rider.operator)?;
                        let distance = pricing.network.distance(&entry.station, &exit.station);
                        let fare =
                            distance.map_or(pricing.max_fare, |d| i64::from(pricing.table.fare(d)));
                        (distance, fare)
                    };
                    match (&entry.journey, &exit.journey) {
                        (None, None) => {
                            let journey = NewJourney {
                                kind: "paired",
                                entry: Some(entry),
                                exit: Some(exit),
                                fare,
                                distance,
                            };
                            self.new_journey(tx, rider, user_id, journey)?;
                        }
                        (Some((kept, _)), other) | (None, other @ Some((kept, _))) => {
                            let kept = kept.clone();
                            let other = other
                                .as_ref()
                                .map(|(id, _)| id.clone())
                                .filter(|id| *id != kept);
                            self.repair(tx, rider, &kept, (entry, exit), (fare, distance))?;
                            if let Some(void) = other {
                                self.void(tx, rider, &void)?;
                            }
                        }
                    }
                }
                Pairing::Alone(i) => {
                    let tap = &taps[i];
                    if tap.journey.is_none() && tap.at + self.settle_after <= now {
                        let max_fare = self.pricing(tx.conn()?, rider.operator)?.max_fare;
                        let (kind, entry, exit) = match tap.direction {
                            Direction::Entry => ("unpaired_entry", Some(tap), None),
                            Direction::Exit => ("unpaired_exit", None, Some(tap)),
                        };
                        let journey = NewJourney {
                            kind,
                            entry,
                            exit,
                            fare: max_fare,
                            distance: None,
                        };
                        self.new_journey(tx, rider, user_id, journey)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn new_journey(
        &mut self,
        tx: &mut WriteTx<'_, '_>,
        rider: &Rider,
        user_id: &str,
        journey: NewJourney<'_>,
    ) -> ServiceResult<()> {
        let NewJourney {
            kind,
            entry,
            exit,
            fare,
            distance,
        } = journey;
        let id = self.wallet.new_id_string();
        let first = entry
            .or(exit)
            .ok_or_else(|| ServiceError::internal("a journey without taps"))?;
        let conn = tx.conn()?;
        conn.execute(
            "INSERT INTO transit_journeys (id, operator, account_ref, user_id, kind, line, entry_tap, exit_tap, \
             from_station, to_station, distance_m, started_at, fare, charged, created_ns, updated_ns) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,0,$14,$14)",
            &[
                Param::Text(&id),
                Param::Int(i64::from(rider.operator)),
                Param::Blob(&rider.account_ref),
                Param::Text(user_id),
                Param::Text(kind),
                Param::Text(&first.line),
                Param::opt_text(entry.map(|t| t.id.as_str())),
                Param::opt_text(exit.map(|t| t.id.as_str())),
                Param::opt_text(entry.map(|t| t.station.as_str())),
                Param::opt_text(exit.map(|t| t.station.as_str())),
                distance.map_or(Param::Null, |d| Param::Int(i64::from(d))),
                Param::Int(first.at),
                Param::Int(fare),
                Param::Int(self.now as i64),
            ],
        )?;
        for tap in entry.into_iter().chain(exit) {
            conn.execute(
                "UPDATE transit_taps SET journey_id = $2 WHERE id = $1",
                &[Param::Text(&tap.id), Param::Text(&id)],
            )?;
        }
        let counterparty = self.pricing(tx.conn()?, rider.operator)?.name.clone();
        let description = self.describe(rider.operator, kind, entry, exit);
        payer::record_activity(
            tx.conn()?,
            &Activity {
                id: &id,
                user_id,
                kind: "transit",
                status: "processing",
                amount: Money::new(fare, Currency::CNY)
                    .checked_neg()
                    .map_err(wire::money_fault)?,
                counterparty: &counterparty,
                details: json!({ "journey_id": id, "operator": rider.operator, "journey": kind, "description": description }),
            },
            self.now,
        )?;
        self.priced += 1;
        let journey = JourneyRow {
            id,
            user_id: user_id.to_owned(),
            fare,
            charged: 0,
        };
        collect(tx, self.wallet, rider, &journey, self.now).map(drop)
    }

    fn describe(
        &self,
        operator: u16,
        kind: &str,
        entry: Option<&TapRow>,
        exit: Option<&TapRow>,
    ) -> String {
        let name = |tap: Option<&TapRow>| {
            tap.map(|tap| {
                self.pricing
                    .get(&operator)
                    .and_then(|p| p.names.get(&tap.station).cloned())
                    .unwrap_or_else(|| tap.station.clone())
            })
        };
        match kind {
            "flat" => format!("Bus {}", entry.or(exit).map_or("", |t| t.line.as_str())),
            _ => format!(
                "{} → {}",
                name(entry).unwrap_or_else(|| "no entry".to_owned()),
                name(exit).unwrap_or_else(|| "no exit".to_owned())
            ),
        }
    }

    /// A journey priced without its pair gets it: both taps, the fare for the distance, and
    /// back what was charged beyond it.
    fn repair(
        &mut self,
        tx: &mut WriteTx<'_, '_>,
        rider: &Rider,
        id: &str,
        (entry, exit): (&TapRow, &TapRow),
        (fare, distance): (i64, Option<u32>),
    ) -> ServiceResult<()> {
        let description = self.describe(rider.operator, "paired", Some(entry), Some(exit));
        let conn = tx.conn()?;
        conn.execute(
            "UPDATE transit_journeys SET kind = 'paired', line = $2, entry_tap = $3, exit_tap = $4, \
             from_station = $5, to_station = $6, distance_m = $7, started_at = $8, updated_ns = $9 WHERE id = $1",
            &[
                Param::Text(id),
                Param::Text(&entry.line),
                Param::Text(&entry.id),
                Param::Text(&exit.id),
                Param::Text(&entry.station),
                Param::Text(&exit.station),
                distance.map_or(Param::Null, |d| Param::Int(i64::from(d))),
                Param::Int(entry.at),
                Param::Int(self.now as i64),
            ],
        )?;
        for tap in [entry, exit] {
            conn.execute(
                "UPDATE transit_taps SET journey_id = $2 WHERE id = $1",
                &[Param::Text(&tap.id), Param::Text(id)],
            )?;
        }
        payer::set_activity_details(
            conn,
            id,
            &json!({ "journey_id": id, "operator": rider.operator, "journey": "paired", "description": description }),
        )?;
        let journey = journey_row(conn, id)?;
        self.priced += 1;
        reprice(tx, self.wallet, rider, journey, fare, self.now)
    }

    /// A journey that turned out to be half of another: it costs nothing.
    fn void(&mut self, tx: &mut WriteTx<'_, '_>, rider: &Rider, id: &str) -> ServiceResult<()> {
        let conn = tx.conn()?;
        conn.execute(
            "UPDATE transit_journeys SET kind = 'void', updated_ns = $2 WHERE id = $1",
            &[Param::Text(id), Param::Int(self.now as i64)],
        )?;
        let journey = journey_row(conn, id)?;
        self.priced += 1;
        reprice(tx, self.wallet, rider, journey, 0, self.now)
    }
}

/// Sets a journey's fare to `fare`: gives back what was charged beyond it (a refund line on
/// the statement), or, if nothing moved yet, corrects the unpaid line.
fn reprice(
    tx: &mut WriteTx<'_, '_>,
    wallet: &Wallet,
    rider: &Rider,
    mut journey: JourneyRow,
    fare: i64,
    now: u64,
) -> ServiceResult<()> {
    if journey.charged > fare {
        let back = Money::new(journey.charged, Currency::CNY)
            .checked_sub(Money::new(fare, Currency::CNY))
            .map_err(wire::money_fault)?;
        let payer = payer::payer(tx.conn()?, &journey.user_id)?;
        let transfer = Transfer::of(
            TransferId(wallet.new_id()),
            operator_payable(rider.operator),
            payer.wallet(),
            back,
            codes::TRANSIT_REFUND,
        )
        .map_err(wire::money_fault)?;
        cashless_kernel::check_applied("transit", &tx.create_transfers_atomically(&[transfer])?)?;
        journey.charged = fare;
        let conn = tx.conn()?;
        let name = operator_name(conn, rider.operator)?.unwrap_or_default();
        payer::record_activity(
            conn,
            &Activity {
                id: &wallet.new_id_string(),
                user_id: &journey.user_id,
                kind: "transit_refund",
                status: "succeeded",
                amount: back,
                counterparty: &name,
                details: json!({ "journey_id": journey.id, "reason": "fare_adjusted" }),
            },
            now,
        )?;
    }
    journey.fare = fare;
    let conn = tx.conn()?;
    conn.execute(
        "UPDATE transit_journeys SET fare = $2, charged = $3, updated_ns = $4 WHERE id = $1",
        &[
            Param::Text(&journey.id),
            Param::Int(journey.fare),
            Param::Int(journey.charged),
            Param::Int(now as i64),
        ],
    )?;
    // The journey's own line shows what it costs while nothing has moved; once paid, it
    // shows what was paid, and refunds are lines of their own.
    if journey.charged == 0 {
        let status = if journey.fare == 0 {
            "failed"
        } else {
            "processing"
        };
        let owed = Money::new(journey.fare, Currency::CNY)
            .checked_neg()
            .map_err(wire::money_fault)?;
        payer::reprice_activity(conn, &journey.id, owed, status, now)?;
    }
    collect(tx, wallet, rider, &journey, now).map(drop)
}

/// Journeys not paid in full, oldest first: all of them, or one rider's.
fn owed_journeys(
    conn: &mut Conn,
    user_id: Option<&str>,
    limit: i64,
) -> Result<Vec<(Rider, JourneyRow)>, DbError> {
    conn.query(
        "SELECT operator, account_ref, id, user_id, fare, charged FROM transit_journeys \
         WHERE charged < fare AND ($1 = '' OR user_id = $1) ORDER BY started_at LIMIT $2",
        &[Param::Text(user_id.unwrap_or_default()), Param::Int(limit)],
    )?
    .iter()
    .map(|row| {
        Ok((
            Rider {
                operator: u16::try_from(row.int(0)?).unwrap_or(0),
                account_ref: row.blob(1)?.to_vec(),
            },
            JourneyRow {
                id: row.text(2)?.to_owned(),
                user_id: row.text(3)?.to_owned(),
                fare: row.int(4)?,
                charged: row.int(5)?,
            },
        ))
    })
    .collect()
}

/// Debits what the journey still costs; if the balance cannot cover it, the rider owes it and
/// goes on the blacklist. When nothing is owed any more, the rider comes off it. Answers
/// whether this call debited the journey in full.
fn collect(
    tx: &mut WriteTx<'_, '_>,
    wallet: &Wallet,
    rider: &Rider,
    journey: &JourneyRow,
    now: u64,
) -> ServiceResult<bool> {
    let due = journey.fare - journey.charged;
    let paid = due > 0;
    if paid {
        cashless_wallet::ensure_account(
            tx,
            operator_payable(rider.operator),
            Currency::CNY,
            AccountKind::Payable,
        )?;
        let payer = payer::payer(tx.conn()?, &journey.user_id)?;
        // Looked at first, so a debtor's balance checked every second leaves no refused
        // transfer behind in the ledger.
        let available = tx.account(payer.wallet()).map_or(0, |account| {
            account.balances.credit_balance_available().max(0)
        });
        if available < i128::from(due) {
            blacklist(tx.conn()?, rider, now)?;
            return Ok(false);
        }
        let transfer = Transfer::of(
            TransferId(wallet.new_id()),
            payer.wallet(),
            operator_payable(rider.operator),
            Money::new(due, Currency::CNY),
            codes::TRANSIT_FARE,
        )
        .map_err(wire::money_fault)?;
        let results = tx.create_transfers_atomically(&[transfer])?;
        if results.first() == Some(&CreateTransferResult::ExceedsCredits) {
            blacklist(tx.conn()?, rider, now)?;
            return Ok(false);
        }
        cashless_kernel::check_applied("transit", &results)?;
        let conn = tx.conn()?;
        conn.execute(
            "UPDATE transit_journeys SET charged = fare, updated_ns = $2 WHERE id = $1",
            &[Param::Text(&journey.id), Param::Int(now as i64)],
        )?;
        payer::set_activity_status(conn, &journey.id, "succeeded", now)?;
    }
    let conn = tx.conn()?;
    let owing = conn
        .query_opt(
            "SELECT COUNT(*) FROM transit_journeys WHERE operator = $1 AND account_ref = $2 AND charged < fare",
            &[Param::Int(i64::from(rider.operator)), Param::Blob(&rider.account_ref)],
        )?
        .map_or(Ok(0), |row| row.int(0))?;
    if owing == 0 {
        conn.execute(
            "UPDATE transit_blacklist SET cleared_ns = $3, changed_ns = $3 \
             WHERE operator = $1 AND account_ref = $2 AND cleared_ns IS NULL",
            &[
                Param::Int(i64::from(rider.operator)),
                Param::Blob(&rider.account_ref),
                Param::Int(now as i64),
            ],
        )?;
    }
    Ok(paid)
}

/// Puts the rider on the operator's blacklist (a new version of it) unless already there.
fn blacklist(conn: &mut Conn, rider: &Rider, now: u64) -> ServiceResult<()> {
    let params = [
        Param::Int(i64::from(rider.operator)),
        Param::Blob(&rider.account_ref),
        Param::Int(now as i64),
    ];
    let listed = conn.execute(
        "UPDATE transit_blacklist SET listed_ns = $3, cleared_ns = NULL, changed_ns = $3 \
         WHERE operator = $1 AND account_ref = $2 AND cleared_ns IS NOT NULL",
        &params,
    )?;
    let present = conn
        .query_opt(
            "SELECT 1 FROM transit_blacklist WHERE operator = $1 AND account_ref = $2",
            &params[..2],
        )?
        .is_some();
    if listed == 0 && !present {
        conn.execute(
            "INSERT INTO transit_blacklist (operator, account_ref, listed_ns, cleared_ns, changed_ns) \
             VALUES ($1, $2, $3, NULL, $3)",
            &params,
        )?;
    }
    Ok(())
}

/// A tap that passed every check outside the writer.
#[derive(Clone, Debug)]
struct CheckedTap {
    index: usize,
    tap: Tap,
    account_ref: [u8; 8],
    serial: u64,
}

fn rejection(index: usize, code: &str, message: &str) -> TapRejection {
    TapRejection {
        index,
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

/// The registered gate's row.
#[derive(Clone, Debug)]
struct GateRow {
    operator: u16,
    line: String,
    station: String,
    direction: Direction,
    public_key: String,
}

/// The timing rules of pricing, from the configuration.
#[derive(Clone, Copy, Debug)]
struct RideRules {
    journey_max: i64,
    settle_after: i64,
    window: i64,
}

impl RideRules {
    fn pricer(self, wallet: &Wallet, now: u64) -> Pricer<'_> {
        Pricer {
            wallet,
            journey_max: self.journey_max,
            settle_after: self.settle_after,
            window_start: secs(now) - self.window - 2 * self.journey_max,
            now,
            priced: 0,
            pricing: HashMap::new(),
        }
    }
}

impl Rides {
    fn ride_rules(&self) -> RideRules {
        let journey_max = self.config.journey_max.as_secs() as i64;
        RideRules {
            journey_max,
            settle_after: journey_max + self.config.upload_grace.as_secs() as i64,
            window: self.config.upload_window.as_secs() as i64,
        }
    }

    /// Registers a gate, or moves it and replaces its key (operator).
    pub async fn register_gate(&self, input: GateInput) -> ServiceResult<(bool, GateView)> {
        if !is_name(&input.gate_id, 64) {
            return Err(ServiceError::invalid(
                "gate_id_invalid",
                "a gate id is 1–64 letters, digits, '-', '_' or '.'",
            ));
        }
        let key = keys::parse_public_key(&input.public_key)?;
        let public_key = secrets::hex(key.as_bytes());
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let pricing = pricing(conn, input.operator)?;
                let line_known = conn
                    .query_opt(
                        "SELECT 1 FROM transit_lines WHERE operator = $1 AND id = $2",
                        &[Param::Int(i64::from(input.operator)), Param::Text(&input.line)],
                    )?
                    .is_some();
                if !line_known {
                    return Err(ServiceError::unprocessable("transit_line_unknown", "no such line at this operator"));
                }
                if pricing.distance {
                    let on_line = conn
                        .query_opt(
                            "SELECT 1 FROM transit_stops WHERE operator = $1 AND line = $2 AND station = $3",
                            &[
                                Param::Int(i64::from(input.operator)),
                                Param::Text(&input.line),
                                Param::Text(&input.station),
                            ],
                        )?
                        .is_some();
                    if !on_line {
                        return Err(ServiceError::unprocessable(
                            "transit_station_unknown",
                            "no such station on this line",
                        ));
                    }
                } else if !is_name(&input.station, 64) {
                    return Err(ServiceError::invalid(
                        "station_invalid",
                        "a bus gate's station names its vehicle: 1–64 letters, digits, '-', '_' or '.'",
                    ));
                }
                let existing = conn
                    .query_opt("SELECT created_ns FROM transit_gates WHERE id = $1", &[Param::Text(&input.gate_id)])?
                    .map(|row| row.int(0))
                    .transpose()?;
                let params = [
                    Param::Text(&input.gate_id),
                    Param::Int(i64::from(input.operator)),
                    Param::Text(&input.line),
                    Param::Text(&input.station),
                    Param::Text(direction_text(input.direction)),
                    Param::Text(&public_key),
                    Param::Int(now as i64),
                ];
                if existing.is_some() {
                    conn.execute(
                        "UPDATE transit_gates SET operator = $2, line = $3, station = $4, direction = $5, \
                         public_key = $6, updated_ns = $7 WHERE id = $1",
                        &params,
                    )?;
                } else {
                    conn.execute(
                        "INSERT INTO transit_gates (id, operator, line, station, direction, public_key, created_ns, updated_ns) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                        &params,
                    )?;
                }
                let created = existing.map_or(now, |ns| ns as u64);
                Ok((
                    existing.is_none(),
                    GateView {
                        gate_id: input.gate_id,
                        operator: input.operator,
                        line: input.line,
                        station: input.station,
                        direction: input.direction,
                        public_key,
                        registered_at: rfc3339(created),
                        updated_at: rfc3339(now),
                    },
                ))
            })
            .await
    }

    /// Checks that `gate_id` signed `domain ‖ body` with its registered key (hex Ed25519
    /// signature), and answers where the gate stands.
    pub async fn authenticate_gate(
        &self,
        gate_id: &str,
        domain: &[u8],
        signature: &str,
        body: &[u8],
    ) -> ServiceResult<GateInput> {
        let gate = self.gate_row(gate_id, domain, signature, body).await?;
        Ok(GateInput {
            gate_id: gate_id.to_owned(),
            operator: gate.operator,
            line: gate.line,
            station: gate.station,
            direction: gate.direction,
            public_key: gate.public_key,
        })
    }

    async fn gate_row(
        &self,
        gate_id: &str,
        domain: &[u8],
        signature: &str,
        body: &[u8],
    ) -> ServiceResult<GateRow> {
        let refused = gate_refused;
        let gate_key = gate_id.to_owned();
        let gate = self
            .store
            .read(move |conn| {
                conn.query_opt(
                    "SELECT operator, line, station, direction, public_key FROM transit_gates WHERE id = $1",
                    &[Param::Text(&gate_key)],
                )?
                .map(|row| {
                    Ok(GateRow {
                        operator: u16::try_from(row.int(0)?).unwrap_or(0),
                        line: row.text(1)?.to_owned(),
                        station: row.text(2)?.to_owned(),
                        direction: direction_of(row.text(3)?)?,
                        public_key: row.text(4)?.to_owned(),
                    })
                })
                .transpose()
            })
            .await?
            .ok_or_else(refused)?;
        let key = keys::parse_public_key(&gate.public_key)
            .map_err(|_| ServiceError::internal("a gate's stored key does not parse"))?;
        let signature: [u8; 64] = secrets::decode_hex(signature.trim())
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(refused)?;
        let mut signed = Vec::with_capacity(domain.len() + body.len());
        signed.extend_from_slice(domain);
        signed.extend_from_slice(body);
        if !keys::verify(&key, &signed, &signature) {
            return Err(refused());
        }
        Ok(gate)
    }

    /// A gate's signed upload of taps (see the module documentation).
    pub async fn upload_taps(
        &self,
        gate_id: &str,
        signature: &str,
        body: &[u8],
    ) -> ServiceResult<BatchResult> {
        let gate = self
            .gate_row(gate_id, BATCH_DOMAIN, signature, body)
            .await?;
        let batch = TapBatch::parse(gate_id, body)?;
        let body_sha256 = keys::sha256_hex(body);
        // The signatures of every code, outside the writer.
        let (checked, rejected) = self.check_taps(&gate, gate_id, &batch).await?;
        let gate_id = gate_id.to_owned();
        let wallet = self.wallet.clone();
        let rules = self.ride_rules();
        let result = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                if let Some(row) = conn.query_opt(
                    "SELECT body_sha256, result FROM transit_batches WHERE gate_id = $1 AND batch_id = $2",
                    &[Param::Text(&gate_id), Param::Text(&batch.batch_id)],
                )? {
                    if row.text(0)? != body_sha256 {
                        return Err(ServiceError::conflict(
                            "batch_mismatch",
                            "this gate uploaded another batch under this batch id",
                        ));
                    }
                    return serde_json::from_str(row.text(1)?)
                        .map_err(|error| ServiceError::internal(format!("a stored batch result: {error}")));
                }
                let mut result = BatchResult {
                    gate_id: gate_id.clone(),
                    batch_id: batch.batch_id.clone(),
                    received: batch.taps.len(),
                    accepted: 0,
                    already_uploaded: 0,
                    reused: 0,
                    rejected,
                    journeys_priced: 0,
                };
                let mut riders = BTreeSet::new();
                for tap in &checked {
                    match record_tap(conn, &wallet, &gate_id, &batch.batch_id, tap, now)? {
                        Recorded::New => {
                            result.accepted += 1;
                            riders.insert(Rider { operator: tap.tap.operator, account_ref: tap.account_ref.to_vec() });
                        }
                        Recorded::Again => result.already_uploaded += 1,
                        Recorded::Reused => result.reused += 1,
                        Recorded::Rejected(code, message) => {
                            result.rejected.push(rejection(tap.index, code, message));
                        }
                    }
                }
                result.rejected.sort_by_key(|r| r.index);
                let mut pricer = rules.pricer(&wallet, now);
                for rider in &riders {
                    pricer.price_rider(tx, rider)?;
                }
                result.journeys_priced = pricer.priced;
                let stored = serde_json::to_string(&result)
                    .map_err(|error| ServiceError::internal(format!("a batch result: {error}")))?;
                tx.conn()?.execute(
                    "INSERT INTO transit_batches (gate_id, batch_id, body_sha256, result, created_ns) VALUES ($1, $2, $3, $4, $5)",
                    &[
                        Param::Text(&gate_id),
                        Param::Text(&batch.batch_id),
                        Param::Text(&body_sha256),
                        Param::Text(&stored),
                        Param::Int(now as i64),
                    ],
                )?;
                Ok(result)
            })
            .await?;
        Ok(result)
    }

    /// Checks every tap's code again, outside the writer: the taps that pass, and the
    /// rejections of those that do not.
    async fn check_taps(
        &self,
        gate: &GateRow,
        gate_id: &str,
        batch: &TapBatch,
    ) -> ServiceResult<(Vec<CheckedTap>, Vec<TapRejection>)> {
        let issuer_keys = self.all_issuer_keys().await?;
        let now_secs = secs(cashless_kernel::now_ns());
        let window = self.config.upload_window.as_secs() as i64;
        let freshness = Freshness::default();
        let mut checked = Vec::new();
        let mut rejected = Vec::new();
        for (index, tap) in batch.taps.iter().enumerate() {
            match check_tap(
                gate,
                gate_id,
                tap,
                &issuer_keys,
                freshness,
                now_secs,
                window,
            ) {
                Ok((account_ref, serial)) => checked.push(CheckedTap {
                    index,
                    tap: tap.clone(),
                    account_ref,
                    serial,
                }),
                Err(refusal) => rejected.push(rejection(index, refusal.0, refusal.1)),
            }
        }
        Ok((checked, rejected))
    }

    /// Every issuer key ever made, by id: an uploaded tap may be days old.
    async fn all_issuer_keys(&self) -> ServiceResult<HashMap<u16, VerifyingKey>> {
        let rows = self
            .store
            .read(|conn| {
                conn.query("SELECT id, public_key FROM transit_issuer_keys", &[])?
                    .iter()
                    .map(|row| Ok((row.int(0)?, row.text(1)?.to_owned())))
                    .collect::<Result<Vec<_>, DbError>>()
            })
            .await?;
        rows.into_iter()
            .map(|(id, key)| {
                let id = u16::try_from(id)
                    .map_err(|_| ServiceError::internal("issuer key id out of range"))?;
                let key = keys::parse_public_key(&key)
                    .map_err(|_| ServiceError::internal("a stored issuer key does not parse"))?;
                Ok((id, key))
            })
            .collect()
    }

    /// Prices taps left alone long enough and collects what riders owe, as far as their
    /// balances allow. The settler runs it every `settle_every`; `now_ns` is a parameter so
    /// tests can look ahead. Answers how many journeys it priced or collected.
    pub async fn settle_transit(&self, now_ns: u64) -> ServiceResult<usize> {
        let rules = self.ride_rules();
        let settle_after = rules.settle_after;
        let wallet = self.wallet.clone();
        self.store
            .write(move |tx| {
                let conn = tx.conn()?;
                let mut riders = BTreeSet::new();
                for row in conn.query(
                    "SELECT DISTINCT operator, account_ref FROM transit_taps \
                     WHERE status = 'ok' AND journey_id IS NULL AND at <= $1 LIMIT $2",
                    &[
                        Param::Int(secs(now_ns) - settle_after),
                        Param::Int(SETTLE_RIDERS_MAX),
                    ],
                )? {
                    riders.insert(Rider {
                        operator: u16::try_from(row.int(0)?).unwrap_or(0),
                        account_ref: row.blob(1)?.to_vec(),
                    });
                }
                let mut pricer = rules.pricer(&wallet, now_ns);
                for rider in &riders {
                    pricer.price_rider(tx, rider)?;
                }
                let mut collected = 0;
                for (rider, journey) in owed_journeys(tx.conn()?, None, SETTLE_RIDERS_MAX)? {
                    if collect(tx, &wallet, &rider, &journey, now_ns)? {
                        collected += 1;
                    }
                }
                Ok(pricer.priced + collected)
            })
            .await
    }

    /// The rider pays what they owe for rides now, as far as the balance allows.
    pub async fn pay_transit_debts(&self, session: &Session) -> ServiceResult<Journeys> {
        let user_id = session.user_id.clone();
        let wallet = self.wallet.clone();
        let owed_after = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let owed = owed_journeys(tx.conn()?, Some(&user_id), i64::MAX)?;
                for (rider, journey) in &owed {
                    collect(tx, &wallet, rider, journey, now)?;
                }
                let left = tx
                    .conn()?
                    .query_opt(
                        "SELECT CAST(COALESCE(SUM(fare - charged), 0) AS BIGINT) FROM transit_journeys WHERE user_id = $1 AND charged < fare",
                        &[Param::Text(&user_id)],
                    )?
                    .map_or(Ok(0), |row| row.int(0))?;
                let wallet_account = payer::payer(tx.conn()?, &user_id)?.wallet();
                Ok::<_, ServiceError>((left, (left > 0).then(|| payer::insufficient_balance(tx, wallet_account))))
            })
            .await?;
        if let (owed, Some(error)) = owed_after {
            return Err(error.with_details(json!({ "owed": cny(owed) })));
        }
        self.journeys(session).await
    }

    /// The rider's journeys, newest first, and what they owe.
    pub async fn journeys(&self, session: &Session) -> ServiceResult<Journeys> {
        let user_id = session.user_id.clone();
        self.store
            .read(move |conn| {
                let mut pricing_of: HashMap<u16, Pricing> = HashMap::new();
                let rows = conn.query(
                    "SELECT j.id, j.operator, j.kind, j.line, j.from_station, j.to_station, j.distance_m, \
                     j.started_at, x.at, j.fare, j.charged FROM transit_journeys j \
                     LEFT JOIN transit_taps x ON x.id = j.exit_tap \
                     WHERE j.user_id = $1 AND j.kind <> 'void' ORDER BY j.started_at DESC, j.id LIMIT 200",
                    &[Param::Text(&user_id)],
                )?;
                let mut journeys = Vec::with_capacity(rows.len());
                for row in &rows {
                    let operator = u16::try_from(row.int(1)?).unwrap_or(0);
                    let pricing = match pricing_of.entry(operator) {
                        std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                        std::collections::hash_map::Entry::Vacant(entry) => {
                            entry.insert(load_pricing(conn, operator)?.ok_or_else(|| {
                                DbError::Decode(format!("a journey at unknown operator {operator}"))
                            })?)
                        }
                    };
                    let station = |id: Option<&str>| {
                        id.map(|id| StationView {
                            id: id.to_owned(),
                            name: pricing.names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
                        })
                    };
                    let (fare, charged) = (row.int(9)?, row.int(10)?);
                    journeys.push(JourneyView {
                        id: row.text(0)?.to_owned(),
                        operator,
                        operator_name: pricing.name.clone(),
                        kind: row.text(2)?.to_owned(),
                        line: row.text(3)?.to_owned(),
                        from: station(row.opt_text(4)?),
                        to: station(row.opt_text(5)?),
                        distance_m: row.opt_int(6)?.and_then(|d| u32::try_from(d).ok()),
                        started_at: rfc3339(row.int(7)? as u64 * 1_000_000_000),
                        ended_at: row.opt_int(8)?.map(|at| rfc3339(at as u64 * 1_000_000_000)),
                        fare: cny(fare),
                        charged: cny(charged),
                        owed: cny(fare - charged),
                        status: if charged >= fare { "paid" } else { "owed" }.to_owned(),
                    });
                }
                let owed = conn
                    .query_opt(
                        "SELECT CAST(COALESCE(SUM(fare - charged), 0) AS BIGINT) FROM transit_journeys WHERE user_id = $1 AND charged < fare",
                        &[Param::Text(&user_id)],
                    )?
                    .map_or(Ok(0), |row| row.int(0))?;
                Ok(Journeys { journeys, owed: cny(owed) })
            })
            .await
            .map_err(ServiceError::from)
    }

    /// Codes seen at two gates, newest first (operator).
    pub async fn transit_flags(&self, operator: u16) -> ServiceResult<Vec<FlagView>> {
        self.store
            .read(move |conn| {
                conn.query(
                    "SELECT f.id, f.operator, f.kind, f.account_ref, f.tap_id, t.gate_id, f.first_tap_id, u.gate_id, f.created_ns \
                     FROM transit_flags f JOIN transit_taps t ON t.id = f.tap_id JOIN transit_taps u ON u.id = f.first_tap_id \
                     WHERE f.operator = $1 ORDER BY f.created_ns DESC LIMIT 500",
                    &[Param::Int(i64::from(operator))],
                )?
                .iter()
                .map(|row| {
                    Ok(FlagView {
                        id: row.text(0)?.to_owned(),
                        operator: u16::try_from(row.int(1)?).unwrap_or(0),
                        kind: row.text(2)?.to_owned(),
                        account_ref: secrets::hex(row.blob(3)?),
                        tap_id: row.text(4)?.to_owned(),
                        gate_id: row.text(5)?.to_owned(),
                        first_tap_id: row.text(6)?.to_owned(),
                        first_gate_id: row.text(7)?.to_owned(),
                        created_at: rfc3339(row.int(8)? as u64),
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()
            })
            .await
            .map_err(ServiceError::from)
    }

    /// An operator's lines, stations and fare rules.
    pub async fn transit_network(&self, operator: u16) -> ServiceResult<NetworkView> {
        let journey_max_secs = self.config.journey_max.as_secs();
        self.store
            .read(move |conn| {
                let Some(pricing) = load_pricing(conn, operator)? else {
                    return Ok(None);
                };
                let op = i64::from(operator);
                let mut lines: Vec<LineView> = conn
                    .query("SELECT id, name, flat_fare FROM transit_lines WHERE operator = $1 ORDER BY id", &[Param::Int(op)])?
                    .iter()
                    .map(|row| {
                        Ok(LineView {
                            id: row.text(0)?.to_owned(),
                            name: row.text(1)?.to_owned(),
                            flat_fare: row.opt_int(2)?.map(cny),
                            stops: Vec::new(),
                        })
                    })
                    .collect::<Result<_, DbError>>()?;
                for row in conn.query(
                    "SELECT line, station, name, distance_m FROM transit_stops WHERE operator = $1 ORDER BY line, seq",
                    &[Param::Int(op)],
                )? {
                    if let Some(line) = lines.iter_mut().find(|l| l.id == row.text(0).unwrap_or_default()) {
                        line.stops.push(StopView {
                            station: row.text(1)?.to_owned(),
                            name: row.text(2)?.to_owned(),
                            distance_m: u32::try_from(row.int(3)?).unwrap_or(0),
                        });
                    }
                }
                Ok(Some(NetworkView {
                    operator,
                    name: pricing.name.clone(),
                    fare_mode: if pricing.distance { "distance" } else { "flat" }.to_owned(),
                    max_fare: cny(pricing.max_fare),
                    lines,
                    fare_bands: pricing
                        .table
                        .bands
                        .iter()
                        .map(|(up_to_m, fare)| FareBandView { up_to_m: *up_to_m, fare: cny(i64::from(*fare)) })
                        .collect(),
                    journey_max_secs,
                }))
            })
            .await?
            .ok_or_else(unknown_operator)
    }

    pub fn spawn_settler(self: &std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        let rides = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(error) = rides.settle_transit(cashless_kernel::now_ns()).await {
                    tracing::warn!(%error, "transit settlement failed");
                }
                tokio::time::sleep(rides.config.settle_every).await;
            }
        })
    }
}

/// The checks of one uploaded tap that need no database: its place, its code's form and
/// signatures, its freshness at the tap's time, and that the time is plausible.
fn check_tap(
    gate: &GateRow,
    gate_id: &str,
    tap: &Tap,
    issuer_keys: &HashMap<u16, VerifyingKey>,
    freshness: Freshness,
    now_secs: i64,
    window_secs: i64,
) -> Result<([u8; 8], u64), (&'static str, &'static str)> {
    if tap.gate_id != gate_id
        || tap.operator != gate.operator
        || tap.line != gate.line
        || tap.station != gate.station
        || tap.direction != gate.direction
    {
        return Err((
            "wrong_place",
            "the tap names another place than the gate's registration",
        ));
    }
    let at = i64::from(tap.at);
    if at > now_secs + i64::from(freshness.skew_secs) {
        return Err((
            "tap_from_the_future",
            "the tap is later than the platform's clock",
        ));
    }
    if at < now_secs - window_secs {
        return Err(("tap_too_old", "the tap is older than uploads are accepted"));
    }
    let code = RideCode::parse(&tap.code)
        .map_err(|error| (error.code(), "the tap's code is not a ride code"))?;
    if cashless_transit::gate::hex(&code.digest()) != tap.code_digest {
        return Err(("digest_mismatch", "the tap's code digest is not its code's"));
    }
    let certificate = code.certificate();
    let body = certificate.body();
    if body.operator != gate.operator {
        return Err(("wrong_operator", "the code is for another operator"));
    }
    let issuer = issuer_keys.get(&body.issuer_key_id).ok_or((
        "unknown_issuer_key",
        "the code's issuer key is not the platform's",
    ))?;
    let checked = verify_certificate(&certificate, issuer)
        .and_then(|device| verify_code(&code, &device, tap.at, freshness));
    checked.map_err(|refusal| (refusal.code(), refusal.message()))?;
    Ok((body.account_ref, body.serial))
}

enum Recorded {
    New,
    Again,
    Reused,
    Rejected(&'static str, &'static str),
}

fn record_tap(
    conn: &mut Conn,
    wallet: &Wallet,
    gate_id: &str,
    batch_id: &str,
    checked: &CheckedTap,
    now: u64,
) -> ServiceResult<Recorded> {
    let tap = &checked.tap;
    let known = conn
        .query_opt(
            "SELECT 1 FROM transit_accounts WHERE operator = $1 AND account_ref = $2",
            &[
                Param::Int(i64::from(tap.operator)),
                Param::Blob(&checked.account_ref),
            ],
        )?
        .is_some();
    if !known {
        // Only a certificate signed with a leaked issuer key could name an account the
        // platform never made.
        tracing::error!(
            operator = tap.operator,
            "an uploaded tap names an unknown transit account"
        );
        return Ok(Recorded::Rejected(
            "unknown_account",
            "the code's account is not the platform's",
        ));
    }
    let seen = conn.query(
        "SELECT id, gate_id FROM transit_taps WHERE code_digest = $1 ORDER BY created_ns, id",
        &[Param::Text(&tap.code_digest)],
    )?;
    if seen
        .iter()
        .any(|row| row.text(1).is_ok_and(|g| g == gate_id))
    {
        return Ok(Recorded::Again);
    }
    let first = seen
        .first()
        .map(|row| row.text(0).map(str::to_owned))
        .transpose()?;
    let id = wallet.new_id_string();
    conn.execute(
        "INSERT INTO transit_taps (id, gate_id, operator, line, station, direction, at, code_digest, account_ref, \
         serial, batch_id, status, journey_id, created_ns) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,NULL,$13)",
        &[
            Param::Text(&id),
            Param::Text(gate_id),
            Param::Int(i64::from(tap.operator)),
            Param::Text(&tap.line),
            Param::Text(&tap.station),
            Param::Text(direction_text(tap.direction)),
            Param::Int(i64::from(tap.at)),
            Param::Text(&tap.code_digest),
            Param::Blob(&checked.account_ref),
            Param::Text(&checked.serial.to_string()),
            Param::Text(batch_id),
            Param::Text(if first.is_some() { "reused" } else { "ok" }),
            Param::Int(now as i64),
        ],
    )?;
    let Some(first) = first else {
        return Ok(Recorded::New);
    };
    conn.execute(
        "INSERT INTO transit_flags (id, operator, account_ref, kind, tap_id, first_tap_id, created_ns) \
         VALUES ($1, $2, $3, 'code_reused', $4, $5, $6)",
        &[
            Param::Text(&wallet.new_id_string()),
            Param::Int(i64::from(tap.operator)),
            Param::Blob(&checked.account_ref),
            Param::Text(&id),
            Param::Text(&first),
            Param::Int(now as i64),
        ],
    )?;
    Ok(Recorded::Reused)
}
