//! Reads on the serving hot path over connections whose socket the waiting thread drives.
//!
//! A pooled connection's I/O runs on the store runtime's worker threads: a query wakes a
//! worker to send it, and the worker wakes the caller with the answer — two thread
//! hand-offs per read beside the database's own work. For a user's history, read once per
//! list, those hand-offs were a third of a list's time (PostgreSQL lists ran at 0.7× the
//! throughput of SQLite's at four connections, with a core idle). A direct connection is
//! polled by the thread that waits for its answer, on a current-thread runtime of its own
//! (as the synchronous `postgres` crate does): the caller sends, sleeps on the socket and
//! reads the answer itself.
//!
//! At most [`MAX_DIRECT`] are open; a caller finding none idle and the limit reached uses
//! the pool instead. A connection that fails is dropped, and the next caller opens another.
//! Must not be used from inside an async task (a runtime cannot block inside another): the
//! store's callers are the server's blocking pool, commands and tests.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::{Either, select};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use crate::error::{Result, StoreError};

/// Direct connections open at most, per store: one per core is enough to keep the
/// database busy; more would only add backends.
const MAX_DIRECT: usize = 8;

type Driver = Pin<Box<dyn Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send>>;

/// One connection and the runtime its socket is registered with.
struct Direct {
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// The connection's own future: polled beside every query, it does the socket's I/O.
    driver: Driver,
    statements: HashMap<&'static str, Statement>,
}

/// The direct connections of one store.
pub(super) struct DirectConnections {
    config: Config,
    idle: Mutex<Vec<Direct>>,
    open: AtomicUsize,
}

impl std::fmt::Debug for DirectConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectConnections")
            .field("open", &self.open.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl DirectConnections {
    pub(super) fn new(mut config: Config) -> Self {
        // The hot read's plan never depends on its parameters (an index range of one user,
        // newest first), but left to itself the server plans it again for each execution
        // of the prepared statement: planning was most of its cost.
        let options = match config.get_options() {
            Some(options) => format!("{options} -c plan_cache_mode=force_generic_plan"),
            None => "-c plan_cache_mode=force_generic_plan".to_string(),
        };
        config.options(&options);
        DirectConnections {
            config,
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
        }
    }

    /// Runs `sql` (prepared once per connection) on a direct connection; `None` when every
    /// one allowed is busy.
    pub(super) fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Option<Result<Vec<Row>>> {
        let mut direct = match self.idle.lock().expect("direct connections").pop() {
            Some(direct) => direct,
            None => {
                if self.open.fetch_add(1, Ordering::SeqCst) >= MAX_DIRECT {
                    self.open.fetch_sub(1, Ordering::SeqCst);
                    return None;
                }
                match self.connect() {
                    Ok(direct) => direct,
                    Err(e) => {
                        self.open.fetch_sub(1, Ordering::SeqCst);
                        return Some(Err(e));
                    }
                }
            }
        };
        let answer = direct.query(sql, params);
        if answer.is_ok() {
            self.idle.lock().expect("direct connections").push(direct);
        } else {
            // Broken or not, a connection whose query failed is not trusted again.
            direct.close();
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
        Some(answer)
    }

    fn connect(&self) -> Result<Direct> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let (client, connection) = runtime.block_on(self.config.connect(NoTls))?;
        Ok(Direct {
            runtime,
            client,
            driver: Box::pin(connection),
            statements: HashMap::new(),
        })
    }
}

impl Drop for DirectConnections {
    fn drop(&mut self) {
        for direct in self.idle.get_mut().expect("direct connections").drain(..) {
            direct.close();
        }
    }
}

impl Direct {
    /// Closes the connection without blocking: a store may be dropped on any thread, an
    /// async one included, where dropping a runtime the usual way would panic.
    fn close(self) {
        let Direct {
            runtime,
            client,
            driver,
            statements,
        } = self;
        drop((statements, client, driver));
        runtime.shutdown_background();
    }

    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let Direct {
            runtime,
            client,
            driver,
            statements,
        } = self;
        runtime.block_on(async {
            let work = async {
                let statement = match statements.get(sql) {
                    Some(statement) => statement.clone(),
                    None => {
                        let statement = client.prepare(sql).await?;
                        statements.insert(sql, statement.clone());
                        statement
                    }
                };
                client.query(&statement, params).await
            };
            match select(Box::pin(work), driver.as_mut()).await {
                Either::Left((answer, _)) => Ok(answer?),
                // The connection ended before the answer came.
                Either::Right((ended, _)) => Err(match ended {
                    Err(e) => e.into(),
                    Ok(()) => StoreError::Unavailable("the connection to PostgreSQL closed".into()),
                }),
            }
        })
    }
}
