//! Progress bars on a terminal; nothing at all when stderr is a pipe or a log file.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use aisle_data::ByteCounter;
use indicatif::{ProgressBar, ProgressStyle};

/// Whether progress should be drawn.
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar over the bytes of a file being read, updated from a background thread that polls
/// the reader's byte counter (so the reading loop pays nothing for it).
pub struct FileProgress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FileProgress {
    pub fn start(path: &Path, size: u64, counter: ByteCounter) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let thread = enabled().then(|| {
            let bar = ProgressBar::new(size).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_message(format!("reading {}", path.display()));
            let done = done.clone();
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    bar.set_position(counter.get());
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            })
        });
        FileProgress { done, thread }
    }

    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FileProgress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bar over a count of steps (epochs, folds, events written).
pub fn steps(total: u64, message: impl Into<String>) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    ProgressBar::new(total)
        .with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
                .expect("static template")
                .progress_chars("=> "),
        )
        .with_message(message.into())
}
