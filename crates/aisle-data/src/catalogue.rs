//! The shop's catalogue (items with title, categories, price, availability, creation date and
//! free attributes) and its users (id and free attributes), read from CSV/TSV with a header,
//! JSON Lines, or MovieLens `u.item` / `movies.csv`.
//!
//! A row without an id is dropped and counted; a repeated id replaces the earlier row
//! (counted as `replaced`); a field that cannot be read (price, availability, date) is left
//! empty and counted, and the row is kept.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{DataError, Result};
use crate::ids::IdMap;
use crate::reader::{ByteCounter, Input, normalize_column_name};
use crate::time::parse_timestamp;

/// One catalogue item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default = "available_by_default")]
    pub available: bool,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

fn available_by_default() -> bool {
    true
}

/// One user with free attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

/// What reading a catalogue or users file did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordsReport {
    pub rows: u64,
    pub kept: u64,
    /// Rows dropped by reason (`missing_id`, `bad_id`, `malformed_row`), and `replaced` for
    /// repeated ids.
    pub dropped: BTreeMap<String, u64>,
    /// Fields left empty because they could not be read, by field name.
    pub bad_fields: BTreeMap<String, u64>,
    /// First lines for each reason or field.
    pub examples: BTreeMap<String, Vec<u64>>,
}

impl RecordsReport {
    fn note(&mut self, table: Table, key: &str, line: u64) {
        let counts = match table {
            Table::Dropped => &mut self.dropped,
            Table::BadField => &mut self.bad_fields,
        };
        *counts.entry(key.to_string()).or_default() += 1;
        let lines = self.examples.entry(key.to_string()).or_default();
        if lines.len() < crate::clean::EXAMPLE_LINES {
            lines.push(line);
        }
    }
}

#[derive(Clone, Copy)]
enum Table {
    Dropped,
    BadField,
}

/// The catalogue: items by dense index.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub ids: IdMap,
    pub items: Vec<Item>,
    pub report: RecordsReport,
}

impl Catalogue {
    pub fn get(&self, id: &str) -> Option<&Item> {
        self.ids.get(id).map(|i| &self.items[i as usize])
    }

    fn upsert(&mut self, item: Item, line: u64) {
        if crate::ids::check_id(&item.id).is_err() {
            return self.report.note(Table::Dropped, "bad_id", line);
        }
        let index = self.ids.intern(&item.id) as usize;
        if index < self.items.len() {
            self.report.note(Table::Dropped, "replaced", line);
            self.items[index] = item;
        } else {
            self.items.push(item);
        }
    }

    /// Reads an items file (CSV/TSV with a header, JSON Lines, MovieLens `u.item` or
    /// `movies.csv`).
    pub fn load(path: &Path) -> Result<Catalogue> {
        let mut catalogue = Catalogue::default();
        let input = Input::open(path, &ByteCounter::default())?;
        input.check_text()?;
        let first = input.first_line().to_vec();
        if first.trim_ascii_start().starts_with(b"{") {
            for_each_json(input, |line, object| match object {
                None => catalogue.report.note(Table::Dropped, "malformed_row", line),
                Some(object) => {
                    catalogue.report.rows += 1;
                    match item_from_json(object, line, &mut catalogue.report) {
                        Some(item) => catalogue.upsert(item, line),
                        None => catalogue.report.note(Table::Dropped, "missing_id", line),
                    }
                }
            })?;
        } else if is_movielens_items(&first) {
            read_movielens_items(input, &mut catalogue)?;
        } else {
            let mut table = HeaderTable::open(input, &ITEM_COLUMNS)?;
            while let Some((line, fields)) = table.next_row()? {
                catalogue.report.rows += 1;
                let Some(fields) = fields else {
                    catalogue.report.note(Table::Dropped, "malformed_row", line);
                    continue;
                };
                match table.item(&fields, line, &mut catalogue.report) {
                    Some(item) => catalogue.upsert(item, line),
                    None => catalogue.report.note(Table::Dropped, "missing_id", line),
                }
            }
        }
        catalogue.report.kept = catalogue.items.len() as u64;
        Ok(catalogue)
    }
}

