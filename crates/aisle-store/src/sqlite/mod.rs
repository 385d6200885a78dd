//! The embedded default backend: one SQLite file in write-ahead-log mode.
//!
//! # Connections
//! All writes go through one connection behind a mutex. SQLite admits one writer at a time
//! anyway; serialising our own writers in-process means they queue on the mutex instead of
//! spinning on `SQLITE_BUSY`, and the busy timeout only matters against other processes
//! (an `aisle import` next to a running `aisle serve`). Reads use a small pool of separate
//! connections: in WAL mode readers never block the writer nor each other, and each read
//! sees a consistent snapshot. The pool opens a new connection whenever all are busy (it
//! never blocks, so a scan whose visitor calls the store again cannot deadlock) and keeps at
//! most [`SqliteOptions::max_idle_readers`] idle ones (16: enough for a server's concurrent
//! list requests, so connections are not opened and dropped under load, each with a cold
//! cache).
//!
//! Every connection maps the file into memory ([`SqliteOptions::mmap_mib`]): reads take
//! pages from the operating system's page cache without a `pread` call and without a copy in
//! each connection's own cache. A user's history read touches one table page per event, so
//! under load this was a tenth of the server's time in system calls.
//!
//! # Durability
//! In WAL mode a commit appends the transaction to the `-wal` file with `write(2)` before
//! returning. With [`Durability::Process`] (`synchronous = NORMAL`, the default) that is all:
//! the data is in the operating system's page cache, so it survives the process being
//! killed (SIGKILL, OOM killer, panic), but an operating-system crash or power loss may lose
//! the last transactions before a checkpoint (never corrupting the file). With
//! [`Durability::PowerLoss`] (`synchronous = FULL`) every commit also waits for `fsync` of
//! the WAL, which survives power loss at the price of one disk flush per commit.

mod checkpoint;
mod schema;
mod trim;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aisle_data::{Item, User};
use rusqlite::config::DbConfig;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Row, TransactionBehavior, params};
use serde_json::{Map, Value};

pub use schema::{APPLICATION_ID, MIGRATIONS, Migration, latest_version};

use crate::error::{Result, StoreError};
use crate::record::{
    CatalogueChanges, Counts, Cursor, DayCount, DeletedUser, EventId, ExperimentRecord, Impression,
    ModelInfo, ModelMeta, ModelVersion, NewEvent, NewTuning, Page, PlacementRecord, ScanSummary,
    StoredEvent, StoredModel, TuningRecord, check_event, check_id, check_item, check_limit,
    check_model_meta, check_tuning, check_user,
};
use crate::sql::{
    EVENT_COLUMNS, IMPRESSION_COLUMNS, ITEM_COLUMNS, MODEL_INFO_COLUMNS, TUNING_COLUMNS, from_json,
    now, sql_limit, to_json, whole_model,
};
use crate::store::Store;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::backend(error)
    }
}

/// What an acknowledged write survives; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = NORMAL`: survives the process being killed; an OS crash or power loss
    /// may lose the last commits.
    #[default]
    Process,
    /// `synchronous = FULL`: every commit is flushed to disk; survives power loss.
    PowerLoss,
}

/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// How long a write waits for another process holding the write lock before failing.
    pub busy_timeout: Duration,
    /// Idle read connections kept open for reuse.
    pub max_idle_readers: usize,
    /// Page cache per reading connection, in MiB.
    pub cache_mib: u32,
    /// The writing connection's page cache, in MiB. Smaller than a reader's on purpose: at
    /// every commit SQLite walks the writer's cache (`pcache1TruncateUnsafe`, a tenth of the
    /// writer's CPU at 64 MiB under event load), and the index pages an append needs are in
    /// the mapped file anyway. Event batches of 100 (`bench/serve`, 5M events stored):
    /// 4 MiB 49,400/s, 16 MiB 51,000–55,500/s, 64 MiB 49,600/s, 256 MiB 47,500/s.
    pub writer_cache_mib: u32,
    /// How much of the file each connection maps into memory, in MiB (SQLite caps it at its
    /// compile-time maximum, 2 GiB); 0 reads with `pread` only.
    pub mmap_mib: u64,
    /// Pages the write-ahead log grows to before the writer itself copies it into the file
    /// (a backstop: the background checkpointer, `checkpoint.rs`, copies it twice a second). Live
    /// events land at random places of the events index, so a commit rewrites a page per
    /// event; between checkpoints the same page is copied back once, however often it
    /// changed. SQLite's default (1,000 pages, 4 MiB) checkpointed every few commits.
    pub wal_autocheckpoint_pages: u32,
    /// Checkpoint on a thread of its own (see `checkpoint.rs`; on by default).
    pub background_checkpoint: bool,
    /// The size, in MiB, the write-ahead log's file is cut back to when the log starts over.
    /// A long read (a training snapshot, a backup) keeps the log from starting over while
    /// it runs, so the log grows past anything the checkpoints hold it at (280 MB in a
    /// 10-minute soak, 700 MB in a longer one), and without a limit SQLite keeps the file at
    /// its largest size for good. Above what the log reaches between restarts under full
    /// event load: a 64-MiB limit cut event throughput by a fifth (docs/store.md).
    pub wal_size_limit_mib: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Process,
            busy_timeout: Duration::from_secs(5),
            max_idle_readers: 16,
            cache_mib: 64,
            writer_cache_mib: 16,
            mmap_mib: 2048,
            wal_autocheckpoint_pages: 32_768,
            background_checkpoint: true,
            wal_size_limit_mib: 256,
        }
    }
}

