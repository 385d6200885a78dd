//! JSON Lines: one JSON object per line; keys found through the column map and aliases.

use serde_json::{Map, Value};

use super::columns::{ColumnMap, ColumnRef, ROLES, Role};
use super::input::Input;
use super::{FileLayout, RawRow, Record, Syntax};
use crate::error::{DataError, Result};

pub(super) fn read(
    input: Input,
    columns: &ColumnMap,
    cancelled: impl Fn() -> bool,
    mut visit: impl FnMut(Record<'_>),
) -> Result<FileLayout> {
    if columns.entries_positional() {
        return Err(DataError::InvalidOption(
            "--map positions do not apply to JSON Lines; name the keys (e.g. --map user=customer)"
                .into(),
        ));
    }
    let mut lines = input.lines();
    // Each role's key, fixed by the first object that has one (explicit map or alias).
    let mut keys: [Option<String>; ROLES] = Default::default();
    for role in Role::ALL {
        if let Some(ColumnRef::Name(name)) = columns.get(role) {
            keys[role as usize] = Some(name.clone());
        }
    }
    let mut texts: [String; ROLES] = Default::default();
    while let Some((line, text)) = lines.next_line()? {
        if line.is_multiple_of(65_536) && cancelled() {
            return Err(DataError::Cancelled);
        }
        let Ok(object) = serde_json::from_slice::<Map<String, Value>>(text) else {
            visit(Record::Malformed { line });
            continue;
        };
        for role in Role::ALL {
            if keys[role as usize].is_none() {
                keys[role as usize] = object
                    .keys()
                    .find(|k| Role::from_header(k) == Some(role))
                    .cloned();
            }
        }
        let mut present = [false; ROLES];
        for role in Role::ALL {
            let slot = role as usize;
            texts[slot].clear();
            if let Some(value) = keys[slot].as_ref().and_then(|k| object.get(k)) {
                present[slot] = scalar_text(value, &mut texts[slot]);
            }
        }
        let field = |role: Role| present[role as usize].then(|| texts[role as usize].as_bytes());
        let user = field(Role::User).unwrap_or_default();
        let item = field(Role::Item).unwrap_or_default();
        visit(Record::Row(RawRow {
            line,
            user,
            item,
            kind: field(Role::Type),
            value: field(Role::Value),
            timestamp: field(Role::Timestamp),
            basket: field(Role::Basket),
            quantity: field(Role::Quantity),
            price: field(Role::Price),
        }));
    }
    Ok(FileLayout {
        syntax: Syntax::JsonLines,
        header: false,
        columns: Role::ALL
            .into_iter()
            .filter_map(|role| keys[role as usize].clone().map(|k| (role, k)))
            .collect(),
    })
}

/// Writes a scalar's text into `out`; `false` for null, arrays and objects.
fn scalar_text(value: &Value, out: &mut String) -> bool {
    use std::fmt::Write;
    match value {
        Value::String(s) => out.push_str(s),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null | Value::Array(_) | Value::Object(_) => return false,
    }
    true
}
