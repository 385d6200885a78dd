//! The PostgreSQL schema and its migrations, in step with SQLite's (`../sqlite/schema.rs`):
//! the same tables and the same version numbers, so `aisle store copy` moves a store between
//! them and one build knows what either holds.
//!
//! A database is marked as Aisle's by the table `aisle_meta` (`application` = `aisle`,
//! `schema_version` = N). On open, under a transaction-scoped advisory lock (replicas starting
//! together migrate once): a database whose schema holds other tables but no mark is refused
//! untouched, a newer version is refused with the version found, an older one is migrated
//! step by step, each step committed with its new version.

use tokio_postgres::Client;

use crate::error::{Result, StoreError};

/// Advisory lock key (`AISL` + 1) serialising migrations between processes.
const MIGRATION_LOCK: i64 = 0x4149_534C_0001;

/// One schema change: applying `sql` to version `version - 1` gives version `version`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub sql: &'static str,
}

/// Version 4 in one step (the versions SQLite went through one by one were never released
/// on PostgreSQL); later versions are added as separate steps.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 4,
        sql: "
    CREATE TABLE aisle_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO aisle_meta (key, value) VALUES ('application', 'aisle');
    -- `seq` orders listings and catalogue indices by first insertion; an upsert keeps it.
    CREATE TABLE items (
        seq         BIGSERIAL PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        title       TEXT NOT NULL,
        categories  TEXT NOT NULL,              -- JSON array of strings
        price       DOUBLE PRECISION,
        available   BOOLEAN NOT NULL,
        created_at  BIGINT,                     -- Unix seconds
        attributes  TEXT NOT NULL,              -- JSON object
        updated_at  BIGINT NOT NULL,
        changed     BIGINT NOT NULL DEFAULT 0   -- catalogue version of the last write
    );
    CREATE INDEX items_by_change ON items (changed);
    CREATE TABLE users (
        seq         BIGSERIAL PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        attributes  TEXT NOT NULL,
        updated_at  BIGINT NOT NULL
    );
    -- Ids come from a sequence, and appends hold an advisory lock from before the first id
    -- is drawn until commit, so ids are visible in commit order: a reader that has seen
    -- every id up to X has seen every event that will ever have such an id.
    CREATE TABLE events (
        id                 BIGSERIAL PRIMARY KEY,
        user_id            TEXT NOT NULL,
        item_id            TEXT NOT NULL,
        type               TEXT NOT NULL,
        value              DOUBLE PRECISION,
        timestamp          BIGINT,
        recommendation_id  TEXT,
        position           BIGINT,
        quantity           DOUBLE PRECISION,
        price              DOUBLE PRECISION,
        basket             TEXT
    );
    -- In the order a user's recent history is read: newest first, undated events last.
    CREATE INDEX events_by_user ON events (user_id, timestamp DESC NULLS LAST, id DESC);
    CREATE TABLE models (
        version         BIGSERIAL PRIMARY KEY,
        name            TEXT NOT NULL,
        params          TEXT NOT NULL,
        trained_at      BIGINT NOT NULL,
        metrics         TEXT NOT NULL,
        format_version  BIGINT NOT NULL,
        size            BIGINT NOT NULL,
        saved_at        BIGINT NOT NULL,
        bytes           BYTEA NOT NULL,
        last_event_id   BIGINT
    );
    CREATE INDEX models_by_name ON models (name, version);
    CREATE TABLE experiments (
        name         TEXT PRIMARY KEY,
        definition   TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        stopped_at   BIGINT,
        first_event  BIGINT NOT NULL
    );
    CREATE TABLE impressions (
        recommendation_id  TEXT PRIMARY KEY,
        user_id            TEXT,
        model              TEXT NOT NULL,
        model_version      BIGINT NOT NULL,
        experiment         TEXT,
        variant            TEXT,
        items              TEXT NOT NULL,
        served_at          BIGINT NOT NULL
    );
    CREATE INDEX impressions_by_experiment ON impressions (experiment, served_at);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
    INSERT INTO counters (name, value) VALUES ('catalogue', 0);
    CREATE TABLE deleted_items (id TEXT PRIMARY KEY, changed BIGINT NOT NULL);
    CREATE INDEX deleted_items_by_change ON deleted_items (changed);
    CREATE TABLE deleted_users (id TEXT PRIMARY KEY, last_event BIGINT NOT NULL);
    CREATE TABLE tunings (
        id             BIGSERIAL PRIMARY KEY,
        model          TEXT NOT NULL,
        weighting      TEXT NOT NULL,
        params         TEXT NOT NULL,
        metric         TEXT NOT NULL,
        score          DOUBLE PRECISION NOT NULL,
        default_score  DOUBLE PRECISION NOT NULL,
        trials         BIGINT NOT NULL,
        seconds        DOUBLE PRECISION NOT NULL,
        report         TEXT NOT NULL,
        created_at     BIGINT NOT NULL
    );
    CREATE INDEX tunings_by_model ON tunings (model, id);
",
    },
    Migration {
        version: 5,
        sql: "
    CREATE TABLE placements (
        name        TEXT PRIMARY KEY,
        definition  TEXT NOT NULL,
        updated_at  BIGINT NOT NULL
    );
    CREATE INDEX impressions_by_user ON impressions (user_id, served_at);
",
    },
    Migration {
        version: 6,
        sql: "
    CREATE INDEX impressions_by_time ON impressions (served_at);
",
    },
];

/// The index a user's history is read through; dropped while an empty store is bulk-loaded
/// and built again after (see `PostgresStore::bulk_load`). Every open makes sure it exists,
/// so an import that died between the two leaves no store without it.
pub(crate) const EVENTS_BY_USER: &str = "CREATE INDEX IF NOT EXISTS events_by_user
    ON events (user_id, timestamp DESC NULLS LAST, id DESC)";

/// Refuses foreign and newer databases and migrates an older one. Returns the version found
/// before migrating (0 for a new store).
pub(crate) async fn prepare(client: &mut Client, location: &str) -> Result<i64> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let marked: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                            WHERE table_schema = current_schema() AND table_name = 'aisle_meta')",
            &[],
        )
        .await?
        .get(0);
    let found = if marked {
        let rows = tx
            .query(
                "SELECT key, value FROM aisle_meta WHERE key IN ('application', 'schema_version')",
                &[],
            )
            .await?;
        let value = |key: &str| {
            rows.iter()
                .find(|r| r.get::<_, &str>(0) == key)
                .map(|r| r.get::<_, String>(1))
        };
        if value("application").as_deref() != Some("aisle") {
            return Err(StoreError::NotAStore {
                location: location.to_string(),
                reason: "its aisle_meta table does not mark it as Aisle's".into(),
            });
        }
        value("schema_version")
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{location}: aisle_meta has no schema_version"))
            })?
    } else {
        let tables: i64 = tx
            .query_one(
                "SELECT count(*) FROM information_schema.tables
                 WHERE table_schema = current_schema()",
                &[],
            )
            .await?
            .get(0);
        if tables > 0 {
            return Err(StoreError::NotAStore {
                location: location.to_string(),
                reason: format!(
                    "a database of another program: its schema has {tables} tables and no \
                     Aisle mark (use an empty database, or another schema)"
                ),
            });
        }
        0
    };
    if found > latest {
        return Err(StoreError::NewerSchema {
            location: location.to_string(),
            found,
            supported: latest,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO aisle_meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&migration.version.to_string()],
        )
        .await?;
    }
    tx.batch_execute(EVENTS_BY_USER).await?;
    tx.commit().await?;
    Ok(found)
}
