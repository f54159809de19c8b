-- How each operator prices rides: 'distance' (the metro: a fare table over the distance
-- between entry and exit) or 'flat' (the bus: each line's fare per boarding). The maximum
-- fare is what a metro tap without its pair pays. Fares are CNY fen.
ALTER TABLE transit_operators ADD COLUMN fare_mode TEXT NOT NULL DEFAULT 'flat';
ALTER TABLE transit_operators ADD COLUMN max_fare INTEGER NOT NULL DEFAULT 0;
UPDATE transit_operators SET fare_mode = 'distance', max_fare = 800 WHERE id = 1;
UPDATE transit_operators SET fare_mode = 'flat', max_fare = 500 WHERE id = 2;

-- Lines; a bus line has a flat fare.
CREATE TABLE transit_lines (
    operator  INTEGER NOT NULL,
    id        TEXT   NOT NULL,
    name      TEXT   NOT NULL,
    flat_fare INTEGER,
    PRIMARY KEY (operator, id)
);

-- A metro line's stops in order, at their distance from the line's start (metres).
CREATE TABLE transit_stops (
    operator   INTEGER NOT NULL,
    line       TEXT   NOT NULL,
    seq        INTEGER NOT NULL,
    station    TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    distance_m INTEGER NOT NULL,
    PRIMARY KEY (operator, line, seq)
);

-- The metro's fare table: a journey of up to `up_to_m` metres costs `fare`.
CREATE TABLE transit_fare_bands (
    operator INTEGER NOT NULL,
    up_to_m  INTEGER NOT NULL,
    fare     INTEGER NOT NULL,
    PRIMARY KEY (operator, up_to_m)
);

-- A demonstration network after Hangzhou's (distances rounded): Metro lines 1 and 2 meeting
-- at Fengqi Road, the metro's fare rule (2 CNY for 4 km, then 1 CNY per 4 km to 12 km, per
-- 6 km to 24 km, per 8 km beyond), and two bus lines.
INSERT INTO transit_lines (operator, id, name, flat_fare) VALUES
    (1, '1', 'Line 1', NULL),
    (1, '2', 'Line 2', NULL),
    (2, '7', 'Bus 7', 200),
    (2, 'Y2', 'Tourist bus Y2', 500);
INSERT INTO transit_stops (operator, line, seq, station, name, distance_m) VALUES
    (1, '1', 1, 'xianghu', 'Xianghu', 0),
    (1, '1', 2, 'binkang-road', 'Binkang Road', 1900),
    (1, '1', 3, 'xixing', 'Xixing', 3300),
    (1, '1', 4, 'binhe-road', 'Binhe Road', 4600),
    (1, '1', 5, 'jiangling-road', 'Jiangling Road', 6000),
    (1, '1', 6, 'jinjiang', 'Jinjiang', 8900),
    (1, '1', 7, 'wujiang-road', 'Wujiang Road', 10100),
    (1, '1', 8, 'city-station', 'City Station', 11900),
    (1, '1', 9, 'dingan-road', 'Ding''an Road', 13200),
    (1, '1', 10, 'longxiangqiao', 'Longxiangqiao', 14000),
    (1, '1', 11, 'fengqi-road', 'Fengqi Road', 14900),
    (1, '1', 12, 'wulin-square', 'Wulin Square', 15800),
    (1, '1', 13, 'west-lake-cultural-square', 'West Lake Cultural Square', 16900),
    (1, '2', 1, 'qianjiang-road', 'Qianjiang Road', 0),
    (1, '2', 2, 'jianguo-north-road', 'Jianguo North Road', 2300),
    (1, '2', 3, 'fengqi-road', 'Fengqi Road', 3500),
    (1, '2', 4, 'zhongshan-north-road', 'Zhongshan North Road', 4600),
    (1, '2', 5, 'wulinmen', 'Wulinmen', 5800),
    (1, '2', 6, 'shenhua-road', 'Shenhua Road', 9400);
INSERT INTO transit_fare_bands (operator, up_to_m, fare) VALUES
    (1, 4000, 200), (1, 8000, 300), (1, 12000, 400), (1, 18000, 500), (1, 24000, 600),
    (1, 32000, 700), (1, 40000, 800);

-- The gates: where each stands and the Ed25519 key it signs its tap uploads with.
CREATE TABLE transit_gates (
    id         TEXT   NOT NULL PRIMARY KEY,
    operator   INTEGER NOT NULL,
    line       TEXT   NOT NULL,
    station    TEXT   NOT NULL,
    direction  TEXT   NOT NULL,
    public_key TEXT   NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);

-- Every upload a gate made: a second upload of the same batch answers the first's result.
CREATE TABLE transit_batches (
    gate_id     TEXT   NOT NULL,
    batch_id    TEXT   NOT NULL,
    body_sha256 TEXT   NOT NULL,
    result      TEXT   NOT NULL,
    created_ns  INTEGER NOT NULL,
    PRIMARY KEY (gate_id, batch_id)
);

-- The taps gates opened for. One code opens one gate once: (gate, code) is unique, and a
-- code seen at a second gate is kept as 'reused' (flagged, never priced).
CREATE TABLE transit_taps (
    id          TEXT   NOT NULL PRIMARY KEY,
    gate_id     TEXT   NOT NULL,
    operator    INTEGER NOT NULL,
    line        TEXT   NOT NULL,
    station     TEXT   NOT NULL,
    direction   TEXT   NOT NULL,
    at          INTEGER NOT NULL,
    code_digest TEXT   NOT NULL,
    account_ref BLOB   NOT NULL,
    serial      TEXT   NOT NULL,
    batch_id    TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    journey_id  TEXT,
    created_ns  INTEGER NOT NULL
);
CREATE UNIQUE INDEX transit_taps_once_per_gate ON transit_taps (gate_id, code_digest);
CREATE INDEX transit_taps_by_code ON transit_taps (code_digest);
CREATE INDEX transit_taps_by_rider ON transit_taps (operator, account_ref, at);
CREATE INDEX transit_taps_unpriced ON transit_taps (status, journey_id, at);

-- Priced journeys. `fare` is what the ride costs, `charged` what has been debited (less what
-- was given back); the rider owes fare - charged. A journey priced without its pair may be
-- repriced when the missing tap arrives late.
CREATE TABLE transit_journeys (
    id          TEXT   NOT NULL PRIMARY KEY,
    operator    INTEGER NOT NULL,
    account_ref BLOB   NOT NULL,
    user_id     TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    line        TEXT   NOT NULL,
    entry_tap   TEXT,
    exit_tap    TEXT,
    from_station TEXT,
    to_station  TEXT,
    distance_m  INTEGER,
    started_at  INTEGER NOT NULL,
    fare        INTEGER NOT NULL,
    charged     INTEGER NOT NULL,
    created_ns  INTEGER NOT NULL,
    updated_ns  INTEGER NOT NULL
);
CREATE INDEX transit_journeys_by_user ON transit_journeys (user_id, started_at);
CREATE INDEX transit_journeys_owed ON transit_journeys (operator, account_ref, charged, fare);

-- What the platform noticed for an operator to look at: a code seen at two gates.
CREATE TABLE transit_flags (
    id          TEXT   NOT NULL PRIMARY KEY,
    operator    INTEGER NOT NULL,
    account_ref BLOB   NOT NULL,
    kind        TEXT   NOT NULL,
    tap_id      TEXT   NOT NULL,
    first_tap_id TEXT  NOT NULL,
    created_ns  INTEGER NOT NULL
);
CREATE INDEX transit_flags_by_operator ON transit_flags (operator, created_ns);