/// Reads a users file (CSV/TSV with a header, or JSON Lines): the id and every other column
/// as an attribute. Repeated ids: the last row wins.
pub fn load_users(path: &Path) -> Result<(Vec<User>, RecordsReport)> {
    let mut report = RecordsReport::default();
    let mut ids = IdMap::new();
    let mut users: Vec<User> = Vec::new();
    let mut upsert = |user: User, line: u64, report: &mut RecordsReport| {
        if crate::ids::check_id(&user.id).is_err() {
            return report.note(Table::Dropped, "bad_id", line);
        }
        let index = ids.intern(&user.id) as usize;
        if index < users.len() {
            report.note(Table::Dropped, "replaced", line);
            users[index] = user;
        } else {
            users.push(user);
        }
    };
    let input = Input::open(path, &ByteCounter::default())?;
    input.check_text()?;
    if input.first_line().trim_ascii_start().starts_with(b"{") {
        for_each_json(input, |line, object| {
            report.rows += 1;
            let Some(mut object) = object else {
                return report.note(Table::Dropped, "malformed_row", line);
            };
            match take_id(&mut object, &["user_id", "userId", "id", "customer_id"]) {
                Some(id) => upsert(
                    User {
                        id,
                        attributes: object,
                    },
                    line,
                    &mut report,
                ),
                None => report.note(Table::Dropped, "missing_id", line),
            }
        })?;
    } else {
        let mut table = HeaderTable::open(input, &USER_COLUMNS)?;
        while let Some((line, fields)) = table.next_row()? {
            report.rows += 1;
            let Some(fields) = fields else {
                report.note(Table::Dropped, "malformed_row", line);
                continue;
            };
            let id = table.field(&fields, 0).unwrap_or_default().to_string();
            if id.is_empty() {
                report.note(Table::Dropped, "missing_id", line);
                continue;
            }
            upsert(
                User {
                    id,
                    attributes: table.extra_attributes(&fields),
                },
                line,
                &mut report,
            );
        }
    }
    report.kept = users.len() as u64;
    Ok((users, report))
}

/// Known columns of a table, each with its aliases (normalised: lower case, no `_`).
type Columns = [&'static [&'static str]];

const ITEM_COLUMNS: [&[&str]; 6] = [
    &[
        "itemid",
        "item",
        "id",
        "sku",
        "productid",
        "movieid",
        "articleid",
    ],
    &["title", "name", "productname"],
    &["categories", "category", "genres", "genre"],
    &["price", "amount"],
    &["available", "instock", "availability", "active"],
    &["createdat", "created", "publishedat", "releasedate", "date"],
];

const USER_COLUMNS: [&[&str]; 1] = [&["userid", "user", "id", "customerid", "visitorid"]];

/// A delimited table with a header, its known columns located.
struct HeaderTable {
    path: std::path::PathBuf,
    reader: csv::Reader<Box<dyn std::io::BufRead + Send>>,
    header: Vec<String>,
    known: Vec<Option<usize>>,
}

impl HeaderTable {
    fn open(input: Input, columns: &Columns) -> Result<HeaderTable> {
        let first = String::from_utf8_lossy(input.first_line()).into_owned();
        let delimiter = [b'\t', b',', b';', b'|']
            .into_iter()
            .max_by_key(|d| first.bytes().filter(|b| b == d).count())
            .unwrap_or(b',');
        let path = input.path.clone();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(input.reader);
        let mut record = csv::ByteRecord::new();
        reader
            .read_byte_record(&mut record)
            .map_err(|e| DataError::Io {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
        let header: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect();
        let known: Vec<Option<usize>> = columns
            .iter()
            .map(|aliases| {
                header
                    .iter()
                    .position(|h| aliases.contains(&normalize_column_name(h).as_str()))
            })
            .collect();
        if known[0].is_none() {
            return Err(DataError::Header {
                path,
                line: 1,
                message: format!(
                    "no id column found (expected one of {}; the header has: {})",
                    columns[0].join(", "),
                    header.join(", ")
                ),
            });
        }
        Ok(HeaderTable {
            path,
            reader,
            header,
            known,
        })
    }

    /// The next row's line and fields (`None` fields: a row shorter than the id column).
    #[allow(clippy::type_complexity)]
    fn next_row(&mut self) -> Result<Option<(u64, Option<Vec<String>>)>> {
        let mut record = csv::ByteRecord::new();
        loop {
            match self.reader.read_byte_record(&mut record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    return Err(DataError::Truncated {
                        path: self.path.clone(),
                        line,
                        source: std::io::Error::other(e),
                    });
                }
            }
            if record.len() == 1 && record[0].trim_ascii().is_empty() {
                continue;
            }
            let line = record.position().map_or(0, |p| p.line());
            let fields: Vec<String> = record.iter().map(latin1_or_utf8).collect();
            let id_column = self.known[0].expect("checked at open");
            return Ok(Some((line, (fields.len() > id_column).then_some(fields))));
        }
    }

    fn field<'f>(&self, fields: &'f [String], column: usize) -> Option<&'f str> {
        self.known[column]
            .and_then(|p| fields.get(p))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    fn extra_attributes(&self, fields: &[String]) -> Map<String, Value> {
        self.header
            .iter()
            .enumerate()
            .filter(|(p, _)| !self.known.contains(&Some(*p)))
            .filter_map(|(p, name)| {
                let value = fields.get(p)?.trim();
                (!value.is_empty()).then(|| (name.clone(), Value::from(value)))
            })
            .collect()
    }

