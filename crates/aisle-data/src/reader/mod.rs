//! Streaming readers for events files: CSV/TSV with a header and a column mapping, header-less
//! positional files, JSON Lines, the MovieLens layouts, and gzip-compressed input of any of
//! these.
//!
//! A reader never interprets values: it finds the user, item, type, value and timestamp
//! fields of each row and hands them, as bytes, to a visitor (normally the
//! [`Cleaner`](crate::Cleaner)). Rows whose structure is broken (too few fields, invalid
//! JSON) are reported as [`Record::Malformed`] so they are counted, never silently lost.

mod columns;
mod input;
mod jsonl;
mod text;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) use columns::normalize as normalize_column_name;
pub use columns::{ColumnMap, ColumnRef, Positions, ROLES, Role};
pub use input::{ByteCounter, Input, trim_cr};

use crate::error::{DataError, Result};

/// The syntax of an events file, as given by the user (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Guess from the content: JSON Lines, MovieLens `::`, or a delimited table whose
    /// separator is the most frequent of tab, comma, semicolon and `|` in the first line.
    #[default]
    Auto,
    Csv,
    Tsv,
    Jsonl,
    /// MovieLens `u.data` (tab, no header), `ratings.dat` (`::`, no header) or `ratings.csv`
    /// (comma, header `userId,movieId,rating,timestamp`), recognised by content.
    MovieLens,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Format::Auto),
            "csv" => Ok(Format::Csv),
            "tsv" | "tab" => Ok(Format::Tsv),
            "jsonl" | "ndjson" | "json" => Ok(Format::Jsonl),
            "movielens" | "ml" => Ok(Format::MovieLens),
            other => Err(format!(
                "unknown format '{other}' (expected auto, csv, tsv, jsonl or movielens)"
            )),
        }
    }
}

/// How to read an events file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub format: Format,
    /// Which column holds what; unmapped roles are found by their usual names.
    pub columns: ColumnMap,
    /// `Some(true)`/`Some(false)` forces a header line to be expected or not; `None` guesses.
    pub header: Option<bool>,
}

/// The concrete syntax chosen for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Delimited { delimiter: u8, quoting: bool },
    DoubleColon,
    JsonLines,
}

impl std::fmt::Display for Syntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Syntax::Delimited {
                delimiter: b'\t', ..
            } => f.write_str("tab-separated"),
            Syntax::Delimited { delimiter, .. } => write!(f, "'{}'-separated", *delimiter as char),
            Syntax::DoubleColon => f.write_str("'::'-separated (MovieLens ratings.dat)"),
            Syntax::JsonLines => f.write_str("JSON Lines"),
        }
    }
}

/// One row's fields, as found in the file.
#[derive(Debug, Clone, Copy)]
pub struct RawRow<'a> {
    /// 1-based line on which the row starts.
    pub line: u64,
    pub user: &'a [u8],
    pub item: &'a [u8],
    /// `None` when the file has no type column.
    pub kind: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp: Option<&'a [u8]>,
    /// The basket (order, invoice, session) id; `None` when the file has no basket column.
    pub basket: Option<&'a [u8]>,
    pub quantity: Option<&'a [u8]>,
    pub price: Option<&'a [u8]>,
}

impl<'a> RawRow<'a> {
    /// A row with only a user and an item (tests, callers that build rows themselves).
    pub fn new(line: u64, user: &'a [u8], item: &'a [u8]) -> Self {
        RawRow {
            line,
            user,
            item,
            kind: None,
            value: None,
            timestamp: None,
            basket: None,
            quantity: None,
            price: None,
        }
    }
}

/// What a reader hands its visitor for each data row.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    Row(RawRow<'a>),
    /// A row whose structure is broken: fewer fields than the mapped columns need, or a JSON
    /// line that is not an object.
    Malformed {
        line: u64,
    },
}

/// What was found out about a file while reading it.
#[derive(Debug, Clone)]
pub struct FileLayout {
    pub syntax: Syntax,
    pub header: bool,
    /// The column (or JSON key) used for each role, for the report.
    pub columns: Vec<(Role, String)>,
}

/// Reads every row of `path`, calling `visit` for each. Stops early with
/// [`DataError::Cancelled`] when `cancel` is set.
pub fn read_events(
    path: &Path,
    options: &ReadOptions,
    counter: &ByteCounter,
    cancel: Option<&AtomicBool>,
    visit: impl FnMut(Record<'_>),
) -> Result<FileLayout> {
    let input = Input::open(path, counter)?;
    input.check_text()?;
    let syntax = choose_syntax(&input, options.format)?;
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    match syntax {
        Syntax::JsonLines => jsonl::read(input, &options.columns, cancelled, visit),
        _ => text::read(input, syntax, options, cancelled, visit),
    }
}

fn choose_syntax(input: &Input, format: Format) -> Result<Syntax> {
    let first = input.first_line();
    let delimited = |delimiter: u8| Syntax::Delimited {
        delimiter,
        quoting: delimiter != b'\t',
    };
    Ok(match format {
        Format::Csv => delimited(b','),
        Format::Tsv => delimited(b'\t'),
        Format::Jsonl => Syntax::JsonLines,
        Format::MovieLens => {
            if contains(first, b"::") {
                Syntax::DoubleColon
            } else if first.contains(&b'\t') {
                delimited(b'\t')
            } else {
                delimited(b',')
            }
        }
        Format::Auto => {
            let trimmed = first.trim_ascii_start();
            if trimmed.starts_with(b"{") {
                Syntax::JsonLines
            } else if contains(first, b"::") {
                Syntax::DoubleColon
            } else {
                let counts = [b'\t', b',', b';', b'|']
                    .map(|d| (first.iter().filter(|&&b| b == d).count(), d));
                let (count, delimiter) = counts
                    .iter()
                    .copied()
                    .max_by_key(|&(n, _)| n)
                    .unwrap_or((0, b','));
                if count == 0 {
                    return Err(DataError::Header {
                        path: input.path.clone(),
                        line: 1,
                        message: format!(
                            "found a single column ('{}'): is the separator one of tab, comma, \
                             semicolon, '|' or '::'? Otherwise name it with --format",
                            String::from_utf8_lossy(&first[..first.len().min(80)])
                        ),
                    });
                }
                delimited(delimiter)
            }
        }
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
