//! `aisle store copy`: one store's contents into another, empty one; `aisle store backup` and
//! `restore`: a SQLite store's online backup, and putting one back.

use anyhow::Result;

use aisle_store::Store;

use crate::cli::StoreCommand;
use crate::output::outln;

pub fn run(command: StoreCommand) -> Result<()> {
    match command {
        StoreCommand::Copy { from, to } => {
            let source = aisle_store::open(&from)?;
            let target = aisle_store::open(&to)?;
            let started = std::time::Instant::now();
            let report = aisle_store::copy(source.as_ref(), target.as_ref())?;
            outln!(
                "Copied {} to {} in {:.1} s: {} items, {} users, {} events, {} model versions, \
                 {} experiments ({} served lists), {} tunings, {} placements.",
                source.location(),
                target.location(),
                started.elapsed().as_secs_f64(),
                report.items,
                report.users,
                report.events,
                report.models,
                report.experiments,
                report.served_lists,
                report.tunings,
                report.placements
            );
            Ok(())
        }
        StoreCommand::Backup { db, out } => {
            anyhow::ensure!(
                db.exists(),
                "{}: no such store (a backup reads an existing SQLite store)",
                db.display()
            );
            let store = aisle_store::SqliteStore::open(&db)?;
            let started = std::time::Instant::now();
            let bytes = store.backup_to(&out)?;
            outln!(
                "Backed up {} to {} in {:.1} s ({:.1} MB): everything committed when the backup began.",
                db.display(),
                out.display(),
                started.elapsed().as_secs_f64(),
                bytes as f64 / 1e6
            );
            Ok(())
        }
        StoreCommand::Restore { from, db } => {
            // Opened first: a file that is not an Aisle store (or of a newer one) is refused
            // before anything is replaced.
            let backup = aisle_store::SqliteStore::open(&from)?;
            let counts = backup.counts()?;
            drop(backup);
            for suffix in ["-wal", "-shm"] {
                let side = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
                if side.exists() {
                    std::fs::remove_file(&side)?;
                }
            }
            std::fs::copy(&from, &db)?;
            outln!(
                "Restored {} from {}: {} items, {} users, {} events, {} model versions.",
                db.display(),
                from.display(),
                counts.items,
                counts.users,
                counts.events,
                counts.models
            );
            Ok(())
        }
    }
}
