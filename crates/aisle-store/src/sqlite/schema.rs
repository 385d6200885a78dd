//! The SQLite schema and its migrations.
//!
//! A store file is marked with `PRAGMA application_id` = [`APPLICATION_ID`] and records its
//! schema version in `PRAGMA user_version` (both live in the file header, so they are read
//! without touching any table and written in the same transaction as the migration that
//! changes them). On open: a file of another program is refused untouched, a newer schema is
//! refused with the version found, an older one is migrated step by step, each step and its
//! new version committed together.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::error::{Result, StoreError};

/// `AISL` in ASCII: the mark of an Aisle store in the SQLite header.
pub const APPLICATION_ID: i64 = 0x4149_534C;

/// One schema change: applying `sql` to version `version - 1` gives version `version`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order; the last one's version is the schema this build writes.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "items, users, events and models",
        sql: "
        -- `seq` orders listings and catalogue indices by first insertion, so the index space
        -- of a new snapshot extends the previous one; an upsert keeps the row and its seq.
        CREATE TABLE items (
            seq         INTEGER PRIMARY KEY,
            id          TEXT NOT NULL UNIQUE,
            title       TEXT NOT NULL,
            categories  TEXT NOT NULL,   -- JSON array of strings
            price       REAL,
            available   INTEGER NOT NULL,
            created_at  INTEGER,         -- Unix seconds
            attributes  TEXT NOT NULL,   -- JSON object
            updated_at  INTEGER NOT NULL
        );
        CREATE TABLE users (
            seq         INTEGER PRIMARY KEY,
            id          TEXT NOT NULL UNIQUE,
            attributes  TEXT NOT NULL,   -- JSON object
            updated_at  INTEGER NOT NULL
        );
        -- AUTOINCREMENT: ids are never reused after a deletion, so a reader that has seen
        -- every id up to X has seen every event that will ever have such an id.
        CREATE TABLE events (
            id                 INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id            TEXT NOT NULL,
            item_id            TEXT NOT NULL,
            type               TEXT NOT NULL,
            value              REAL,
            timestamp          INTEGER,  -- Unix seconds
            recommendation_id  TEXT,
            position           INTEGER
        );
        CREATE INDEX events_by_user ON events (user_id, timestamp);
        CREATE TABLE models (
            version         INTEGER PRIMARY KEY AUTOINCREMENT,
            name            TEXT NOT NULL,
            params          TEXT NOT NULL,   -- JSON
            trained_at      INTEGER NOT NULL,
            metrics         TEXT NOT NULL,   -- JSON
            format_version  INTEGER NOT NULL,
            size            INTEGER NOT NULL,
            saved_at        INTEGER NOT NULL,
            bytes           BLOB NOT NULL
        );
        CREATE INDEX models_by_name ON models (name, version);
    ",
    },
    Migration {
        version: 2,
        description: "experiments and served lists (impressions)",
        sql: "
        CREATE TABLE experiments (
            name         TEXT PRIMARY KEY,
            definition   TEXT NOT NULL,      -- JSON: variants, control, attribution window
            created_at   INTEGER NOT NULL,   -- Unix seconds
            stopped_at   INTEGER,
            first_event  INTEGER NOT NULL    -- events with a larger id may count toward it
        );
        -- One row per list served; `items` holds the ids in list order, so an item's position
        -- is its index.
        CREATE TABLE impressions (
            recommendation_id  TEXT PRIMARY KEY,
            user_id            TEXT,
            model              TEXT NOT NULL,
            model_version      INTEGER NOT NULL,
            experiment         TEXT,
            variant            TEXT,
            items              TEXT NOT NULL,   -- JSON array of item ids
            served_at          INTEGER NOT NULL
        );
        CREATE INDEX impressions_by_experiment ON impressions (experiment, served_at);
    ",
    },
    Migration {
        version: 3,
        description: "a model version's last event as a column; the catalogue change feed; \
                      deleted users; quantity, price and basket of events",
        sql: "
        ALTER TABLE models ADD COLUMN last_event_id INTEGER;
        UPDATE models SET last_event_id = json_extract(metrics, '$.last_event_id'),
                          metrics = json_remove(metrics, '$.last_event_id');
        -- The catalogue's version grows with every write to it; an item row carries the
        -- version that last wrote it and a deleted item leaves a tombstone, so a follower
        -- asks for everything changed after the version it has seen.
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO counters (name, value) VALUES ('catalogue', 0);
        ALTER TABLE items ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX items_by_change ON items (changed);
        CREATE TABLE deleted_items (id TEXT PRIMARY KEY, changed INTEGER NOT NULL);
        CREATE INDEX deleted_items_by_change ON deleted_items (changed);
        -- A deleted user stays deleted (their lists and history are not found) until they
        -- are stored again or an event after `last_event` arrives for them.
        CREATE TABLE deleted_users (id TEXT PRIMARY KEY, last_event INTEGER NOT NULL);
        -- Order lines: units, unit price and the basket (order, invoice) of an event.
        ALTER TABLE events ADD COLUMN quantity REAL;
        ALTER TABLE events ADD COLUMN price REAL;
        ALTER TABLE events ADD COLUMN basket TEXT;
    ",
    },
    Migration {
        version: 4,
        description: "hyper-parameter search outcomes",
        sql: "
        CREATE TABLE tunings (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            model          TEXT NOT NULL,
            weighting      TEXT NOT NULL,
            params         TEXT NOT NULL,   -- JSON object
            metric         TEXT NOT NULL,
            score          REAL NOT NULL,
            default_score  REAL NOT NULL,
            trials         INTEGER NOT NULL,
            seconds        REAL NOT NULL,
            report         TEXT NOT NULL,   -- JSON: every trial
            created_at     INTEGER NOT NULL
        );
        CREATE INDEX tunings_by_model ON tunings (model, id);
    ",
    },
    Migration {
        version: 5,
        description: "placements, and served lists by user (rotation rules)",
        sql: "
        CREATE TABLE placements (
            name        TEXT PRIMARY KEY,
            definition  TEXT NOT NULL,      -- JSON: source, model, n, rules, fallback
            updated_at  INTEGER NOT NULL
        );
        CREATE INDEX impressions_by_user ON impressions (user_id, served_at);
    ",
    },
    Migration {
        version: 6,
        description: "served lists by time (rotation's memory, retention)",
        sql: "
        CREATE INDEX impressions_by_time ON impressions (served_at);
    ",
    },
    Migration {
        version: 7,
        description: "a user's history read from its index alone",
        // Every list reads its user's recent events. Through (user_id, timestamp) each row
        // was a lookup in the table, on a page of its own (events are stored in arrival
        // order, a user's scattered over the file): most of a list's SQLite time. This index
        // holds what a list reads, in the order it reads it (`id` after `timestamp` breaks
        // ties as the query does), and replaces the old one for every other use of it.
        sql: "
        DROP INDEX events_by_user;
        CREATE INDEX events_history ON events (user_id, timestamp, id, item_id, type, value, quantity);
    ",
    },
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// What the header and catalogue of an opened file say.
#[derive(Debug, Clone, Copy)]
struct FileState {
    application_id: i64,
    version: i64,
    schema_objects: i64,
}

