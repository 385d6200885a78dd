//! Throw-away PostgreSQL databases for tests: each test gets its own, dropped afterwards.
//!
//! The server is `AISLE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`,
//! the CI machine's). When none answers, [`TestDatabase::create`] prints why and returns
//! `None`, so the test skips — unless `AISLE_REQUIRE_POSTGRES=1` (`.ci/run` sets it), under
//! which it panics instead: a CI run must not pass by skipping.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

/// A database created for one test and dropped (with its connections) when this drops.
#[derive(Debug)]
pub struct TestDatabase {
    /// The connection URL of the new database.
    pub url: String,
    name: String,
    admin_url: String,
}

fn admin_url() -> String {
    std::env::var("AISLE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn required() -> bool {
    std::env::var("AISLE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// Runs `sql` (one or more statements) on the database at `url`, outside any store: for
/// tests that set a database up, or pull it from under a running server.
pub fn execute(url: &str, sql: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
        config.connect_timeout(std::time::Duration::from_secs(3));
        let (client, connection) = config.connect(NoTls).await.map_err(|e| format!("{e}"))?;
        let driver = tokio::spawn(connection);
        let result = client.batch_execute(sql).await.map_err(|e| format!("{e}"));
        drop(client);
        let _ = driver.await;
        result
    })
}

impl TestDatabase {
    /// A new empty database, or `None` (with the reason printed) when no server answers.
    ///
    /// # Panics
    /// When no server answers and `AISLE_REQUIRE_POSTGRES=1`.
    pub fn create() -> Option<TestDatabase> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_url = admin_url();
        let name = format!(
            "aisle_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        if let Err(reason) = execute(&admin_url, &format!("CREATE DATABASE {name}")) {
            let message = format!("no PostgreSQL to test against at {admin_url}: {reason}");
            if required() {
                panic!("{message} (AISLE_REQUIRE_POSTGRES=1: PostgreSQL tests must run)");
            }
            eprintln!("skipped: {message} (set AISLE_TEST_POSTGRES_URL to test PostgreSQL)");
            return None;
        }
        let url = match admin_url.rsplit_once('/') {
            Some((server, _database)) => format!("{server}/{name}"),
            None => format!("{admin_url}/{name}"),
        };
        Some(TestDatabase {
            url,
            name,
            admin_url,
        })
    }
}

impl TestDatabase {
    /// The database's name on its server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` on the server's admin database (to alter or cut this one), panicking on
    /// failure.
    pub fn on_server(&self, sql: &str) {
        if let Err(e) = execute(&self.admin_url, sql) {
            panic!("{sql}: {e}");
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = execute(&self.admin_url, &drop) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}
