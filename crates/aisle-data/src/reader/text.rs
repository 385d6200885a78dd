//! Delimited text tables (CSV, TSV, `;`, `|`) through the `csv` crate, and MovieLens'
//! `::`-separated `ratings.dat` line by line.

use super::columns::{Positions, Role};
use super::input::Input;
use super::{FileLayout, RawRow, ReadOptions, Record, Syntax};
use crate::error::{DataError, Result};

pub(super) fn read(
    input: Input,
    syntax: Syntax,
    options: &ReadOptions,
    cancelled: impl Fn() -> bool,
    mut visit: impl FnMut(Record<'_>),
) -> Result<FileLayout> {
    let first_fields = split_first_line(&input, syntax);
    let header = options.header.unwrap_or_else(|| {
        if options.columns.is_positional() {
            false
        } else if options.columns.has_names() {
            true
        } else {
            let roles: Vec<Role> = first_fields
                .iter()
                .filter_map(|f| Role::from_header(f))
                .collect();
            roles.contains(&Role::User) && roles.contains(&Role::Item)
        }
    });
    let header_error = |message: String| DataError::Header {
        path: input.path.clone(),
        line: 1,
        message,
    };
    let positions = if header {
        options
            .columns
            .resolve_header(&first_fields)
            .map_err(header_error)?
    } else {
        options
            .columns
            .resolve_positional(first_fields.len())
            .map_err(header_error)?
    };
    let layout = FileLayout {
        syntax,
        header,
        columns: Role::ALL
            .into_iter()
            .filter_map(|role| {
                let p = positions[role as usize]?;
                let name = if header {
                    first_fields.get(p).cloned().unwrap_or_default()
                } else {
                    format!("column {}", p + 1)
                };
                Some((role, name))
            })
            .collect(),
    };
    match syntax {
        Syntax::Delimited { delimiter, quoting } => read_delimited(
            input, delimiter, quoting, header, positions, cancelled, &mut visit,
        )?,
        Syntax::DoubleColon => read_double_colon(input, header, positions, cancelled, &mut visit)?,
        Syntax::JsonLines => unreachable!("JSON Lines has its own reader"),
    }
    Ok(layout)
}

fn split_first_line(input: &Input, syntax: Syntax) -> Vec<String> {
    let line = input.first_line();
    let text = String::from_utf8_lossy(line);
    let fields: Vec<&str> = match syntax {
        Syntax::Delimited { delimiter, .. } => text.split(delimiter as char).collect(),
        Syntax::DoubleColon => text.split("::").collect(),
        Syntax::JsonLines => Vec::new(),
    };
    fields
        .into_iter()
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect()
}

/// The fields of a row for each role, or `None` if the row is too short for the mapping.
fn pick<'a>(
    line: u64,
    positions: &Positions,
    field: impl Fn(usize) -> Option<&'a [u8]>,
) -> Record<'a> {
    let get = |role: Role| positions[role as usize].map(&field);
    let (Some(Some(user)), Some(Some(item))) = (get(Role::User), get(Role::Item)) else {
        return Record::Malformed { line };
    };
    let optional = |role: Role| match get(role) {
        None => Ok(None),
        Some(Some(f)) => Ok(Some(f)),
        Some(None) => Err(()),
    };
    let row = || -> Result<RawRow<'a>, ()> {
        Ok(RawRow {
            line,
            user,
            item,
            kind: optional(Role::Type)?,
            value: optional(Role::Value)?,
            timestamp: optional(Role::Timestamp)?,
            basket: optional(Role::Basket)?,
            quantity: optional(Role::Quantity)?,
            price: optional(Role::Price)?,
        })
    };
    match row() {
        Ok(row) => Record::Row(row),
        Err(()) => Record::Malformed { line },
    }
}

fn read_delimited(
    input: Input,
    delimiter: u8,
    quoting: bool,
    header: bool,
    positions: Positions,
    cancelled: impl Fn() -> bool,
    visit: &mut impl FnMut(Record<'_>),
) -> Result<()> {
    let path = input.path.clone();
    let gzip = input.gzip;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(quoting)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(input.reader);
    let mut record = csv::ByteRecord::new();
    let mut last_line = 0u64;
    let mut first = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let source = match error.into_kind() {
                    csv::ErrorKind::Io(e) => e,
                    other => std::io::Error::other(format!("{other:?}")),
                };
                return Err(
                    if gzip || source.kind() == std::io::ErrorKind::UnexpectedEof {
                        DataError::Truncated {
                            path,
                            line: last_line,
                            source,
                        }
                    } else {
                        DataError::Io { path, source }
                    },
                );
            }
        }
        let line = record.position().map_or(last_line + 1, |p| p.line());
        last_line = line;
        if std::mem::take(&mut first) && header {
            continue;
        }
        if record.len() == 1 && record[0].trim_ascii().is_empty() {
            continue; // a blank line is not a row
        }
        if line.is_multiple_of(65_536) && cancelled() {
            return Err(DataError::Cancelled);
        }
        visit(pick(line, &positions, |p| record.get(p).map(trim_field)));
    }
    Ok(())
}

fn read_double_colon(
    input: Input,
    header: bool,
    positions: Positions,
    cancelled: impl Fn() -> bool,
    visit: &mut impl FnMut(Record<'_>),
) -> Result<()> {
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(8);
    let mut lines = input.lines();
    let mut first = true;
    while let Some((line, text)) = lines.next_line()? {
        if std::mem::take(&mut first) && header {
            continue;
        }
        if line.is_multiple_of(65_536) && cancelled() {
            return Err(DataError::Cancelled);
        }
        fields.clear();
        let mut start = 0;
        let mut k = 0;
        while k + 1 < text.len() {
            if text[k] == b':' && text[k + 1] == b':' {
                fields.push((start, k));
                start = k + 2;
                k += 2;
            } else {
                k += 1;
            }
        }
        fields.push((start, text.len()));
        visit(pick(line, &positions, |p| {
            fields.get(p).map(|&(a, b)| trim_field(&text[a..b]))
        }));
    }
    Ok(())
}

fn trim_field(field: &[u8]) -> &[u8] {
    field.trim_ascii()
}