/// Refuses foreign and newer files, switches the file to WAL and migrates it to the last of
/// `migrations`. Returns the version found before migrating (0 for a new store).
pub(crate) fn prepare(conn: &mut Connection, path: &Path, migrations: &[Migration]) -> Result<i64> {
    let latest = migrations.last().map_or(0, |m| m.version);
    let found = read_state(conn, path)?;
    check(found, path, latest)?;
    // WAL is a property of the file; switching needs no transaction open. Done only after
    // the file is known to be ours, so a foreign database is never modified.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "{}: cannot switch to write-ahead logging (journal mode stays '{mode}')",
            path.display()
        )));
    }
    if found.version == latest {
        return Ok(found.version);
    }
    // Another process may be opening the same new file: the write lock serialises us, and
    // the state is read again under it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let state = read_state(&tx, path)?;
    check(state, path, latest)?;
    for migration in migrations.iter().filter(|m| m.version > state.version) {
        tx.execute_batch(migration.sql)?;
        tx.pragma_update(None, "user_version", migration.version)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(found.version)
}

fn read_state(conn: &Connection, path: &Path) -> Result<FileState> {
    let read = || -> rusqlite::Result<FileState> {
        Ok(FileState {
            application_id: conn.query_row("PRAGMA application_id", [], |r| r.get(0))?,
            version: conn.query_row("PRAGMA user_version", [], |r| r.get(0))?,
            schema_objects: conn
                .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?,
        })
    };
    read().map_err(|error| match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            location: path.display().to_string(),
            reason: "the file is not a SQLite database".into(),
        },
        _ => StoreError::Open {
            location: path.display().to_string(),
            source: Box::new(error),
        },
    })
}