    fn item(&self, fields: &[String], line: u64, report: &mut RecordsReport) -> Option<Item> {
        let id = self.field(fields, 0)?.to_string();
        let mut item = Item {
            id,
            title: self.field(fields, 1).unwrap_or_default().to_string(),
            categories: self
                .field(fields, 2)
                .map(split_categories)
                .unwrap_or_default(),
            available: true,
            attributes: self.extra_attributes(fields),
            ..Item::default()
        };
        if let Some(price) = self.field(fields, 3) {
            item.price = parse_price(price);
            if item.price.is_none() {
                report.note(Table::BadField, "price", line);
            }
        }
        if let Some(available) = self.field(fields, 4) {
            match parse_bool(available) {
                Some(b) => item.available = b,
                None => report.note(Table::BadField, "available", line),
            }
        }
        if let Some(created) = self.field(fields, 5) {
            item.created_at = parse_timestamp(created);
            if item.created_at.is_none() {
                report.note(Table::BadField, "created_at", line);
            }
        }
        Some(item)
    }
}

fn latin1_or_utf8(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

fn split_categories(text: &str) -> Vec<String> {
    text.split(['|', ';'])
        .map(str::trim)
        .filter(|c| !c.is_empty() && *c != "(no genres listed)")
        .map(String::from)
        .collect()
}

fn parse_price(text: &str) -> Option<f64> {
    text.trim_start_matches(['$', '€', '£'])
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p >= 0.0)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "t" | "in_stock" | "instock" => Some(true),
        "false" | "0" | "no" | "n" | "f" | "out_of_stock" | "outofstock" => Some(false),
        _ => None,
    }
}

fn take_id(object: &mut Map<String, Value>, keys: &[&str]) -> Option<String> {
    let key = keys.iter().find(|k| object.contains_key(**k))?;
    let id = match object.remove(*key)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!id.is_empty()).then_some(id)
}

fn item_from_json(
    mut object: Map<String, Value>,
    line: u64,
    report: &mut RecordsReport,
) -> Option<Item> {
    let id = take_id(
        &mut object,
        &["item_id", "itemId", "id", "sku", "product_id"],
    )?;
    let mut item = Item {
        id,
        available: true,
        ..Item::default()
    };
    if let Some(Value::String(title)) = object.remove("title") {
        item.title = title;
    }
    match object.remove("categories") {
        Some(Value::Array(list)) => {
            item.categories = list
                .into_iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        }
        Some(Value::String(text)) => item.categories = split_categories(&text),
        _ => {}
    }
    match object.remove("price") {
        None | Some(Value::Null) => {}
        Some(value) => {
            item.price = match &value {
                Value::Number(n) => n.as_f64().filter(|p| *p >= 0.0),
                Value::String(s) => parse_price(s),
                _ => None,
            };
            if item.price.is_none() {
                report.note(Table::BadField, "price", line);
            }
        }
    }
    match object.remove("available") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => item.available = b,
        Some(Value::String(s)) if parse_bool(&s).is_some() => item.available = parse_bool(&s)?,
        Some(_) => report.note(Table::BadField, "available", line),
    }
    match object.remove("created_at") {
        None | Some(Value::Null) => {}
        Some(value) => {
            item.created_at = match &value {
                Value::Number(n) => n.as_i64().and_then(|n| parse_timestamp(&n.to_string())),
                Value::String(s) => parse_timestamp(s),
                _ => None,
            };
            if item.created_at.is_none() {
                report.note(Table::BadField, "created_at", line);
            }
        }
    }
    if let Some(Value::Object(attributes)) = object.remove("attributes") {
        item.attributes = attributes;
    }
    item.attributes.extend(object);
    Some(item)
}

fn for_each_json(
    input: Input,
    mut visit: impl FnMut(u64, Option<Map<String, Value>>),
) -> Result<()> {
    let mut lines = input.lines();
    while let Some((line, text)) = lines.next_line()? {
        visit(line, serde_json::from_slice(text).ok());
    }
    Ok(())
}

/// The 19 genres of MovieLens 100K, in the order of `u.item`'s flag columns.
const MOVIELENS_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// `u.item`: `id|title|release date|video release date|IMDb URL|19 genre flags`, no header.
fn is_movielens_items(first_line: &[u8]) -> bool {
    let fields: Vec<&[u8]> = first_line.split(|&b| b == b'|').collect();
    fields.len() == 5 + MOVIELENS_GENRES.len()
        && fields[0].iter().all(u8::is_ascii_digit)
        && fields[5..].iter().all(|f| *f == b"0" || *f == b"1")
}

