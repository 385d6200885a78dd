//! The catalogue read from the events file itself: a shop's order lines carry each item's
//! description and unit price, so `aisle import --items-from-events title=Description,
//! price=UnitPrice` needs no items file. Each item the cleaned dataset kept gets the title,
//! price and category of its latest line (by timestamp, then position in the file).

use std::path::Path;
use std::str::FromStr;

use rustc_hash::FxHashMap;

use crate::catalogue::Item;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::reader::{ByteCounter, Input, Role, Syntax, normalize_column_name};
use crate::time::parse_timestamp;

/// Which columns of the events file hold item fields: `title=Description,price=UnitPrice`
/// (also `category=...`). Left all unset (`auto`), they are found by their names: a title in
/// `description`, `title`, `name`, `product_name`; the price in the column read as the unit
/// price; a category in `category`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemColumns {
    pub title: Option<String>,
    pub price: Option<String>,
    pub category: Option<String>,
}

impl FromStr for ItemColumns {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        let mut columns = ItemColumns::default();
        if text.trim() == "auto" {
            return Ok(columns);
        }
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, column) = part.split_once('=').ok_or_else(|| {
                format!("--items-from-events entry '{part}' is not of the form field=column")
            })?;
            let slot = match field.trim() {
                "title" | "name" | "description" => &mut columns.title,
                "price" => &mut columns.price,
                "category" | "categories" => &mut columns.category,
                other => {
                    return Err(format!(
                        "--items-from-events: unknown field '{other}' (expected title, price or \
                         category)"
                    ));
                }
            };
            *slot = Some(column.trim().to_string());
        }
        if columns == ItemColumns::default() {
            return Err("--items-from-events names no column".into());
        }
        Ok(columns)
    }
}

/// The items of `dataset` with the fields of their latest line in `path` (the file the
/// dataset was read from; a delimited file with a header).
pub fn items_from_events(
    path: &Path,
    dataset: &Dataset,
    columns: &ItemColumns,
) -> Result<Vec<Item>> {
    let layout = dataset
        .layout
        .as_ref()
        .ok_or_else(|| DataError::InvalidOption("the dataset was not read from a file".into()))?;
    let Syntax::Delimited { delimiter, quoting } = layout.syntax else {
        return Err(DataError::InvalidOption(
            "--items-from-events reads delimited files (CSV, TSV) with a header".into(),
        ));
    };
    if !layout.header {
        return Err(DataError::InvalidOption(
            "--items-from-events needs a header line to find its columns".into(),
        ));
    }
    let column_of = |role: Role| {
        layout
            .columns
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, name)| name.clone())
    };
    let input = Input::open(path, &ByteCounter::default())?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(quoting)
        .flexible(true)
        .from_reader(input.reader);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| DataError::InvalidOption(format!("{}: {e}", path.display())))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h == name || normalize_column_name(h) == normalize_column_name(name))
    };
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            DataError::InvalidOption(format!(
                "--items-from-events: no column '{name}' (the header has: {})",
                header.join(", ")
            ))
        })
    };
    let item_column = need(&column_of(Role::Item).unwrap_or_default())?;
    let time_column = column_of(Role::Timestamp).and_then(|name| find(&name));
    let (title, price, category) = if *columns == ItemColumns::default() {
        let named = |names: &[&str]| {
            header
                .iter()
                .position(|h| names.contains(&normalize_column_name(h).as_str()))
        };
        (
            named(&["description", "title", "name", "productname", "itemname"]),
            column_of(Role::Price).and_then(|name| find(&name)),
            named(&["category", "categories", "productcategory"]),
        )
    } else {
        (
            columns.title.as_deref().map(need).transpose()?,
            columns.price.as_deref().map(need).transpose()?,
            columns.category.as_deref().map(need).transpose()?,
        )
    };

    // An item id as the dataset spells it: exactly, or with other letter case (folded).
    let folded: FxHashMap<String, u32> = (0..dataset.items.len() as u32)
        .map(|i| (dataset.items.id(i).to_lowercase(), i))
        .collect();
    let mut latest: Vec<Option<(i64, u64)>> = vec![None; dataset.items.len()];
    let mut items: Vec<Item> = (0..dataset.items.len() as u32)
        .map(|i| Item {
            id: dataset.items.id(i).to_string(),
            available: true,
            ..Item::default()
        })
        .collect();
    for (line, record) in reader.records().enumerate() {
        let Ok(record) = record else { continue };
        let Some(id) = record.get(item_column).map(str::trim) else {
            continue;
        };
        let Some(index) = dataset
            .items
            .get(id)
            .or_else(|| folded.get(&id.to_lowercase()).copied())
        else {
            continue;
        };
        let when = time_column
            .and_then(|c| record.get(c))
            .and_then(parse_timestamp)
            .unwrap_or(0);
        let key = (when, line as u64);
        let slot = &mut latest[index as usize];
        if slot.is_some_and(|seen| seen > key) {
            continue;
        }
        *slot = Some(key);
        let item = &mut items[index as usize];
        if let Some(text) = title.and_then(|c| record.get(c)).map(str::trim)
            && !text.is_empty()
        {
            item.title = text.to_string();
        }
        if let Some(p) = price
            .and_then(|c| record.get(c))
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|p| p.is_finite() && *p > 0.0)
        {
            item.price = Some(p);
        }
        if let Some(text) = category.and_then(|c| record.get(c)).map(str::trim)
            && !text.is_empty()
        {
            item.categories = vec![text.to_string()];
        }
    }
    Ok(items)
}