fn check(state: FileState, path: &Path, latest: i64) -> Result<()> {
    let foreign = |reason: String| {
        Err(StoreError::NotAStore {
            location: path.display().to_string(),
            reason,
        })
    };
    match state.application_id {
        APPLICATION_ID if state.version > latest => Err(StoreError::NewerSchema {
            location: path.display().to_string(),
            found: state.version,
            supported: latest,
        }),
        APPLICATION_ID if state.version < 1 => Err(StoreError::Corrupt(format!(
            "{}: marked as an Aisle store but its schema version is {}",
            path.display(),
            state.version
        ))),
        APPLICATION_ID => Ok(()),
        0 if state.schema_objects == 0 && state.version == 0 => Ok(()),
        0 => foreign(format!(
            "a SQLite database of another program: it has {} tables or indexes and no Aisle mark",
            state.schema_objects
        )),
        other => foreign(format!(
            "a SQLite database of another program (application id {other:#x})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &Path) -> Connection {
        Connection::open(path).unwrap()
    }

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    const EXTRA: Migration = Migration {
        version: 2,
        description: "test-only second step",
        sql: "CREATE TABLE extra (x INTEGER); ALTER TABLE items ADD COLUMN note TEXT;",
    };

    #[test]
    fn migrations_apply_step_by_step_and_record_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut conn = open(&path);
        assert_eq!(prepare(&mut conn, &path, &MIGRATIONS[..1]).unwrap(), 0);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
        assert!(!tables(&conn).contains(&"extra".to_string()));
        conn.execute(
            "INSERT INTO items (id, title, categories, available, attributes, updated_at) \
             VALUES ('i', '', '[]', 1, '{}', 0)",
            [],
        )
        .unwrap();
        drop(conn);

        let mut conn = open(&path);
        let two = [MIGRATIONS[0], EXTRA];
        assert_eq!(prepare(&mut conn, &path, &two).unwrap(), 1);
        assert!(tables(&conn).contains(&"extra".to_string()));
        let (version, rows): (i64, i64) = (
            conn.query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap(),
            conn.query_row("SELECT count(*) FROM items WHERE note IS NULL", [], |r| {
                r.get(0)
            })
            .unwrap(),
        );
        assert_eq!((version, rows), (2, 1), "data survives the migration");
        // Opening again with the same list changes nothing.
        assert_eq!(prepare(&mut conn, &path, &two).unwrap(), 2);
        // An older build refuses the newer file.
        match prepare(&mut conn, &path, &MIGRATIONS[..1]) {
            Err(StoreError::NewerSchema {
                found, supported, ..
            }) => assert_eq!((found, supported), (2, 1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failing_migration_leaves_the_old_version_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut conn = open(&path);
        prepare(&mut conn, &path, &MIGRATIONS[..1]).unwrap();
        let broken = Migration {
            version: 2,
            description: "fails half-way",
            sql: "CREATE TABLE half (x INTEGER); THIS IS NOT SQL;",
        };
        assert!(prepare(&mut conn, &path, &[MIGRATIONS[0], broken]).is_err());
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
        assert!(!tables(&conn).contains(&"half".to_string()));
    }

    #[test]
    fn foreign_databases_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        let mut conn = open(&path);
        conn.execute_batch("CREATE TABLE orders (id INTEGER)")
            .unwrap();
        let err = prepare(&mut conn, &path, MIGRATIONS).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "the foreign file was not switched to WAL");

        let path = dir.path().join("marked.db");
        let mut conn = open(&path);
        conn.pragma_update(None, "application_id", 7).unwrap();
        let err = prepare(&mut conn, &path, MIGRATIONS).unwrap_err();
        assert!(err.to_string().contains("0x7"), "{err}");
    }
}