/// A store in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    options: SqliteOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    migrated_from: i64,
    /// Copies the write-ahead log into the file in the background (stopped when dropped).
    _checkpointer: Option<checkpoint::Checkpointer>,
}

impl SqliteStore {
    /// Opens the store at `path` with default options, creating it if the file does not
    /// exist (or is empty) and migrating an older schema.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens the store at `path`.
    ///
    /// # Errors
    /// [`StoreError::NotAStore`] for a file that is not an Aisle store (it is left
    /// untouched), [`StoreError::NewerSchema`] for a store written by a newer Aisle,
    /// [`StoreError::Open`] when the file cannot be opened or created.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore> {
        trim::map_large_chunks();
        let path = path.as_ref().to_path_buf();
        let open_error = |source: rusqlite::Error| StoreError::Open {
            location: path.display().to_string(),
            source: Box::new(source),
        };
        let mut writer = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error)?;
        writer
            .busy_timeout(options.busy_timeout)
            .map_err(open_error)?;
        let migrated_from = schema::prepare(&mut writer, &path, MIGRATIONS)?;
        configure(&writer, &options, false).map_err(open_error)?;
        let checkpointer = options.background_checkpoint.then(|| {
            checkpoint::Checkpointer::start(
                path.clone(),
                options.busy_timeout,
                wal_size_limit(&options),
            )
        });
        Ok(SqliteStore {
            path,
            options,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            migrated_from,
            _checkpointer: checkpointer,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a consistent copy of the store to `out` (a new file) while the store is in use:
    /// `VACUUM INTO` reads one snapshot — every write committed before it began, none after —
    /// on a connection of its own, so writers and readers go on meanwhile. Answers the size of
    /// the copy in bytes.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] when `out` exists (a backup never overwrites), else
    /// the backend's error.
    pub fn backup_to(&self, out: &Path) -> Result<u64> {
        if out.exists() {
            return Err(StoreError::invalid(
                "backup file",
                format!("{} exists; a backup never overwrites a file", out.display()),
            ));
        }
        let conn = self.open_reader()?;
        // A query-only connection may not run VACUUM, though VACUUM INTO leaves this file alone.
        conn.pragma_update(None, "query_only", false)?;
        let target = out.to_str().ok_or_else(|| {
            StoreError::invalid("backup file", format!("{} is not UTF-8", out.display()))
        })?;
        conn.execute("VACUUM INTO ?1", [target])?;
        Ok(std::fs::metadata(out).map(|m| m.len()).unwrap_or(0))
    }

    /// The schema version the file had before this open migrated it (0: a new store).
    pub fn migrated_from(&self) -> i64 {
        self.migrated_from
    }

    /// Runs `work` with the write connection.
    fn write<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        // A panic while writing cannot leave a transaction open (dropping it rolls back), so
        // the connection behind a poisoned lock is still sound.
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut conn)
    }

    /// Runs `work` with a read connection from the pool (a new one if none is idle).
    fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.idle_readers().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.open_reader()?,
        };
        let result = work(&conn);
        let mut idle = self.idle_readers();
        if idle.len() < self.options.max_idle_readers {
            idle.push(conn);
        }
        result
    }

    fn idle_readers(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open_reader(&self) -> Result<Connection> {
        let open_error = |source: rusqlite::Error| StoreError::Open {
            location: self.path.display().to_string(),
            source: Box::new(source),
        };
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error)?;
        conn.busy_timeout(self.options.busy_timeout)
            .map_err(open_error)?;
        configure(&conn, &self.options, true).map_err(open_error)?;
        Ok(conn)
    }
}

