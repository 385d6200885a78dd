//! The PostgreSQL backend: one database shared by any number of `aisle serve` replicas.
//!
//! # Connections
//! `tokio-postgres` connections in a `deadpool-postgres` pool, driven by a small private
//! tokio runtime (two worker threads doing the sockets' I/O). The [`Store`] trait is
//! synchronous: each call enters that runtime's context and blocks the calling thread on its
//! future (`futures::executor::block_on`), so it works from any thread — the server's
//! blocking pool, a CLI command, a test — without nesting runtimes. A scan fetches its rows
//! in chunks through a portal and calls the visitor between chunks, outside the future, so a
//! visitor may use the store again (with another pooled connection). The one read of every
//! list (a user's history) goes over a few direct connections instead, whose socket the
//! calling thread drives itself (see [`direct`]).
//!
//! # Semantics kept from SQLite
//! - Event ids grow in **commit order**: an append takes a transaction-scoped advisory lock
//!   before drawing ids from the sequence and holds it to commit, so no reader ever sees id
//!   X+1 before id X. Appends are thereby serialised, as SQLite's one writer serialises them;
//!   each is one multi-row `INSERT ... SELECT FROM UNNEST` (one round trip per batch).
//! - Durability: `synchronous_commit` is left on, so an acknowledged write survives the
//!   database server crashing.
//! - A scan reads one `REPEATABLE READ` snapshot.
//!
//! # Several replicas
//! [`PostgresStore::try_trainer_lock`] takes a session-level advisory lock on a connection
//! taken out of the pool; it is released when the guard drops (the connection closes) or the
//! process dies (the server ends the session), so another replica trains next time.

mod direct;
mod notices;
mod schema;
pub mod testing;

use std::future::Future;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use aisle_data::{Item, User};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures_util::future::try_join_all;
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls, Row};

pub use schema::{MIGRATIONS, Migration};

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
use crate::store::{Change, ChangeListener, Store, TrainerLock};

/// Advisory lock key (`AISL` + 2) held while appending events, for ids in commit order.
const EVENTS_LOCK: i64 = 0x4149_534C_0002;
/// Advisory lock key (`AISL` + 3) held by the one replica that trains.
const TRAINER_LOCK: i64 = 0x4149_534C_0003;
/// Batches of at least this many events are written with `COPY ... FROM STDIN (FORMAT
/// binary)` (an import); smaller ones (the API's) with one multi-row `INSERT`.
const COPY_FROM: usize = 1_000;
/// Rows fetched per round trip by a scan.
const SCAN_CHUNK: i32 = 10_000;

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        // No answer from the server (the connection broke or never opened), or the server
        // refusing connections for now (SQLSTATE class 08, or 57P0x: shutting down,
        // terminated by an administrator, starting up): retrying later may succeed.
        let unavailable = error.is_closed()
            || match error.code() {
                Some(code) => code.code().starts_with("08") || code.code().starts_with("57P"),
                None => error.as_db_error().is_none(),
            };
        if unavailable {
            StoreError::Unavailable(Box::new(error))
        } else {
            StoreError::backend(error)
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        // The pool could not hand out a connection: none could be opened in time.
        StoreError::Unavailable(Box::new(error))
    }
}

/// A store in a PostgreSQL database.
pub struct PostgresStore {
    location: String,
    // An `Option` only so that `Drop` can shut it down without blocking (dropping a runtime
    // inside another runtime's thread would panic).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// For connections outside the pool (the change listener's).
    config: tokio_postgres::Config,
    migrated_from: i64,
    /// Connections for the one read of every list (see [`direct`]).
    direct: direct::DirectConnections,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A user's most recent events, newest first. NULLS LAST under DESC: events without a
/// timestamp count as the oldest, as in SQLite (where NULL sorts first ascending); the index
/// `events_by_user` has exactly this order.
static USER_EVENTS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE user_id = $1
         ORDER BY timestamp DESC NULLS LAST, id DESC LIMIT $2"
    )
});

/// How many columns [`EVENT_COLUMNS`] names.
const EVENT_COLUMN_COUNT: usize = 11;

/// [`USER_EVENTS_SQL`] and [`USER_DELETED_SQL`] in one statement, the flag as the last
/// column: a list's one read, one execution on the server.
static USER_HISTORY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT e.*, d.deleted
         FROM ({USER_DELETED_SQL}) AS d (deleted)
         LEFT JOIN LATERAL ({}) AS e ON true",
        *USER_EVENTS_SQL
    )
});