fn read_movielens_items(input: Input, catalogue: &mut Catalogue) -> Result<()> {
    let mut lines = input.lines();
    while let Some((line, text)) = lines.next_line()? {
        let text = latin1_or_utf8(text);
        catalogue.report.rows += 1;
        let fields: Vec<&str> = text.split('|').collect();
        if fields.len() != 5 + MOVIELENS_GENRES.len() {
            catalogue.report.note(Table::Dropped, "malformed_row", line);
            continue;
        }
        if fields[0].trim().is_empty() {
            catalogue.report.note(Table::Dropped, "missing_id", line);
            continue;
        }
        let released = fields[2].trim();
        let created_at = jiff::civil::Date::strptime("%d-%b-%Y", released)
            .ok()
            .and_then(|d| {
                jiff::tz::TimeZone::UTC
                    .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                    .ok()
            })
            .map(|t| t.as_second());
        if created_at.is_none() && !released.is_empty() {
            catalogue.report.note(Table::BadField, "created_at", line);
        }
        let mut attributes = Map::new();
        if !fields[4].trim().is_empty() {
            attributes.insert("url".into(), Value::from(fields[4].trim()));
        }
        let item = Item {
            id: fields[0].trim().to_string(),
            title: fields[1].trim().to_string(),
            categories: MOVIELENS_GENRES
                .iter()
                .zip(&fields[5..])
                .filter(|(_, flag)| flag.trim() == "1")
                .map(|(g, _)| g.to_string())
                .collect(),
            price: None,
            available: true,
            created_at,
            attributes,
        };
        catalogue.upsert(item, line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f
    }

    #[test]
    fn csv_items_with_bad_fields_and_replacements() {
        let f = file(
            b"item_id,title,categories,price,available,created_at,brand\n\
              i1,\"Lamp, blue\",home|lighting,19.90,true,2024-01-01T00:00:00Z,Acme\n\
              ,No id,home,1,true,,\n\
              i2,Mug,kitchen,cheap,maybe,never,\n\
              i1,Lamp v2,home,21,false,,Acme\n",
        );
        let c = Catalogue::load(f.path()).unwrap();
        assert_eq!(c.items.len(), 2);
        assert_eq!(c.report.rows, 4);
        assert_eq!(c.report.dropped["missing_id"], 1);
        assert_eq!(c.report.dropped["replaced"], 1);
        assert_eq!(c.report.bad_fields["price"], 1);
        assert_eq!(c.report.bad_fields["available"], 1);
        assert_eq!(c.report.bad_fields["created_at"], 1);
        let lamp = c.get("i1").unwrap();
        assert_eq!(lamp.title, "Lamp v2");
        assert!(!lamp.available);
        assert_eq!(lamp.attributes["brand"], "Acme");
        let mug = c.get("i2").unwrap();
        assert_eq!(mug.categories, vec!["kitchen"]);
        assert_eq!(mug.price, None);
    }

    #[test]
    fn jsonl_items_and_missing_id_column() {
        let f = file(
            b"{\"item_id\": \"a\", \"categories\": [\"x\", \"y\"], \"price\": 3.5, \"color\": \"red\"}\n\
              not json\n\
              {\"title\": \"no id\"}\n",
        );
        let c = Catalogue::load(f.path()).unwrap();
        assert_eq!(c.items.len(), 1);
        assert_eq!(c.items[0].categories, vec!["x", "y"]);
        assert_eq!(c.items[0].attributes["color"], "red");
        assert_eq!(c.report.dropped["malformed_row"], 1);
        assert_eq!(c.report.dropped["missing_id"], 1);
        let f = file(b"name,price\nlamp,3\n");
        let err = Catalogue::load(f.path()).unwrap_err().to_string();
        assert!(
            err.contains("line 1") && err.contains("no id column"),
            "{err}"
        );
    }

    #[test]
    fn users_file() {
        let f = file(b"user_id,country\nu1,DE\nu2,FR\n,XX\n");
        let (users, report) = load_users(f.path()).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].attributes["country"], "FR");
        assert_eq!(report.dropped["missing_id"], 1);
    }

    #[test]
    fn movielens_u_item_with_latin1() {
        let mut line =
            b"1|Caf\xe9 (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                .to_vec();
        line.extend_from_slice(
            b"2|GoldenEye (1995)|01-Jan-1995||http://y|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n",
        );
        let f = file(&line);
        let c = Catalogue::load(f.path()).unwrap();
        assert_eq!(c.items.len(), 2);
        assert_eq!(c.items[0].title, "Café (1995)");
        assert_eq!(
            c.items[0].categories,
            vec!["Animation", "Children's", "Comedy"]
        );
        assert_eq!(
            c.items[1].categories,
            vec!["Action", "Adventure", "Thriller"]
        );
        assert_eq!(c.items[1].created_at, Some(788_918_400));
    }
}
