//! Opening an input file: transparent gzip, a byte counter for progress bars, and a peek at
//! the head of the content for format sniffing.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;

use crate::error::{DataError, Result};

/// How many decompressed bytes are examined to guess a file's format.
const HEAD_BYTES: usize = 64 * 1024;
/// The longest first line read whole to find the columns (a longer one is read as data).
const MAX_FIRST_LINE: usize = 64 << 20;

/// Counts the bytes read from the file on disk (compressed bytes for gzip), so a progress bar
/// can compare them with the file size.
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    counter: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An opened input: its decompressed content as a buffered reader, the first bytes of that
/// content (also still in the reader) for sniffing, and its size on disk.
pub struct Input {
    pub path: PathBuf,
    pub reader: Box<dyn BufRead + Send>,
    /// The first bytes of the content (UTF-8 BOM removed), at most 64 KiB.
    pub head: Vec<u8>,
    /// Size of the file on disk.
    pub size: u64,
    pub gzip: bool,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl Input {
    /// Opens `path`, decompressing gzip (recognised by its magic bytes, not its name).
    pub fn open(path: &Path, counter: &ByteCounter) -> Result<Input> {
        let io_error = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        let size = file.metadata().map_err(io_error)?.len();
        let mut raw = BufReader::with_capacity(
            256 * 1024,
            Counting {
                inner: file,
                counter: counter.clone(),
            },
        );
        let gzip = raw.fill_buf().map_err(io_error)?.starts_with(&[0x1f, 0x8b]);
        let mut content: Box<dyn Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(raw))
        } else {
            Box::new(raw)
        };

        let mut head = Vec::with_capacity(HEAD_BYTES);
        // The head holds at least the first line whole (up to MAX_FIRST_LINE): a header of a
        // million columns is still recognised as one.
        loop {
            let before = head.len();
            (&mut content)
                .take(HEAD_BYTES as u64)
                .read_to_end(&mut head)
                .map_err(|source| {
                    if gzip {
                        DataError::Truncated {
                            path: path.to_path_buf(),
                            line: 0,
                            source,
                        }
                    } else {
                        io_error(source)
                    }
                })?;
            let at_end = head.len() - before < HEAD_BYTES;
            if at_end || head[before..].contains(&b'\n') || head.len() >= MAX_FIRST_LINE {
                break;
            }
        }
        if head.starts_with(b"\xEF\xBB\xBF") {
            head.drain(..3);
        }
        if head.iter().all(u8::is_ascii_whitespace) {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        let reader = BufReader::with_capacity(1 << 20, Cursor::new(head.clone()).chain(content));
        Ok(Input {
            path: path.to_path_buf(),
            reader: Box::new(reader),
            head,
            size,
            gzip,
        })
    }

    /// The first line of the content, without its line ending.
    pub fn first_line(&self) -> &[u8] {
        let end = self
            .head
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(self.head.len());
        trim_cr(&self.head[..end])
    }

    /// Rejects content that is clearly not text: NUL bytes or many control characters in
    /// the head.
    pub fn check_text(&self) -> Result<()> {
        let controls = self
            .head
            .iter()
            .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t'))
            .count();
        if self.head.contains(&0) || controls * 20 > self.head.len() {
            return Err(DataError::NotText {
                path: self.path.clone(),
                message: "this is not a text file (binary bytes in its first 64 KiB); \
                          expected CSV, TSV, JSON Lines or a MovieLens file, optionally gzipped"
                    .into(),
            });
        }
        Ok(())
    }
}

/// A line-by-line view of an [`Input`], for the line-based layouts (JSON Lines, `::`, `u.item`).
#[derive(Debug)]
pub struct Lines {
    input: Input,
    buffer: Vec<u8>,
    line: u64,
}

impl Input {
    pub fn lines(self) -> Lines {
        Lines {
            input: self,
            buffer: Vec::with_capacity(256),
            line: 0,
        }
    }
}

impl Lines {
    /// The next line that is not blank, without its line ending, and its 1-based number; `None`
    /// at the end. A read error (e.g. a truncated gzip stream) names the last line read.
    pub fn next_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        loop {
            self.buffer.clear();
            let n = self
                .input
                .reader
                .read_until(b'\n', &mut self.buffer)
                .map_err(|source| DataError::Truncated {
                    path: self.input.path.clone(),
                    line: self.line,
                    source,
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = trim_cr(self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer));
            if !text.trim_ascii().is_empty() {
                // Re-borrow: the borrow checker cannot see that `text` ends the loop.
                let len = text.len();
                return Ok(Some((self.line, &self.buffer[..len])));
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.input.path
    }
}

/// `line` without a trailing `\r`.
pub fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