const USER_DELETED_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM deleted_users d WHERE d.id = $1 AND NOT EXISTS
        (SELECT 1 FROM events e WHERE e.user_id = d.id AND e.id > d.last_event))";

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/database`),
    /// creating Aisle's tables in an empty database and migrating an older schema.
    ///
    /// # Errors
    /// [`StoreError::NotAStore`] for a database holding other tables and no Aisle mark (it
    /// is left untouched), [`StoreError::NewerSchema`] for one written by a newer Aisle,
    /// [`StoreError::Open`] when the server cannot be reached or refuses the connection.
    pub fn open(url: &str) -> Result<PostgresStore> {
        let location = redact(url);
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            location: location.clone(),
            source,
        };
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| open_error(e.into()))?;
        if config.get_application_name().is_none() {
            config.application_name("aisle");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("aisle-postgres")
            .enable_all()
            .build()
            .map_err(|e| open_error(e.into()))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _context = runtime.enter();
            Pool::builder(manager)
                .max_size(16)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(30)))
                .create_timeout(Some(Duration::from_secs(5)))
                .build()
                .map_err(|e| open_error(e.into()))?
        };
        let mut store = PostgresStore {
            location: location.clone(),
            runtime: Some(runtime),
            pool,
            direct: direct::DirectConnections::new(config.clone()),
            config,
            migrated_from: 0,
        };
        store.migrated_from = store.run(async {
            let mut client = store
                .pool
                .get()
                .await
                .map_err(|e| open_error(Box::new(e)))?;
            schema::prepare(&mut client, &location).await
        })?;
        Ok(store)
    }

    /// The schema version the database had before this open migrated it (0: a new store).
    pub fn migrated_from(&self) -> i64 {
        self.migrated_from
    }

    /// Runs `work` to completion on the calling thread, inside the runtime's context (so
    /// connections opened meanwhile are driven by its workers).
    fn run<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let _context = self.runtime.as_ref().expect("runtime until drop").enter();
        futures_executor::block_on(work)
    }

    async fn client(&self) -> Result<Object> {
        Ok(self.pool.get().await?)
    }

    /// Tells the replicas watching that `change` was committed. Best effort, after the
    /// write: a notice that cannot be sent is caught up by their polling, and must not turn
    /// a committed write into an error.
    async fn notify(&self, change: Change) {
        let _ = self.execute(&notices::notify_sql(change), &[]).await;
    }
}

/// The URL without its password, for logs and messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

fn read_item(row: &Row) -> Result<(i64, Item)> {
    let id: String = row.try_get(1)?;
    let categories: &str = row.try_get(3)?;
    let attributes: &str = row.try_get(7)?;
    let item = Item {
        title: row.try_get(2)?,
        categories: from_json(categories, "categories", &id)?,
        price: row.try_get(4)?,
        available: row.try_get(5)?,
        created_at: row.try_get(6)?,
        attributes: from_json::<Map<String, Value>>(attributes, "attributes", &id)?,
        id,
    };
    Ok((row.try_get(0)?, item))
}

fn read_user(row: &Row) -> Result<(i64, User)> {
    let id: String = row.try_get(1)?;
    let attributes: &str = row.try_get(2)?;
    let attributes = from_json(attributes, "attributes", &id)?;
    Ok((row.try_get(0)?, User { id, attributes }))
}

fn read_event(row: &Row) -> Result<StoredEvent> {
    let id = EventId(row.try_get(0)?);
    let position = match row.try_get::<_, Option<i64>>(7)? {
        None => None,
        Some(p) => Some(u32::try_from(p).map_err(|_| {
            StoreError::Corrupt(format!("event {}: position {p} out of range", id.0))
        })?),
    };
    Ok(StoredEvent {
        id,
        user_id: row.try_get(1)?,
        item_id: row.try_get(2)?,
        kind: row.try_get(3)?,
        value: row.try_get(4)?,
        timestamp: row.try_get(5)?,
        recommendation_id: row.try_get(6)?,
        position,
        quantity: row.try_get(8)?,
        price: row.try_get(9)?,
        basket: row.try_get(10)?,
    })
}

fn read_model_info(row: &Row) -> Result<ModelInfo> {
    let version: i64 = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    let label = format!("{name} v{version}");
    let format_version: i64 = row.try_get(5)?;
    let size: i64 = row.try_get(6)?;
    Ok(ModelInfo {
        version: ModelVersion(version),
        meta: ModelMeta {
            params: from_json(row.try_get(2)?, "params", &label)?,
            trained_at: row.try_get(3)?,
            metrics: from_json(row.try_get(4)?, "metrics", &label)?,
            format_version: u32::try_from(format_version).map_err(|_| {
                StoreError::Corrupt(format!("{label}: format version {format_version}"))
            })?,
            name,
            last_event_id: row.try_get::<_, Option<i64>>(8)?.map(EventId),
        },
        size: u64::try_from(size)
            .map_err(|_| StoreError::Corrupt(format!("{label}: size {size}")))?,
        saved_at: row.try_get(7)?,
    })
}

fn read_impression(row: &Row) -> Result<Impression> {
    let id: String = row.try_get(0)?;
    Ok(Impression {
        items: from_json(row.try_get(6)?, "impression items", &id)?,
        recommendation_id: id,
        user_id: row.try_get(1)?,
        model: row.try_get(2)?,
        model_version: row.try_get(3)?,
        experiment: row.try_get(4)?,
        variant: row.try_get(5)?,
        served_at: row.try_get(7)?,
    })
}

fn read_tuning(row: &Row) -> Result<TuningRecord> {
    let model: String = row.try_get(1)?;
    let trials: i64 = row.try_get(7)?;
    Ok(TuningRecord {
        id: row.try_get(0)?,
        created_at: row.try_get(10)?,
        tuning: NewTuning {
            weighting: row.try_get(2)?,
            params: from_json(row.try_get(3)?, "tuning params", &model)?,
            metric: row.try_get(4)?,
            score: row.try_get(5)?,
            default_score: row.try_get(6)?,
            trials: u32::try_from(trials).unwrap_or(u32::MAX),
            seconds: row.try_get(8)?,
            report: from_json(row.try_get(9)?, "tuning report", &model)?,
            model,
        },
    })
}

/// Bumps the catalogue's version inside a write transaction and returns the new one.
async fn next_catalogue_version(tx: &deadpool_postgres::Transaction<'_>) -> Result<i64> {
    let bump = tx
        .prepare_cached(
            "UPDATE counters SET value = value + 1 WHERE name = 'catalogue' RETURNING value",
        )
        .await?;
    let version = tx.query_one(&bump, &[]).await?.try_get(0)?;
    // Sent when the transaction commits (and never if it rolls back).
    let notice = tx
        .prepare_cached(&notices::notify_sql(Change::Catalogue))
        .await?;
    tx.execute(&notice, &[]).await?;
    Ok(version)
}

/// Takes the lock that keeps event ids in commit order, until `tx` ends: ids are drawn and
/// committed by one appender at a time.
async fn lock_event_ids(tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await?;
    tx.execute(&lock, &[&EVENTS_LOCK]).await?;
    Ok(())
}

/// Cuts a listing fetched with `limit + 1` rows into a page.
fn page<T>(
    rows: Vec<Row>,
    limit: usize,
    read: impl Fn(&Row) -> Result<(i64, T)>,
) -> Result<Page<T>> {
    let more = rows.len() > limit;
    let mut entries = Vec::with_capacity(rows.len().min(limit));
    let mut last = 0;
    for row in rows.iter().take(limit) {
        let (seq, entry) = read(row)?;
        last = seq;
        entries.push(entry);
    }
    Ok(Page {
        entries,
        next: more.then_some(Cursor(last)),
    })
}

/// The session-level trainer lock, on a connection taken out of the pool: closing the
/// connection (when the guard drops, or the process dies) releases it.
struct PostgresTrainerLock {
    _client: deadpool_postgres::ClientWrapper,
}

impl TrainerLock for PostgresTrainerLock {}

impl PostgresStore {
    /// Runs `sql` in one `REPEATABLE READ` snapshot and calls `visit` for each row, fetching
    /// [`SCAN_CHUNK`] rows per round trip through a portal; `visit` runs between round trips,
    /// outside any future, so it may call the store again. Returns how many rows it visited.
    fn scan_rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        visit: &mut dyn FnMut(&Row) -> Result<()>,
    ) -> Result<u64> {
        let mut client = self.run(self.client())?;
        let tx = self.run(async {
            Ok(client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?)
        })?;
        let portal = self.run(async {
            let statement = tx.prepare(sql).await?;
            Ok(tx.bind(&statement, params).await?)
        })?;
        let mut visited = 0;
        loop {
            let rows = self.run(async { Ok(tx.query_portal(&portal, SCAN_CHUNK).await?) })?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                visit(row)?;
                visited += 1;
            }
        }
        self.run(async { Ok(tx.commit().await?) })?;
        Ok(visited)
    }

    /// Appends a large batch through the binary `COPY` protocol, under the same lock as an
    /// `INSERT` (rows take their ids in stream order, so in the order of `events`).
    async fn copy_events(&self, events: &[NewEvent<'_>]) -> Result<u64> {
        use tokio_postgres::binary_copy::BinaryCopyInWriter;
        use tokio_postgres::types::Type;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_event_ids(&tx).await?;
        let sink = tx
            .copy_in(
                "COPY events (user_id, item_id, type, value, timestamp, recommendation_id,
                              position, quantity, price, basket) FROM STDIN (FORMAT binary)",
            )
            .await?;
        let types = [
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::FLOAT8,
            Type::INT8,
            Type::TEXT,
            Type::INT8,
            Type::FLOAT8,
            Type::FLOAT8,
            Type::TEXT,
        ];
        let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
        for e in events {
            let position = e.position.map(i64::from);
            writer
                .as_mut()
                .write(&[
                    &e.user_id,
                    &e.item_id,
                    &e.kind,
                    &e.value,
                    &e.timestamp,
                    &e.recommendation_id,
                    &position,
                    &e.quantity,
                    &e.price,
                    &e.basket,
                ])
                .await?;
        }
        let written = writer.as_mut().finish().await?;
        tx.commit().await?;
        Ok(written)
    }

    /// `sql` with `params` on a pooled connection, its statement prepared once per
    /// connection (a plain `query` would parse it again on every call: one more round trip).
    async fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }

    /// [`rows`](Self::rows) for a statement that writes: how many rows it changed.
    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.execute(&statement, params).await?)
    }

    /// [`rows`](Self::rows) for a statement answering exactly one row.
    async fn row(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query_one(&statement, params).await?)
    }

    /// The newest model version matching `condition` (on `$1` = `key`), with its bytes.
    async fn load_model(
        &self,
        condition: &str,
        key: &(dyn ToSql + Sync),
    ) -> Result<Option<StoredModel>> {
        let sql = format!(
            "SELECT {MODEL_INFO_COLUMNS}, bytes FROM models WHERE {condition}
             ORDER BY version DESC LIMIT 1"
        );
        let rows = self.rows(&sql, &[key]).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(whole_model(read_model_info(row)?, row.try_get(9)?)?))
    }
}

impl Store for PostgresStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn upsert_items(&self, items: &[Item]) -> Result<u64> {
        let mut encoded = Vec::with_capacity(items.len());
        for item in items {
            check_item(item)?;
            encoded.push((to_json(&item.categories)?, to_json(&item.attributes)?));
        }
        let updated_at = now();
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let version = next_catalogue_version(&tx).await?;
            let upsert = tx
                .prepare(
                    "INSERT INTO items
                        (id, title, categories, price, available, created_at, attributes,
                         updated_at, changed)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (id) DO UPDATE SET
                        title = excluded.title, categories = excluded.categories,
                        price = excluded.price, available = excluded.available,
                        created_at = excluded.created_at, attributes = excluded.attributes,
                        updated_at = excluded.updated_at, changed = excluded.changed",
                )
                .await?;
            // Sent without waiting for each answer (pipelined), executed in order.
            try_join_all(
                items
                    .iter()
                    .zip(&encoded)
                    .map(|(item, (categories, attributes))| {
                        let params: [&(dyn ToSql + Sync); 9] = [
                            &item.id,
                            &item.title,
                            categories,
                            &item.price,
                            &item.available,
                            &item.created_at,
                            attributes,
                            &updated_at,
                            &version,
                        ];
                        tx.execute_raw(&upsert, params)
                    }),
            )
            .await?;
            let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
            tx.execute("DELETE FROM deleted_items WHERE id = ANY($1)", &[&ids])
                .await?;
            tx.commit().await?;
            Ok(items.len() as u64)
        })
    }

    fn item(&self, id: &str) -> Result<Option<Item>> {
        Ok(self.get_items(&[id])?.pop())
    }

    fn get_items(&self, ids: &[&str]) -> Result<Vec<Item>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items i
             JOIN UNNEST($1::text[]) WITH ORDINALITY AS asked(id, n) USING (id)
             ORDER BY asked.n"
        );
        let rows = self.run(self.rows(&sql, &[&ids]))?;
        rows.iter().map(|r| Ok(read_item(r)?.1)).collect()
    }

    fn delete_item(&self, id: &str) -> Result<()> {
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            if tx
                .execute("DELETE FROM items WHERE id = $1", &[&id])
                .await?
                == 0
            {
                return Err(StoreError::UnknownItem(id.to_string()));
            }
            let version = next_catalogue_version(&tx).await?;
            tx.execute(
                "INSERT INTO deleted_items (id, changed) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET changed = excluded.changed",
                &[&id, &version],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn list_items(&self, after: Option<Cursor>, limit: usize) -> Result<Page<Item>> {
        check_limit(limit)?;
        let rows = self.run(self.rows(
            &format!("SELECT {ITEM_COLUMNS} FROM items WHERE seq > $1 ORDER BY seq LIMIT $2"),
            &[&after.map_or(0, |c| c.0), &(limit as i64 + 1)],
        ))?;
        page(rows, limit, read_item)
    }

    fn catalogue_version(&self) -> Result<i64> {
        let row = self.run(self.row("SELECT value FROM counters WHERE name = 'catalogue'", &[]))?;
        Ok(row.try_get(0)?)
    }

    fn catalogue_changes(&self, since: i64) -> Result<CatalogueChanges> {
        // The version is read first: a write committed between the two reads is reported
        // again next time, which a follower applies harmlessly.
        let version = self.catalogue_version()?;
        self.run(async {
            let rows = self
                .rows(
                    "SELECT id FROM items WHERE changed > $1
                     UNION ALL SELECT id FROM deleted_items WHERE changed > $1",
                    &[&since],
                )
                .await?;
            let changed = rows
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            Ok(CatalogueChanges { changed, version })
        })
    }

    fn upsert_users(&self, users: &[User]) -> Result<u64> {
        let mut encoded = Vec::with_capacity(users.len());
        for user in users {
            check_user(user)?;
            encoded.push(to_json(&user.attributes)?);
        }
        let updated_at = now();
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let upsert = tx
                .prepare(
                    "INSERT INTO users (id, attributes, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET
                        attributes = excluded.attributes, updated_at = excluded.updated_at",
                )
                .await?;
            // Sent without waiting for each answer (pipelined), executed in order.
            try_join_all(users.iter().zip(&encoded).map(|(user, attributes)| {
                let params: [&(dyn ToSql + Sync); 3] = [&user.id, attributes, &updated_at];
                tx.execute_raw(&upsert, params)
            }))
            .await?;
            let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
            tx.execute("DELETE FROM deleted_users WHERE id = ANY($1)", &[&ids])
                .await?;
            tx.commit().await?;
            Ok(users.len() as u64)
        })
    }

    fn user(&self, id: &str) -> Result<Option<User>> {
        let rows = self.run(self.rows(
            "SELECT seq, id, attributes FROM users WHERE id = $1",
            &[&id],
        ))?;
        rows.first().map(|r| Ok(read_user(r)?.1)).transpose()
    }

    fn delete_user(&self, id: &str, erase_events: bool) -> Result<DeletedUser> {
        check_id("user id", id)?;
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let record = tx
                .execute("DELETE FROM users WHERE id = $1", &[&id])
                .await?
                > 0;
            let events = if erase_events {
                tx.execute("DELETE FROM events WHERE user_id = $1", &[&id])
                    .await?
            } else {
                0
            };
            if !record && events == 0 {
                return Err(StoreError::UnknownUser(id.to_string()));
            }
            tx.execute(
                "INSERT INTO deleted_users (id, last_event)
                 VALUES ($1, (SELECT coalesce(max(id), 0) FROM events))
                 ON CONFLICT (id) DO UPDATE SET last_event = excluded.last_event",
                &[&id],
            )
            .await?;
            tx.commit().await?;
            Ok(DeletedUser { record, events })
        })
    }

    fn user_deleted(&self, id: &str) -> Result<bool> {
        let row = self.run(self.row(USER_DELETED_SQL, &[&id]))?;
        Ok(row.try_get(0)?)
    }

    fn user_history(&self, user_id: &str, limit: usize) -> Result<(Vec<StoredEvent>, bool)> {
        check_limit(limit)?;
        let limit = limit as i64;
        let params: [&(dyn ToSql + Sync); 2] = [&user_id, &limit];
        let sql = USER_HISTORY_SQL.as_str();
        let rows = match self.direct.query(sql, &params) {
            Some(rows) => rows?,
            None => self.run(self.rows(sql, &params))?,
        };
        // Every row carries the flag; a user without events gets one row of NULL events.
        let deleted = match rows.first() {
            Some(row) => row.try_get::<_, bool>(EVENT_COLUMN_COUNT)?,
            None => false,
        };
        let mut events = rows
            .iter()
            .filter(|row| matches!(row.try_get::<_, Option<i64>>(0), Ok(Some(_))))
            .map(read_event)
            .collect::<Result<Vec<_>>>()?;
        events.reverse();
        Ok((events, deleted))
    }

    fn list_users(&self, after: Option<Cursor>, limit: usize) -> Result<Page<User>> {
        check_limit(limit)?;
        let rows = self.run(self.rows(
            "SELECT seq, id, attributes FROM users WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&after.map_or(0, |c| c.0), &(limit as i64 + 1)],
        ))?;
        page(rows, limit, read_user)
    }

    fn append_events(&self, events: &[NewEvent<'_>]) -> Result<u64> {
        for (index, event) in events.iter().enumerate() {
            check_event(index, event)?;
        }
        if events.is_empty() {
            return Ok(0);
        }
        if events.len() >= COPY_FROM {
            return self.run(self.copy_events(events));
        }
        let users: Vec<&str> = events.iter().map(|e| e.user_id).collect();
        let items: Vec<&str> = events.iter().map(|e| e.item_id).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
        let values: Vec<Option<f64>> = events.iter().map(|e| e.value).collect();
        let timestamps: Vec<Option<i64>> = events.iter().map(|e| e.timestamp).collect();
        let recommendations: Vec<Option<&str>> =
            events.iter().map(|e| e.recommendation_id).collect();
        let positions: Vec<Option<i64>> =
            events.iter().map(|e| e.position.map(i64::from)).collect();
        let quantities: Vec<Option<f64>> = events.iter().map(|e| e.quantity).collect();
        let prices: Vec<Option<f64>> = events.iter().map(|e| e.price).collect();
        let baskets: Vec<Option<&str>> = events.iter().map(|e| e.basket).collect();
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            lock_event_ids(&tx).await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO events
                        (user_id, item_id, type, value, timestamp, recommendation_id, position,
                         quantity, price, basket)
                     SELECT u, i, t, v, ts, r, p, q, pr, b
                     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::float8[], $5::int8[],
                                 $6::text[], $7::int8[], $8::float8[], $9::float8[], $10::text[])
                          WITH ORDINALITY AS x(u, i, t, v, ts, r, p, q, pr, b, n)
                     ORDER BY n",
                )
                .await?;
            let stored = tx
                .execute(
                    &insert,
                    &[
                        &users,
                        &items,
                        &kinds,
                        &values,
                        &timestamps,
                        &recommendations,
                        &positions,
                        &quantities,
                        &prices,
                        &baskets,
                    ],
                )
                .await?;
            tx.commit().await?;
            Ok(stored)
        })
    }

    fn scan_events(
        &self,
        after: Option<EventId>,
        visit: &mut dyn FnMut(&StoredEvent),
    ) -> Result<ScanSummary> {
        let mut summary = ScanSummary::default();
        self.scan_rows(
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id"),
            &[&after.map_or(0, |a| a.0)],
            &mut |row| {
                let event = read_event(row)?;
                visit(&event);
                summary.events += 1;
                summary.last = Some(event.id);
                Ok(())
            },
        )?;
        Ok(summary)
    }

    fn user_events(&self, user_id: &str, limit: usize) -> Result<Vec<StoredEvent>> {
        check_limit(limit)?;
        let limit = limit as i64;
        let params: [&(dyn ToSql + Sync); 2] = [&user_id, &limit];
        let sql = USER_EVENTS_SQL.as_str();
        let rows = match self.direct.query(sql, &params) {
            Some(rows) => rows?,
            None => self.run(self.rows(sql, &params))?,
        };
        let mut events = rows.iter().map(read_event).collect::<Result<Vec<_>>>()?;
        events.reverse();
        Ok(events)
    }

    fn last_event_id(&self) -> Result<Option<EventId>> {
        let row = self.run(self.row("SELECT max(id) FROM events", &[]))?;
        Ok(row.try_get::<_, Option<i64>>(0)?.map(EventId))
    }

    fn events_per_day(&self) -> Result<Vec<DayCount>> {
        let rows = self.run(self.rows(
            "SELECT to_char(to_timestamp(timestamp) AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                            AS day, type, count(*),
                            coalesce(sum(CASE WHEN type IN ('purchase', 'return')
                                         THEN coalesce(value, coalesce(quantity, 1) * price, 0)
                                         ELSE 0 END), 0)::float8
                     FROM events
                     WHERE timestamp IS NOT NULL GROUP BY day, type ORDER BY day, type",
            &[],
        ))?;
        rows.iter()
            .map(|row| {
                Ok(DayCount {
                    day: row.try_get(0)?,
                    kind: row.try_get(1)?,
                    count: u64::try_from(row.try_get::<_, i64>(2)?).unwrap_or(0),
                    amount: row.try_get(3)?,
                })
            })
            .collect()
    }

    fn log_impressions(&self, impressions: &[Impression]) -> Result<u64> {
        for impression in impressions {
            check_id("recommendation id", &impression.recommendation_id)?;
        }
        if impressions.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = impressions
            .iter()
            .map(|i| i.recommendation_id.as_str())
            .collect();
        let users: Vec<Option<&str>> = impressions.iter().map(|i| i.user_id.as_deref()).collect();
        let models: Vec<&str> = impressions.iter().map(|i| i.model.as_str()).collect();
        let versions: Vec<i64> = impressions.iter().map(|i| i.model_version).collect();
        let experiments: Vec<Option<&str>> = impressions
            .iter()
            .map(|i| i.experiment.as_deref())
            .collect();
        let variants: Vec<Option<&str>> =
            impressions.iter().map(|i| i.variant.as_deref()).collect();
        let items = impressions
            .iter()
            .map(|i| to_json(&i.items))
            .collect::<Result<Vec<_>>>()?;
        let served: Vec<i64> = impressions.iter().map(|i| i.served_at).collect();
        self.run(self.execute(
            "INSERT INTO impressions (recommendation_id, user_id, model, model_version,
                        experiment, variant, items, served_at)
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[],
                                          $5::text[], $6::text[], $7::text[], $8::int8[])
                     ON CONFLICT (recommendation_id) DO NOTHING",
            &[
                &ids,
                &users,
                &models,
                &versions,
                &experiments,
                &variants,
                &items,
                &served,
            ],
        ))
    }

    fn experiment_impressions(
        &self,
        experiment: &str,
        since: i64,
        visit: &mut dyn FnMut(&Impression),
    ) -> Result<u64> {
        self.scan_rows(
            &format!(
                "SELECT {IMPRESSION_COLUMNS} FROM impressions
                 WHERE experiment = $1 AND served_at >= $2 ORDER BY served_at"
            ),
            &[&experiment, &since],
            &mut |row| {
                visit(&read_impression(row)?);
                Ok(())
            },
        )
    }

    fn impressions_by_id(&self, ids: &[&str], visit: &mut dyn FnMut(&Impression)) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.scan_rows(
            &format!(
                "SELECT {IMPRESSION_COLUMNS} FROM impressions
                 WHERE recommendation_id = ANY($1)"
            ),
            &[&ids],
            &mut |row| {
                visit(&read_impression(row)?);
                Ok(())
            },
        )
    }

    fn user_impressions(&self, user_id: &str, since: i64, limit: usize) -> Result<Vec<Impression>> {
        check_limit(limit)?;
        let rows = self.run(self.rows(
            &format!(
                "SELECT {IMPRESSION_COLUMNS} FROM impressions
                 WHERE user_id = $1 AND served_at >= $2 ORDER BY served_at DESC LIMIT $3"
            ),
            &[&user_id, &since, &(limit as i64)],
        ))?;
        rows.iter().map(read_impression).collect()
    }

    fn recent_impressions(
        &self,
        since: i64,
        limit: usize,
        visit: &mut dyn FnMut(&Impression),
    ) -> Result<u64> {
        self.scan_rows(
            &format!(
                "SELECT {IMPRESSION_COLUMNS} FROM impressions
                 WHERE served_at >= $1 ORDER BY served_at DESC LIMIT $2"
            ),
            &[&since, &sql_limit(limit)],
            &mut |row| {
                visit(&read_impression(row)?);
                Ok(())
            },
        )
    }

    fn delete_impressions_before(&self, before: i64, limit: usize) -> Result<u64> {
        self.run(async {
            self.execute(
                "DELETE FROM impressions WHERE recommendation_id IN
                    (SELECT recommendation_id FROM impressions WHERE served_at < $1 LIMIT $2)",
                &[&before, &sql_limit(limit)],
            )
            .await
        })
    }

    fn delete_events_before(&self, before: i64, limit: usize) -> Result<u64> {
        self.run(async {
            self.execute(
                "DELETE FROM events WHERE id IN
                    (SELECT id FROM events WHERE timestamp < $1 ORDER BY id LIMIT $2)",
                &[&before, &sql_limit(limit)],
            )
            .await
        })
    }

    fn put_placement(&self, placement: &PlacementRecord) -> Result<()> {
        check_id("placement name", &placement.name)?;
        let definition = to_json(&placement.definition)?;
        self.run(async {
            self.execute(
                "INSERT INTO placements (name, definition, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,
                                                  updated_at = excluded.updated_at",
                &[&placement.name, &definition, &placement.updated_at],
            )
            .await?;
            self.notify(Change::Placements).await;
            Ok(())
        })
    }

    fn delete_placement(&self, name: &str) -> Result<bool> {
        self.run(async {
            let deleted = self
                .execute("DELETE FROM placements WHERE name = $1", &[&name])
                .await?;
            if deleted > 0 {
                self.notify(Change::Placements).await;
            }
            Ok(deleted > 0)
        })
    }

    fn placements(&self) -> Result<Vec<PlacementRecord>> {
        let rows = self.run(self.rows(
            "SELECT name, definition, updated_at FROM placements ORDER BY name",
            &[],
        ))?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get(0)?;
                Ok(PlacementRecord {
                    definition: from_json(row.try_get(1)?, "placement definition", &name)?,
                    name,
                    updated_at: row.try_get(2)?,
                })
            })
            .collect()
    }

    fn create_experiment(&self, experiment: &ExperimentRecord) -> Result<()> {
        check_id("experiment name", &experiment.name)?;
        let definition = to_json(&experiment.definition)?;
        self.run(async {
            let inserted = self
                .execute(
                    "INSERT INTO experiments (name, definition, created_at, stopped_at,
                        first_event) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (name) DO NOTHING",
                    &[
                        &experiment.name,
                        &definition,
                        &experiment.created_at,
                        &experiment.stopped_at,
                        &experiment.first_event.0,
                    ],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists {
                    what: "experiment",
                    name: experiment.name.clone(),
                });
            }
            self.notify(Change::Experiments).await;
            Ok(())
        })
    }

    fn experiments(&self) -> Result<Vec<ExperimentRecord>> {
        let rows = self.run(self.rows(
            "SELECT name, definition, created_at, stopped_at, first_event
                     FROM experiments ORDER BY created_at, name",
            &[],
        ))?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get(0)?;
                Ok(ExperimentRecord {
                    definition: from_json(row.try_get(1)?, "experiment definition", &name)?,
                    name,
                    created_at: row.try_get(2)?,
                    stopped_at: row.try_get(3)?,
                    first_event: EventId(row.try_get(4)?),
                })
            })
            .collect()
    }

    fn stop_experiment(&self, name: &str, at: i64) -> Result<()> {
        self.run(async {
            let changed = self
                .execute(
                    "UPDATE experiments SET stopped_at = coalesce(stopped_at, $2) WHERE name = $1",
                    &[&name, &at],
                )
                .await?;
            if changed == 0 {
                return Err(StoreError::UnknownExperiment(name.to_string()));
            }
            self.notify(Change::Experiments).await;
            Ok(())
        })
    }

    fn counts(&self) -> Result<Counts> {
        self.run(async {
            let row = self
                .row(
                    "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM users),
                            (SELECT count(*) FROM events), (SELECT count(*) FROM models),
                            (SELECT count(*) FROM impressions)",
                    &[],
                )
                .await?;
            let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
            Ok(Counts {
                items: count(0),
                users: count(1),
                events: count(2),
                models: count(3),
                served_lists: count(4),
            })
        })
    }

    fn save_model(&self, meta: &ModelMeta, bytes: &[u8]) -> Result<ModelVersion> {
        check_model_meta(meta)?;
        let params = to_json(&meta.params)?;
        let metrics = to_json(&meta.metrics)?;
        let saved_at = now();
        self.run(async {
            let version: i64 = self
                .row(
                    "INSERT INTO models
                        (name, params, trained_at, metrics, format_version, size, saved_at,
                         bytes, last_event_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING version",
                    &[
                        &meta.name,
                        &params,
                        &meta.trained_at,
                        &metrics,
                        &i64::from(meta.format_version),
                        &(bytes.len() as i64),
                        &saved_at,
                        &bytes,
                        &meta.last_event_id.map(|e| e.0),
                    ],
                )
                .await?
                .get(0);
            self.notify(Change::Models).await;
            Ok(ModelVersion(version))
        })
    }

    fn latest_model(&self, name: &str) -> Result<Option<StoredModel>> {
        self.run(self.load_model("name = $1", &name))
    }

    fn model(&self, version: ModelVersion) -> Result<Option<StoredModel>> {
        self.run(self.load_model("version = $1", &version.0))
    }

    fn list_models(&self) -> Result<Vec<ModelInfo>> {
        let rows = self.run(self.rows(
            &format!("SELECT {MODEL_INFO_COLUMNS} FROM models ORDER BY version"),
            &[],
        ))?;
        rows.iter().map(read_model_info).collect()
    }

    fn save_tuning(&self, tuning: &NewTuning) -> Result<i64> {
        check_tuning(tuning)?;
        let (params, report) = (to_json(&tuning.params)?, to_json(&tuning.report)?);
        let row = self.run(self.row(
            "INSERT INTO tunings (model, weighting, params, metric, score, default_score,
                trials, seconds, report, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &tuning.model,
                &tuning.weighting,
                &params,
                &tuning.metric,
                &tuning.score,
                &tuning.default_score,
                &i64::from(tuning.trials),
                &tuning.seconds,
                &report,
                &now(),
            ],
        ))?;
        Ok(row.try_get(0)?)
    }

    fn latest_tuning(&self, model: &str) -> Result<Option<TuningRecord>> {
        let rows = self.run(self.rows(
            &format!(
                "SELECT {TUNING_COLUMNS} FROM tunings WHERE model = $1 ORDER BY id DESC LIMIT 1"
            ),
            &[&model],
        ))?;
        rows.first().map(read_tuning).transpose()
    }

    fn tunings(&self, limit: usize) -> Result<Vec<TuningRecord>> {
        check_limit(limit)?;
        let rows = self.run(self.rows(
            &format!("SELECT {TUNING_COLUMNS} FROM tunings ORDER BY id DESC LIMIT $1"),
            &[&(limit as i64)],
        ))?;
        rows.iter().map(read_tuning).collect()
    }

    /// Into an empty store, the history index is dropped before the load and built after it
    /// (even when the load fails part-way: what was committed stays, and is indexed). Lists
    /// served meanwhile by other replicas read histories without the index, more slowly.
    fn bulk_load(&self, load: &mut dyn FnMut() -> Result<u64>) -> Result<u64> {
        let empty: bool = self
            .run(self.row("SELECT NOT EXISTS (SELECT 1 FROM events)", &[]))?
            .try_get(0)?;
        if !empty {
            return load();
        }
        self.run(self.execute("DROP INDEX IF EXISTS events_by_user", &[]))?;
        let loaded = load();
        let rebuilt = self.run(self.execute(schema::EVENTS_BY_USER, &[]));
        let loaded = loaded?;
        rebuilt?;
        Ok(loaded)
    }

    fn serves_replicas(&self) -> bool {
        true
    }

    fn watch_changes(&self, listen: ChangeListener) -> Result<bool> {
        let runtime = self.runtime.as_ref().expect("runtime until drop");
        runtime.spawn(notices::listen(self.config.clone(), listen));
        Ok(true)
    }

    fn try_trainer_lock(&self) -> Result<Option<Box<dyn TrainerLock>>> {
        self.run(async {
            let client = self.client().await?;
            let granted: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&TRAINER_LOCK])
                .await?
                .get(0);
            // Out of the pool either way: a connection holding the lock must not serve
            // other calls, and one that does not is simply closed.
            let client = Object::take(client);
            Ok(granted
                .then(|| Box::new(PostgresTrainerLock { _client: client }) as Box<dyn TrainerLock>))
        })
    }
}

#[cfg(test)]
mod tests;
