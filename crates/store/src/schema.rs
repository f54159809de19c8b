//! Schema migrations, one SQL file per backend per version, applied in order at start-up.

use crate::StoreError;
use crate::db::{Backend, Conn, DbError, Param};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "ledger",
        sqlite: include_str!("../migrations/sqlite/0001_ledger.sql"),
        postgres: include_str!("../migrations/postgres/0001_ledger.sql"),
    },
    Migration {
        version: 2,
        name: "consumers",
        sqlite: include_str!("../migrations/sqlite/0002_consumers.sql"),
        postgres: include_str!("../migrations/postgres/0002_consumers.sql"),
    },
    Migration {
        version: 3,
        name: "merchants",
        sqlite: include_str!("../migrations/sqlite/0003_merchants.sql"),
        postgres: include_str!("../migrations/postgres/0003_merchants.sql"),
    },
    Migration {
        version: 4,
        name: "confirmations",
        sqlite: include_str!("../migrations/sqlite/0004_confirmations.sql"),
        postgres: include_str!("../migrations/postgres/0004_confirmations.sql"),
    },
    Migration {
        version: 5,
        name: "merchant reports",
        sqlite: include_str!("../migrations/sqlite/0005_merchant_reports.sql"),
        postgres: include_str!("../migrations/postgres/0005_merchant_reports.sql"),
    },
    Migration {
        version: 6,
        name: "staff",
        sqlite: include_str!("../migrations/sqlite/0006_staff.sql"),
        postgres: include_str!("../migrations/postgres/0006_staff.sql"),
    },
    Migration {
        version: 7,
        name: "transit",
        sqlite: include_str!("../migrations/sqlite/0007_transit.sql"),
        postgres: include_str!("../migrations/postgres/0007_transit.sql"),
    },
    Migration {
        version: 8,
        name: "transit_fares",
        sqlite: include_str!("../migrations/sqlite/0008_transit_fares.sql"),
        postgres: include_str!("../migrations/postgres/0008_transit_fares.sql"),
    },
    Migration {
        version: 9,
        name: "payment_pages",
        sqlite: include_str!("../migrations/sqlite/0009_payment_pages.sql"),
        postgres: include_str!("../migrations/postgres/0009_payment_pages.sql"),
    },
    Migration {
        version: 10,
        name: "nonce_log",
        sqlite: include_str!("../migrations/sqlite/0010_nonce_log.sql"),
        postgres: include_str!("../migrations/postgres/0010_nonce_log.sql"),
    },
    Migration {
        version: 11,
        name: "idempotency_recent",
        sqlite: include_str!("../migrations/sqlite/0011_idempotency_recent.sql"),
        postgres: include_str!("../migrations/postgres/0011_idempotency_recent.sql"),
    },
    Migration {
        version: 12,
        name: "activity_folds",
        sqlite: include_str!("../migrations/sqlite/0012_activity_folds.sql"),
        postgres: include_str!("../migrations/postgres/0012_activity_folds.sql"),
    },
    Migration {
        version: 13,
        name: "event_folds",
        sqlite: include_str!("../migrations/sqlite/0013_event_folds.sql"),
        postgres: include_str!("../migrations/postgres/0013_event_folds.sql"),
    },
    Migration {
        version: 14,
        name: "order_folds",
        sqlite: include_str!("../migrations/sqlite/0014_order_folds.sql"),
        postgres: include_str!("../migrations/postgres/0014_order_folds.sql"),
    },
    Migration {
        version: 15,
        name: "key_grants",
        sqlite: include_str!("../migrations/sqlite/0015_key_grants.sql"),
        postgres: include_str!("../migrations/postgres/0015_key_grants.sql"),
    },
    Migration {
        version: 16,
        name: "order_amount_max",
        sqlite: include_str!("../migrations/sqlite/0016_order_amount_max.sql"),
        postgres: include_str!("../migrations/postgres/0016_order_amount_max.sql"),
    },
];

/// An arbitrary constant: the PostgreSQL advisory lock that serializes concurrent migrators.
const MIGRATION_LOCK_KEY: i64 = 0x6361_7368_6c65_7373; // "cashless"

/// Brings the schema up to date. Refuses a database migrated by a newer binary.
pub fn migrate(conn: &mut Conn, now_ns: u64) -> Result<(), StoreError> {
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    BIGINT NOT NULL PRIMARY KEY,
            name       TEXT   NOT NULL,
            applied_ns BIGINT NOT NULL
        )",
    )?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    for migration in MIGRATIONS {
        let begin = match conn.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE".to_owned(),
            Backend::Postgres => {
                format!("BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            }
        };
        conn.batch_execute(&begin)?;
        let applied = apply(conn, migration, now_ns);
        match applied {
            Ok(()) => conn.batch_execute("COMMIT")?,
            Err(error) => {
                let _ = conn.batch_execute("ROLLBACK");
                return Err(error.into());
            }
        }
    }
    let newest = conn
        .query_opt("SELECT MAX(version) FROM schema_migrations", &[])?
        .and_then(|row| row.opt_int(0).ok().flatten())
        .unwrap_or(0);
    if newest > known {
        return Err(StoreError::SchemaTooNew {
            found: newest,
            known,
        });
    }
    Ok(())
}

fn apply(conn: &mut Conn, migration: &Migration, now_ns: u64) -> Result<(), DbError> {
    let done = conn
        .query_opt(
            "SELECT 1 FROM schema_migrations WHERE version = $1",
            &[Param::Int(migration.version)],
        )?
        .is_some();
    if done {
        return Ok(());
    }
    let sql = match conn.backend() {
        Backend::Sqlite => migration.sqlite,
        Backend::Postgres => migration.postgres,
    };
    conn.batch_execute(sql)?;
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_ns) VALUES ($1, $2, $3)",
        &[
            Param::Int(migration.version),
            Param::Text(migration.name),
            Param::Int(now_ns as i64),
        ],
    )?;
    tracing::info!(
        version = migration.version,
        name = migration.name,
        "applied migration"
    );
    Ok(())
}
