//! Pricing rides: the metro's distance between stations over its lines, the fare table, and
//! the pairing of a rider's entry and exit taps into journeys.
//!
//! All of it is pure: the platform loads the network and the rider's taps from its database
//! and decides with these functions, so the rules are tested here without one.
//!
//! - **Distance.** Lines are sequences of stops, each at a distance (metres) from the line's
//!   start; a station on several lines is where riders change. The distance of a journey is
//!   the shortest one over the network (Dijkstra), the way metro fares are computed.
//! - **Fare table.** Bands "up to N metres costs F"; beyond the last band, the last fare. A
//!   metro journey that cannot be priced (its entry or its exit is missing) pays the
//!   operator's maximum fare.
//! - **Pairing.** A rider's taps, in time order: an entry and the exit right after it, within
//!   the longest journey allowed, are one journey; every other tap is a journey alone (an
//!   entry without an exit, or an exit without an entry), priced at the maximum fare. Taps in
//!   journeys already priced as pairs are fixed: they are not paired again, but they still
//!   stand between the taps around them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::gate::Direction;

/// A line's stops in order, each at its distance from the line's start (metres).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    pub id: String,
    pub stops: Vec<(String, u32)>,
}

/// The metro network: lines whose stops name stations (a station on two lines is a
/// change between them).
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// Station → its neighbours along every line, with the distance to each.
    edges: HashMap<String, Vec<(String, u32)>>,
}

impl Network {
    pub fn new(lines: &[Line]) -> Network {
        let mut edges: HashMap<String, Vec<(String, u32)>> = HashMap::new();
        for line in lines {
            for stop in &line.stops {
                edges.entry(stop.0.clone()).or_default();
            }
            for pair in line.stops.windows(2) {
                let ((a, at_a), (b, at_b)) = (&pair[0], &pair[1]);
                let length = at_a.abs_diff(*at_b);
                edges
                    .entry(a.clone())
                    .or_default()
                    .push((b.clone(), length));
                edges
                    .entry(b.clone())
                    .or_default()
                    .push((a.clone(), length));
            }
        }
        Network { edges }
    }

    pub fn has_station(&self, station: &str) -> bool {
        self.edges.contains_key(station)
    }

    /// The shortest distance between two stations over the network (metres), or `None` if
    /// either is unknown or they are not connected.
    pub fn distance(&self, from: &str, to: &str) -> Option<u32> {
        if !self.has_station(from) || !self.has_station(to) {
            return None;
        }
        let mut best: HashMap<&str, u32> = HashMap::from([(from, 0)]);
        let mut queue = BinaryHeap::from([Reverse((0u32, from))]);
        while let Some(Reverse((distance, station))) = queue.pop() {
            if station == to {
                return Some(distance);
            }
            if best.get(station).is_some_and(|&known| known < distance) {
                continue;
            }
            for (next, length) in self.edges.get(station).into_iter().flatten() {
                let through = distance.saturating_add(*length);
                if best.get(next.as_str()).is_none_or(|&known| through < known) {
                    best.insert(next, through);
                    queue.push(Reverse((through, next)));
                }
            }
        }
        None
    }
}

/// Fares by distance: `(up_to_metres, fare)` bands in increasing order, and the maximum fare
/// (what a journey without an entry or without an exit pays). Fares are CNY fen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FareTable {
    pub bands: Vec<(u32, u32)>,
    pub max_fare: u32,
}

impl FareTable {
    /// The fare for `distance` metres: the first band that reaches it, or the last band's,
    /// never more than the maximum fare.
    pub fn fare(&self, distance: u32) -> u32 {
        let fare = self
            .bands
            .iter()
            .find(|(up_to, _)| distance <= *up_to)
            .or(self.bands.last())
            .map_or(self.max_fare, |(_, fare)| *fare);
        fare.min(self.max_fare)
    }
}

/// One tap of a rider, as pairing sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiderTap {
    pub direction: Direction,
    /// The gate's clock (Unix seconds).
    pub at: u32,
    /// Part of a journey already priced as a pair: not paired again.
    pub fixed: bool,
}

/// What pairing makes of the taps (by their index in the slice given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pairing {
    Journey { entry: usize, exit: usize },
    Alone(usize),
}