fn configure(conn: &Connection, options: &SqliteOptions, read_only: bool) -> rusqlite::Result<()> {
    let synchronous = match options.durability {
        Durability::Process => "NORMAL",
        Durability::PowerLoss => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    let cache_mib = if read_only {
        options.cache_mib
    } else {
        options.writer_cache_mib
    };
    conn.pragma_update(None, "cache_size", -i64::from(cache_mib) * 1024)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Both pragmas answer the value set as a row.
    let mmap_bytes = i64::try_from(options.mmap_mib.saturating_mul(1 << 20)).unwrap_or(i64::MAX);
    conn.pragma_update_and_check(None, "mmap_size", mmap_bytes, |_| Ok(()))?;
    if read_only {
        conn.pragma_update(None, "query_only", true)?;
    } else {
        conn.pragma_update_and_check(
            None,
            "wal_autocheckpoint",
            options.wal_autocheckpoint_pages,
            |_| Ok(()),
        )?;
        conn.pragma_update_and_check(None, "journal_size_limit", wal_size_limit(options), |_| {
            Ok(())
        })?;
    }
    // Without the planner's stability guarantee SQLite marks a statement with `LIMIT ?` for
    // re-preparing whenever that parameter is bound, so every read of a user's recent
    // events or lists parsed and planned its SQL again (a tenth of a list's CPU time). Our
    // plans never depend on a parameter's value.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// [`SqliteOptions::wal_size_limit_mib`] in bytes, as the pragma takes it.
fn wal_size_limit(options: &SqliteOptions) -> i64 {
    i64::try_from(options.wal_size_limit_mib.saturating_mul(1 << 20)).unwrap_or(i64::MAX)
}

fn read_item(row: &Row<'_>) -> Result<(i64, Item)> {
    let id: String = row.get(1)?;
    let categories: String = row.get(3)?;
    let attributes: String = row.get(7)?;
    let item = Item {
        title: row.get(2)?,
        categories: from_json(&categories, "categories", &id)?,
        price: row.get(4)?,
        available: row.get(5)?,
        created_at: row.get(6)?,
        attributes: from_json::<Map<String, Value>>(&attributes, "attributes", &id)?,
        id,
    };
    Ok((row.get(0)?, item))
}

fn read_user(row: &Row<'_>) -> Result<(i64, User)> {
    let id: String = row.get(1)?;
    let attributes: String = row.get(2)?;
    let attributes = from_json(&attributes, "attributes", &id)?;
    Ok((row.get(0)?, User { id, attributes }))
}

/// Copies a text column into `target`, reusing its allocation.
fn copy_text(target: &mut String, value: ValueRef<'_>) -> Result<()> {
    target.clear();
    target.push_str(value.as_str().map_err(rusqlite::Error::from)?);
    Ok(())
}

/// A user's most recent events, only the columns of the `events_history` index: read from
/// the index alone, in its order, with no lookup in the table.
const USER_HISTORY: &str = "SELECT id, item_id, type, value, quantity, timestamp FROM events
    WHERE user_id = ?1 ORDER BY timestamp DESC, id DESC LIMIT ?2";

/// Whether a user is deleted: deleted, and no event of theirs arrived since.
const USER_DELETED: &str =
    "SELECT EXISTS (SELECT 1 FROM deleted_users d WHERE d.id = ?1 AND NOT EXISTS
    (SELECT 1 FROM events e WHERE e.user_id = d.id AND e.id > d.last_event))";

/// Reads an event row into `event`, reusing its strings, so a scan allocates nothing per row.
fn fill_event(row: &Row<'_>, event: &mut StoredEvent) -> Result<()> {
    event.id = EventId(row.get(0)?);
    copy_text(&mut event.user_id, row.get_ref(1)?)?;
    copy_text(&mut event.item_id, row.get_ref(2)?)?;
    copy_text(&mut event.kind, row.get_ref(3)?)?;
    event.value = row.get(4)?;
    event.timestamp = row.get(5)?;
    match row.get_ref(6)? {
        ValueRef::Null => event.recommendation_id = None,
        text => copy_text(event.recommendation_id.get_or_insert_default(), text)?,
    }
    event.position = match row.get::<_, Option<i64>>(7)? {
        None => None,
        Some(p) => Some(u32::try_from(p).map_err(|_| {
            StoreError::Corrupt(format!("event {}: position {p} out of range", event.id.0))
        })?),
    };
    event.quantity = row.get(8)?;
    event.price = row.get(9)?;
    match row.get_ref(10)? {
        ValueRef::Null => event.basket = None,
        text => copy_text(event.basket.get_or_insert_default(), text)?,
    }
    Ok(())
}

/// Calls `visit` with each row's served list; answers how many.
fn visit_impressions(
    rows: &mut rusqlite::Rows<'_>,
    visit: &mut dyn FnMut(&Impression),
) -> Result<u64> {
    let mut visited = 0;
    while let Some(row) = rows.next()? {
        visit(&read_impression(row)?);
        visited += 1;
    }
    Ok(visited)
}

fn read_impression(row: &Row<'_>) -> Result<Impression> {
    let id: String = row.get(0)?;
    let items: String = row.get(6)?;
    Ok(Impression {
        items: from_json(&items, "impression items", &id)?,
        recommendation_id: id,
        user_id: row.get(1)?,
        model: row.get(2)?,
        model_version: row.get(3)?,
        experiment: row.get(4)?,
        variant: row.get(5)?,
        served_at: row.get(7)?,
    })
}

/// Bumps the catalogue's version inside a write transaction and returns the new one.
fn next_catalogue_version(tx: &rusqlite::Transaction<'_>) -> Result<i64> {
    Ok(tx.query_row(
        "UPDATE counters SET value = value + 1 WHERE name = 'catalogue' RETURNING value",
        [],
        |r| r.get(0),
    )?)
}

fn read_model_info(row: &Row<'_>) -> Result<ModelInfo> {
    let version: i64 = row.get(0)?;
    let name: String = row.get(1)?;
    let label = format!("{name} v{version}");
    let params: String = row.get(2)?;
    let metrics: String = row.get(4)?;
    let format_version: i64 = row.get(5)?;
    let size: i64 = row.get(6)?;
    Ok(ModelInfo {
        version: ModelVersion(version),
        meta: ModelMeta {
            params: from_json(&params, "params", &label)?,
            trained_at: row.get(3)?,
            metrics: from_json(&metrics, "metrics", &label)?,
            format_version: u32::try_from(format_version).map_err(|_| {
                StoreError::Corrupt(format!("{label}: format version {format_version}"))
            })?,
            name,
            last_event_id: row.get::<_, Option<i64>>(8)?.map(EventId),
        },
        size: u64::try_from(size)
            .map_err(|_| StoreError::Corrupt(format!("{label}: size {size}")))?,
        saved_at: row.get(7)?,
    })
}

/// Runs a listing query with `?1` = cursor and `?2` = limit + 1, and cuts the page.
fn page<T>(
    conn: &Connection,
    sql: &str,
    after: Option<Cursor>,
    limit: usize,
    read: impl Fn(&Row<'_>) -> Result<(i64, T)>,
) -> Result<Page<T>> {
    check_limit(limit)?;
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![after.map_or(0, |c| c.0), limit as i64 + 1])?;
    let mut entries = Vec::with_capacity(limit.min(1024));
    let mut last = 0;
    let mut more = false;
    while let Some(row) = rows.next()? {
        if entries.len() == limit {
            more = true;
            break;
        }
        let (seq, entry) = read(row)?;
        last = seq;
        entries.push(entry);
    }
    Ok(Page {
        entries,
        next: more.then_some(Cursor(last)),
    })
}

fn load_model(
    conn: &Connection,
    condition: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<StoredModel>> {
    let sql = format!(
        "SELECT {MODEL_INFO_COLUMNS}, bytes FROM models WHERE {condition} ORDER BY version DESC LIMIT 1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([key])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let info = read_model_info(row)?;
    Ok(Some(whole_model(info, row.get(9)?)?))
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn upsert_items(&self, items: &[Item]) -> Result<u64> {
        let mut encoded = Vec::with_capacity(items.len());
        for item in items {
            check_item(item)?;
            encoded.push((to_json(&item.categories)?, to_json(&item.attributes)?));
        }
        let updated_at = now();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version = next_catalogue_version(&tx)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO items
                        (id, title, categories, price, available, created_at, attributes,
                         updated_at, changed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (id) DO UPDATE SET
                        title = excluded.title, categories = excluded.categories,
                        price = excluded.price, available = excluded.available,
                        created_at = excluded.created_at, attributes = excluded.attributes,
                        updated_at = excluded.updated_at, changed = excluded.changed",
                )?;
                let mut revive = tx.prepare_cached("DELETE FROM deleted_items WHERE id = ?1")?;
                for (item, (categories, attributes)) in items.iter().zip(&encoded) {
                    stmt.execute(params![
                        item.id,
                        item.title,
                        categories,
                        item.price,
                        item.available,
                        item.created_at,
                        attributes,
                        updated_at,
                        version
                    ])?;
                    revive.execute([&item.id])?;
                }
            }
            tx.commit()?;
            Ok(items.len() as u64)
        })
    }

    fn item(&self, id: &str) -> Result<Option<Item>> {
        Ok(self.get_items(&[id])?.pop())
    }

    fn get_items(&self, ids: &[&str]) -> Result<Vec<Item>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1"))?;
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                let mut rows = stmt.query([id])?;
                if let Some(row) = rows.next()? {
                    found.push(read_item(row)?.1);
                }
            }
            Ok(found)
        })
    }

    fn delete_item(&self, id: &str) -> Result<()> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if tx.execute("DELETE FROM items WHERE id = ?1", [id])? == 0 {
                return Err(StoreError::UnknownItem(id.to_string()));
            }
            let version = next_catalogue_version(&tx)?;
            tx.execute(
                "INSERT INTO deleted_items (id, changed) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET changed = excluded.changed",
                params![id, version],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn catalogue_version(&self) -> Result<i64> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT value FROM counters WHERE name = 'catalogue'",
                [],
                |r| r.get(0),
            )?)
        })
    }

    fn catalogue_changes(&self, since: i64) -> Result<CatalogueChanges> {
        // The version is read first: a write committed between the two reads is reported
        // again next time, which a follower applies harmlessly.
        let version = self.catalogue_version()?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM items WHERE changed > ?1
                 UNION ALL SELECT id FROM deleted_items WHERE changed > ?1",
            )?;
            let changed = stmt
                .query_map([since], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(CatalogueChanges { changed, version })
        })
    }

    fn list_items(&self, after: Option<Cursor>, limit: usize) -> Result<Page<Item>> {
        self.read(|conn| {
            page(
                conn,
                &format!("SELECT {ITEM_COLUMNS} FROM items WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
                after,
                limit,
                read_item,
            )
        })
    }

    fn upsert_users(&self, users: &[User]) -> Result<u64> {
        let mut encoded = Vec::with_capacity(users.len());
        for user in users {
            check_user(user)?;
            encoded.push(to_json(&user.attributes)?);
        }
        let updated_at = now();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO users (id, attributes, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET
                        attributes = excluded.attributes, updated_at = excluded.updated_at",
                )?;
                let mut revive = tx.prepare_cached("DELETE FROM deleted_users WHERE id = ?1")?;
                for (user, attributes) in users.iter().zip(&encoded) {
                    stmt.execute(params![user.id, attributes, updated_at])?;
                    revive.execute([&user.id])?;
                }
            }
            tx.commit()?;
            Ok(users.len() as u64)
        })
    }

    fn user(&self, id: &str) -> Result<Option<User>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT seq, id, attributes FROM users WHERE id = ?1")?;
            let mut rows = stmt.query([id])?;
            match rows.next()? {
                Some(row) => Ok(Some(read_user(row)?.1)),
                None => Ok(None),
            }
        })
    }

    fn delete_user(&self, id: &str, erase_events: bool) -> Result<DeletedUser> {
        check_id("user id", id)?;
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let record = tx.execute("DELETE FROM users WHERE id = ?1", [id])? > 0;
            let events = if erase_events {
                tx.execute("DELETE FROM events WHERE user_id = ?1", [id])? as u64
            } else {
                0
            };
            if !record && events == 0 {
                return Err(StoreError::UnknownUser(id.to_string()));
            }
            // Events up to the newest one now are the deleted user's; a later one brings
            // them back.
            tx.execute(
                "INSERT INTO deleted_users (id, last_event)
                 VALUES (?1, (SELECT coalesce(max(id), 0) FROM events))
                 ON CONFLICT (id) DO UPDATE SET last_event = excluded.last_event",
                [id],
            )?;
            tx.commit()?;
            Ok(DeletedUser { record, events })
        })
    }

    fn user_deleted(&self, id: &str) -> Result<bool> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(USER_DELETED)?;
            Ok(stmt.query_row([id], |r| r.get(0))?)
        })
    }

    fn list_users(&self, after: Option<Cursor>, limit: usize) -> Result<Page<User>> {
        self.read(|conn| {
            page(
                conn,
                "SELECT seq, id, attributes FROM users WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                after,
                limit,
                read_user,
            )
        })
    }

    fn append_events(&self, events: &[NewEvent<'_>]) -> Result<u64> {
        for (index, event) in events.iter().enumerate() {
            check_event(index, event)?;
        }
        if events.is_empty() {
            return Ok(0);
        }
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO events
                        (user_id, item_id, type, value, timestamp, recommendation_id, position,
                         quantity, price, basket)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?;
                for e in events {
                    stmt.execute(params![
                        e.user_id,
                        e.item_id,
                        e.kind,
                        e.value,
                        e.timestamp,
                        e.recommendation_id,
                        e.position,
                        e.quantity,
                        e.price,
                        e.basket
                    ])?;
                }
            }
            tx.commit()?;
            Ok(events.len() as u64)
        })
    }

    fn scan_events(
        &self,
        after: Option<EventId>,
        visit: &mut dyn FnMut(&StoredEvent),
    ) -> Result<ScanSummary> {
        self.read(|conn| {
            // One statement is one read transaction: the scan sees a single snapshot.
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id"
            ))?;
            let mut rows = stmt.query([after.map_or(0, |a| a.0)])?;
            let mut event = StoredEvent::default();
            let mut summary = ScanSummary::default();
            while let Some(row) = rows.next()? {
                fill_event(row, &mut event)?;
                visit(&event);
                summary.events += 1;
                summary.last = Some(event.id);
            }
            Ok(summary)
        })
    }

    fn user_events(&self, user_id: &str, limit: usize) -> Result<Vec<StoredEvent>> {
        check_limit(limit)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE user_id = ?1
                 ORDER BY timestamp DESC, id DESC LIMIT ?2"
            ))?;
            let mut rows = stmt.query(params![user_id, limit as i64])?;
            let mut events = Vec::new();
            while let Some(row) = rows.next()? {
                let mut event = StoredEvent::default();
                fill_event(row, &mut event)?;
                events.push(event);
            }
            events.reverse();
            Ok(events)
        })
    }

    fn user_history(&self, user_id: &str, limit: usize) -> Result<(Vec<StoredEvent>, bool)> {
        check_limit(limit)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(USER_HISTORY)?;
            let mut rows = stmt.query(params![user_id, limit as i64])?;
            let mut events = Vec::new();
            while let Some(row) = rows.next()? {
                let mut event = StoredEvent {
                    id: EventId(row.get(0)?),
                    user_id: user_id.to_string(),
                    value: row.get(3)?,
                    quantity: row.get(4)?,
                    timestamp: row.get(5)?,
                    ..StoredEvent::default()
                };
                copy_text(&mut event.item_id, row.get_ref(1)?)?;
                copy_text(&mut event.kind, row.get_ref(2)?)?;
                events.push(event);
            }
            events.reverse();
            let mut deleted = conn.prepare_cached(USER_DELETED)?;
            let deleted = deleted.query_row([user_id], |r| r.get(0))?;
            Ok((events, deleted))
        })
    }

    fn last_event_id(&self) -> Result<Option<EventId>> {
        self.read(|conn| {
            let id: Option<i64> = conn.query_row("SELECT max(id) FROM events", [], |r| r.get(0))?;
            Ok(id.map(EventId))
        })
    }

    fn events_per_day(&self) -> Result<Vec<DayCount>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT date(timestamp, 'unixepoch') AS day, type, count(*),
                        total(CASE WHEN type IN ('purchase', 'return')
                                   THEN coalesce(value, coalesce(quantity, 1) * price, 0)
                                   ELSE 0 END)
                 FROM events
                 WHERE timestamp IS NOT NULL GROUP BY day, type ORDER BY day, type",
            )?;
            let mut rows = stmt.query([])?;
            let mut days = Vec::new();
            while let Some(row) = rows.next()? {
                days.push(DayCount {
                    day: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    kind: row.get(1)?,
                    count: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                    amount: row.get(3)?,
                });
            }
            Ok(days)
        })
    }

    fn log_impressions(&self, impressions: &[Impression]) -> Result<u64> {
        for impression in impressions {
            check_id("recommendation id", &impression.recommendation_id)?;
        }
        if impressions.is_empty() {
            return Ok(0);
        }
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut written = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO impressions (recommendation_id, user_id, model,
                        model_version, experiment, variant, items, served_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for i in impressions {
                    written += stmt.execute(params![
                        i.recommendation_id,
                        i.user_id,
                        i.model,
                        i.model_version,
                        i.experiment,
                        i.variant,
                        to_json(&i.items)?,
                        i.served_at
                    ])? as u64;
                }
            }
            tx.commit()?;
            Ok(written)
        })
    }

    fn experiment_impressions(
        &self,
        experiment: &str,
        since: i64,
        visit: &mut dyn FnMut(&Impression),
    ) -> Result<u64> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {IMPRESSION_COLUMNS} FROM impressions
                     WHERE experiment = ?1 AND served_at >= ?2 ORDER BY served_at"
            ))?;
            let mut rows = stmt.query(params![experiment, since])?;
            visit_impressions(&mut rows, visit)
        })
    }

    fn impressions_by_id(&self, ids: &[&str], visit: &mut dyn FnMut(&Impression)) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        // One parameter however many ids: a JSON array the primary key is probed with.
        let ids = Value::from(ids.to_vec()).to_string();
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {IMPRESSION_COLUMNS} FROM impressions
                     WHERE recommendation_id IN (SELECT value FROM json_each(?1))"
            ))?;
            let mut rows = stmt.query(params![ids])?;
            visit_impressions(&mut rows, visit)
        })
    }

    fn user_impressions(&self, user_id: &str, since: i64, limit: usize) -> Result<Vec<Impression>> {
        check_limit(limit)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {IMPRESSION_COLUMNS} FROM impressions
                     WHERE user_id = ?1 AND served_at >= ?2 ORDER BY served_at DESC LIMIT ?3"
            ))?;
            let mut rows = stmt.query(params![user_id, since, limit as i64])?;
            let mut impressions = Vec::new();
            while let Some(row) = rows.next()? {
                impressions.push(read_impression(row)?);
            }
            Ok(impressions)
        })
    }

    fn recent_impressions(
        &self,
        since: i64,
        limit: usize,
        visit: &mut dyn FnMut(&Impression),
    ) -> Result<u64> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {IMPRESSION_COLUMNS} FROM impressions
                     WHERE served_at >= ?1 ORDER BY served_at DESC LIMIT ?2"
            ))?;
            let mut rows = stmt.query(params![since, sql_limit(limit)])?;
            visit_impressions(&mut rows, visit)
        })
    }

    fn delete_impressions_before(&self, before: i64, limit: usize) -> Result<u64> {
        self.write(|conn| {
            Ok(conn.execute(
                "DELETE FROM impressions WHERE rowid IN
                    (SELECT rowid FROM impressions WHERE served_at < ?1 LIMIT ?2)",
                params![before, sql_limit(limit)],
            )? as u64)
        })
    }

    fn delete_events_before(&self, before: i64, limit: usize) -> Result<u64> {
        // Oldest ids first: old events sit at the start of the table, so each batch stops
        // early rather than scanning every event.
        self.write(|conn| {
            Ok(conn.execute(
                "DELETE FROM events WHERE id IN
                    (SELECT id FROM events WHERE timestamp < ?1 ORDER BY id LIMIT ?2)",
                params![before, sql_limit(limit)],
            )? as u64)
        })
    }

    fn put_placement(&self, placement: &PlacementRecord) -> Result<()> {
        check_id("placement name", &placement.name)?;
        let definition = to_json(&placement.definition)?;
        self.write(|conn| {
            conn.execute(
                "INSERT INTO placements (name, definition, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,
                                                  updated_at = excluded.updated_at",
                params![placement.name, definition, placement.updated_at],
            )?;
            Ok(())
        })
    }

    fn delete_placement(&self, name: &str) -> Result<bool> {
        self.write(|conn| Ok(conn.execute("DELETE FROM placements WHERE name = ?1", [name])? > 0))
    }

    fn placements(&self) -> Result<Vec<PlacementRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, definition, updated_at FROM placements ORDER BY name",
            )?;
            let mut rows = stmt.query([])?;
            let mut placements = Vec::new();
            while let Some(row) = rows.next()? {
                let name: String = row.get(0)?;
                let definition: String = row.get(1)?;
                placements.push(PlacementRecord {
                    definition: from_json(&definition, "placement definition", &name)?,
                    name,
                    updated_at: row.get(2)?,
                });
            }
            Ok(placements)
        })
    }

    fn create_experiment(&self, experiment: &ExperimentRecord) -> Result<()> {
        check_id("experiment name", &experiment.name)?;
        let definition = to_json(&experiment.definition)?;
        self.write(|conn| {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO experiments (name, definition, created_at, stopped_at,
                    first_event) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    experiment.name,
                    definition,
                    experiment.created_at,
                    experiment.stopped_at,
                    experiment.first_event.0
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists {
                    what: "experiment",
                    name: experiment.name.clone(),
                });
            }
            Ok(())
        })
    }

    fn experiments(&self) -> Result<Vec<ExperimentRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, definition, created_at, stopped_at, first_event FROM experiments
                 ORDER BY created_at, name",
            )?;
            let mut rows = stmt.query([])?;
            let mut experiments = Vec::new();
            while let Some(row) = rows.next()? {
                let name: String = row.get(0)?;
                let definition: String = row.get(1)?;
                experiments.push(ExperimentRecord {
                    definition: from_json(&definition, "experiment definition", &name)?,
                    name,
                    created_at: row.get(2)?,
                    stopped_at: row.get(3)?,
                    first_event: EventId(row.get(4)?),
                });
            }
            Ok(experiments)
        })
    }

    fn stop_experiment(&self, name: &str, at: i64) -> Result<()> {
        self.write(|conn| {
            let changed = conn.execute(
                "UPDATE experiments SET stopped_at = coalesce(stopped_at, ?2) WHERE name = ?1",
                params![name, at],
            )?;
            if changed == 0 {
                return Err(StoreError::UnknownExperiment(name.to_string()));
            }
            Ok(())
        })
    }

    fn counts(&self) -> Result<Counts> {
        self.read(|conn| {
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            Ok(conn.query_row(
                "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM users),
                        (SELECT count(*) FROM events), (SELECT count(*) FROM models),
                        (SELECT count(*) FROM impressions)",
                [],
                |r| {
                    Ok(Counts {
                        items: count(r.get(0)?),
                        users: count(r.get(1)?),
                        events: count(r.get(2)?),
                        models: count(r.get(3)?),
                        served_lists: count(r.get(4)?),
                    })
                },
            )?)
        })
    }

    fn save_model(&self, meta: &ModelMeta, bytes: &[u8]) -> Result<ModelVersion> {
        check_model_meta(meta)?;
        let params = to_json(&meta.params)?;
        let metrics = to_json(&meta.metrics)?;
        let saved_at = now();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO models
                    (name, params, trained_at, metrics, format_version, size, saved_at, bytes,
                     last_event_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    meta.name,
                    params,
                    meta.trained_at,
                    metrics,
                    meta.format_version,
                    bytes.len() as i64,
                    saved_at,
                    bytes,
                    meta.last_event_id.map(|e| e.0)
                ],
            )?;
            let version = tx.last_insert_rowid();
            tx.commit()?;
            Ok(ModelVersion(version))
        })
        .inspect(|_| trim::release_free_memory())
    }

    fn latest_model(&self, name: &str) -> Result<Option<StoredModel>> {
        self.read(|conn| load_model(conn, "name = ?1", &name))
            .inspect(|_| trim::release_free_memory())
    }

    fn model(&self, version: ModelVersion) -> Result<Option<StoredModel>> {
        self.read(|conn| load_model(conn, "version = ?1", &version.0))
            .inspect(|_| trim::release_free_memory())
    }

    fn list_models(&self) -> Result<Vec<ModelInfo>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MODEL_INFO_COLUMNS} FROM models ORDER BY version"
            ))?;
            let mut rows = stmt.query([])?;
            let mut infos = Vec::new();
            while let Some(row) = rows.next()? {
                infos.push(read_model_info(row)?);
            }
            Ok(infos)
        })
    }

    fn save_tuning(&self, tuning: &NewTuning) -> Result<i64> {
        check_tuning(tuning)?;
        let (params, report) = (to_json(&tuning.params)?, to_json(&tuning.report)?);
        self.write(|conn| {
            conn.execute(
                "INSERT INTO tunings (model, weighting, params, metric, score, default_score,
                    trials, seconds, report, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    tuning.model,
                    tuning.weighting,
                    params,
                    tuning.metric,
                    tuning.score,
                    tuning.default_score,
                    tuning.trials,
                    tuning.seconds,
                    report,
                    now()
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
    }

    fn latest_tuning(&self, model: &str) -> Result<Option<TuningRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {TUNING_COLUMNS} FROM tunings WHERE model = ?1 ORDER BY id DESC LIMIT 1"
            ))?;
            let mut rows = stmt.query([model])?;
            match rows.next()? {
                Some(row) => Ok(Some(read_tuning(row)?)),
                None => Ok(None),
            }
        })
    }

    fn tunings(&self, limit: usize) -> Result<Vec<TuningRecord>> {
        check_limit(limit)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {TUNING_COLUMNS} FROM tunings ORDER BY id DESC LIMIT ?1"
            ))?;
            let mut rows = stmt.query([limit as i64])?;
            let mut tunings = Vec::new();
            while let Some(row) = rows.next()? {
                tunings.push(read_tuning(row)?);
            }
            Ok(tunings)
        })
    }

    fn reads_locally(&self) -> bool {
        true
    }

    fn checkpoint(&self) -> Result<()> {
        self.write(|conn| {
            // Readers still in a transaction keep their part of the log: the checkpoint
            // then copies what it can and leaves the rest, which is no error.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }
}

fn read_tuning(row: &rusqlite::Row<'_>) -> Result<TuningRecord> {
    let id: i64 = row.get(0)?;
    let model: String = row.get(1)?;
    let params: String = row.get(3)?;
    let report: String = row.get(9)?;
    Ok(TuningRecord {
        id,
        created_at: row.get(10)?,
        tuning: NewTuning {
            weighting: row.get(2)?,
            params: from_json(&params, "tuning params", &model)?,
            metric: row.get(4)?,
            score: row.get(5)?,
            default_score: row.get(6)?,
            trials: row.get(7)?,
            seconds: row.get(8)?,
            report: from_json(&report, "tuning report", &model)?,
            model,
        },
    })
}

#[cfg(test)]
mod tests;
