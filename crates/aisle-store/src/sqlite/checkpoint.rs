//! The background checkpointer: copies the write-ahead log into the database file on a
//! connection and thread of its own, so the writer never stops to do it.
//!
//! Why: left to SQLite, the connection whose commit pushes the log past
//! `wal_autocheckpoint` pages copies it back before its commit returns. With live events a
//! commit rewrites a page per event (they land at random places of the events index), so at
//! 50,000 events/s that copy took over 100 ms, every few seconds, at the writer's p99. A
//! `PASSIVE` checkpoint here runs beside the writer (and beside readers) and never waits for
//! either; the writer's own threshold stays as a backstop, far above what this keeps the log
//! at.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often the log is copied: long enough that a page rewritten by many commits is copied
/// once, short enough that the log stays at a few tens of MB at 50,000 events/s.
const EVERY: Duration = Duration::from_millis(500);

/// A checkpointing thread, stopped (and joined) when dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Checkpoints `path`'s log every [`EVERY`]; a checkpoint that finds the log copied
    /// whole cuts its file back to `size_limit` bytes (`journal_size_limit`).
    pub(super) fn start(path: PathBuf, busy_timeout: Duration, size_limit: i64) -> Checkpointer {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("aisle-checkpoint".into())
            .spawn(move || {
                let Ok(conn) = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                ) else {
                    // The writer's own threshold still checkpoints.
                    return;
                };
                let _ = conn.busy_timeout(busy_timeout);
                let _ = conn.pragma_update(None, "journal_size_limit", size_limit);
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    // A failure (the file busy with another process's checkpoint) is
                    // retried at the next turn.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok();
        Checkpointer {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