/// Pairs a rider's taps, sorted by time: each entry with the exit right after it if that
/// exit came within `journey_max_secs`. Fixed taps are left out of the answer but still
/// separate their neighbours. Every other tap is in exactly one pairing.
pub fn pair(taps: &[RiderTap], journey_max_secs: u32) -> Vec<Pairing> {
    debug_assert!(taps.windows(2).all(|w| w[0].at <= w[1].at));
    let mut out = Vec::new();
    let mut i = 0;
    while i < taps.len() {
        let tap = taps[i];
        if tap.fixed {
            i += 1;
            continue;
        }
        if tap.direction == Direction::Entry
            && let Some(next) = taps.get(i + 1)
            && !next.fixed
            && next.direction == Direction::Exit
            && next.at - tap.at <= journey_max_secs
        {
            out.push(Pairing::Journey {
                entry: i,
                exit: i + 1,
            });
            i += 2;
            continue;
        }
        out.push(Pairing::Alone(i));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, stops: &[(&str, u32)]) -> Line {
        Line {
            id: id.to_owned(),
            stops: stops.iter().map(|(s, m)| ((*s).to_owned(), *m)).collect(),
        }
    }

    fn network() -> Network {
        Network::new(&[
            line("1", &[("a", 0), ("b", 2_000), ("x", 5_000), ("c", 9_000)]),
            line("2", &[("p", 0), ("x", 3_000), ("q", 4_500)]),
        ])
    }

    #[test]
    fn distance_follows_the_lines_and_changes_at_shared_stations() {
        let network = network();
        assert_eq!(network.distance("a", "a"), Some(0));
        assert_eq!(network.distance("a", "c"), Some(9_000));
        assert_eq!(network.distance("c", "a"), Some(9_000));
        assert_eq!(network.distance("b", "q"), Some(3_000 + 1_500));
        assert_eq!(network.distance("p", "c"), Some(3_000 + 4_000));
        assert_eq!(network.distance("a", "nowhere"), None);
        let island = Network::new(&[line("1", &[("a", 0), ("b", 1)]), line("9", &[("z", 0)])]);
        assert_eq!(island.distance("a", "z"), None);
    }

    #[test]
    fn a_shortcut_line_wins() {
        let network = Network::new(&[
            line("long", &[("a", 0), ("m", 10_000), ("b", 20_000)]),
            line("short", &[("a", 0), ("b", 6_000)]),
        ]);
        assert_eq!(network.distance("a", "b"), Some(6_000));
        assert_eq!(network.distance("m", "b"), Some(10_000));
    }

    #[test]
    fn fares_follow_the_bands_and_stop_at_the_maximum() {
        let table = FareTable {
            bands: vec![(4_000, 200), (8_000, 300), (12_000, 400)],
            max_fare: 350,
        };
        assert_eq!(table.fare(0), 200);
        assert_eq!(table.fare(4_000), 200);
        assert_eq!(table.fare(4_001), 300);
        assert_eq!(table.fare(11_000), 350);
        assert_eq!(table.fare(90_000), 350);
        let empty = FareTable {
            bands: vec![],
            max_fare: 500,
        };
        assert_eq!(empty.fare(1), 500);
    }

    fn tap(direction: Direction, at: u32) -> RiderTap {
        RiderTap {
            direction,
            at,
            fixed: false,
        }
    }

    #[test]
    fn entries_pair_with_the_exit_right_after_them() {
        use Direction::{Entry, Exit};
        let taps = [
            tap(Entry, 0),
            tap(Exit, 600),
            tap(Exit, 700),
            tap(Entry, 800),
            tap(Entry, 900),
            tap(Exit, 900 + 14_401),
        ];
        assert_eq!(
            pair(&taps, 14_400),
            vec![
                Pairing::Journey { entry: 0, exit: 1 },
                Pairing::Alone(2),
                Pairing::Alone(3),
                Pairing::Alone(4),
                Pairing::Alone(5),
            ]
        );
    }

    #[test]
    fn fixed_taps_stand_between_their_neighbours() {
        use Direction::{Entry, Exit};
        let mut taps = [tap(Entry, 0), tap(Entry, 10), tap(Exit, 20), tap(Exit, 30)];
        taps[1].fixed = true;
        taps[2].fixed = true;
        assert_eq!(pair(&taps, 100), vec![Pairing::Alone(0), Pairing::Alone(3)]);
    }

    proptest::proptest! {
        #[test]
        fn every_free_tap_is_in_exactly_one_pairing(
            raw in proptest::collection::vec((proptest::bool::ANY, 0u32..1_000, proptest::bool::ANY), 0..40),
            window in 0u32..500,
        ) {
            let mut taps: Vec<RiderTap> = raw
                .iter()
                .map(|(entry, at, fixed)| RiderTap {
                    direction: if *entry { Direction::Entry } else { Direction::Exit },
                    at: *at,
                    fixed: *fixed,
                })
                .collect();
            taps.sort_by_key(|t| t.at);
            let mut seen = vec![0u8; taps.len()];
            for pairing in pair(&taps, window) {
                match pairing {
                    Pairing::Journey { entry, exit } => {
                        proptest::prop_assert_eq!(exit, entry + 1);
                        proptest::prop_assert_eq!(taps[entry].direction, Direction::Entry);
                        proptest::prop_assert_eq!(taps[exit].direction, Direction::Exit);
                        proptest::prop_assert!(taps[exit].at - taps[entry].at <= window);
                        seen[entry] += 1;
                        seen[exit] += 1;
                    }
                    Pairing::Alone(i) => seen[i] += 1,
                }
            }
            for (tap, count) in taps.iter().zip(seen) {
                proptest::prop_assert_eq!(count, u8::from(!tap.fixed));
            }
        }
    }
}
