//! Cleaning: turns raw rows into typed events and accounts for every row it drops.
//!
//! Per row, in this order: a broken row structure (`malformed_row`), an empty user
//! (`missing_user`) or item (`missing_item`), an id over 512 characters or holding `%` or a
//! NUL (`bad_id`), an unknown event type (`unknown_type`), a value
//! that is not a finite number (`bad_value`), a rating without a value (`missing_rating`) or
//! outside the declared scale (`rating_out_of_scale`), an unparsable timestamp
//! (`bad_timestamp`), an item missing from the catalogue when one is given (`unknown_item`).
//! Then over the whole file: exact duplicates (same user, item, type, value and timestamp;
//! the first is kept) and, optionally, iterative k-core filtering of users and items with too
//! few events (`below_min_user_count`, `below_min_item_count`).
//!
//! A **transactions** file (a shop's order lines: a basket column and a quantity) is read
//! with rules of its own ([`TransactionRules`], each switchable): every line is a `purchase`
//! of its quantity at its unit price; a cancelled basket or a negative quantity is a `return`
//! (kept, never a positive signal) or dropped (`return`); lines that are not products
//! (postage, fees, adjustments) are dropped (`non_product`), as are prices of zero or less
//! (`non_positive_price`), quantities of zero (`zero_quantity`) and outlier quantities with
//! the returns that cancel them (`outlier_quantity`); two spellings of one item id differing
//! only in case become one; lines without a user are kept as guest baskets (for basket
//! models), not as anyone's history. Rows kept but changed are counted as notes.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Event, GUEST, NO_BASKET};
use crate::event::{EventTypes, Kind, PURCHASE, RATING, RETURN};
use crate::ids::IdMap;
use crate::reader::Record;
use crate::time::parse_timestamp;

/// How many offending line numbers the report keeps per reason.
pub const EXAMPLE_LINES: usize = 5;

/// Why a row was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    MalformedRow,
    MissingUser,
    MissingItem,
    BadId,
    UnknownType,
    BadValue,
    MissingRating,
    RatingOutOfScale,
    BadTimestamp,
    UnknownItem,
    NonProduct,
    NonPositivePrice,
    ZeroQuantity,
    Return,
    OutlierQuantity,
    Duplicate,
    BelowMinUserCount,
    BelowMinItemCount,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::MalformedRow => "malformed_row",
            DropReason::MissingUser => "missing_user",
            DropReason::MissingItem => "missing_item",
            DropReason::BadId => "bad_id",
            DropReason::UnknownType => "unknown_type",
            DropReason::BadValue => "bad_value",
            DropReason::MissingRating => "missing_rating",
            DropReason::RatingOutOfScale => "rating_out_of_scale",
            DropReason::BadTimestamp => "bad_timestamp",
            DropReason::UnknownItem => "unknown_item",
            DropReason::NonProduct => "non_product",
            DropReason::NonPositivePrice => "non_positive_price",
            DropReason::ZeroQuantity => "zero_quantity",
            DropReason::Return => "return",
            DropReason::OutlierQuantity => "outlier_quantity",
            DropReason::Duplicate => "duplicate",
            DropReason::BelowMinUserCount => "below_min_user_count",
            DropReason::BelowMinItemCount => "below_min_item_count",
        }
    }

    /// A sentence for people, used by `aisle inspect`.
    pub fn describe(self) -> &'static str {
        match self {
            DropReason::MalformedRow => "row has too few fields or is not a JSON object",
            DropReason::MissingUser => "user id is missing or empty",
            DropReason::MissingItem => "item id is missing or empty",
            DropReason::BadId => "an id is over 512 characters or holds '%' or a NUL",
            DropReason::UnknownType => "event type is not known (declare it with a weight)",
            DropReason::BadValue => "value is not a finite number",
            DropReason::MissingRating => "rating event without a value",
            DropReason::RatingOutOfScale => "rating outside the declared scale",
            DropReason::BadTimestamp => "timestamp cannot be parsed",
            DropReason::UnknownItem => "item is not in the catalogue",
            DropReason::NonProduct => "not a product (postage, a fee, an adjustment)",
            DropReason::NonPositivePrice => "unit price of zero or less",
            DropReason::ZeroQuantity => "quantity of zero",
            DropReason::Return => "a return (cancelled basket or negative quantity)",
            DropReason::OutlierQuantity => {
                "quantity above the outlier threshold (or the return of one)"
            }
            DropReason::Duplicate => "exact duplicate of an earlier row",
            DropReason::BelowMinUserCount => "user has fewer events than the minimum",
            DropReason::BelowMinItemCount => "item has fewer events than the minimum",
        }
    }
}

/// A kept row that cleaning changed or set apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Note {
    /// Kept as a `return` (a cancelled basket or a negative quantity).
    Return,
    /// Its item id was written with other letter case elsewhere: one spelling now.
    CaseFolded,
    /// No user: kept in a guest basket, not in anyone's history.
    Guest,
}

impl Note {
    pub fn as_str(self) -> &'static str {
        match self {
            Note::Return => "return",
            Note::CaseFolded => "case_folded",
            Note::Guest => "guest",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Note::Return => "kept as a return: never a positive signal",
            Note::CaseFolded => {
                "item id spelled with other letter case elsewhere: one spelling now"
            }
            Note::Guest => "no user: kept as a guest basket, not as a user history",
        }
    }
}

/// How a file's lines were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Decide from the columns: a basket column with a quantity (or value) and no type
    /// column is a transactions file.
    #[default]
    Auto,
    /// Each line is an event (a view, a purchase, a rating, ...).
    Events,
    /// Each line is an order line: a purchase of a quantity at a unit price, in a basket.
    Transactions,
}

impl std::str::FromStr for FileKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(FileKind::Auto),
            "events" => Ok(FileKind::Events),
            "transactions" | "orders" => Ok(FileKind::Transactions),
            other => Err(format!(
                "unknown kind '{other}' (expected auto, events or transactions)"
            )),
        }
    }
}

/// What cleaning did to one file: every row is either kept or counted under one reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CleaningReport {
    /// How the lines were read (`events` or `transactions`) and why.
    #[serde(default)]
    pub kind: FileKind,
    /// A rating scale was declared, so values are ratings.
    #[serde(default)]
    pub declared_scale: bool,
    #[serde(default)]
    pub kind_reason: String,
    /// Data rows read (header and blank lines excluded).
    pub rows: u64,
    /// Rows kept as events.
    pub kept: u64,
    /// Rows dropped, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
    /// The first few line numbers dropped for each reason.
    pub examples: BTreeMap<DropReason, Vec<u64>>,
    /// Fields that were not valid UTF-8 and were read as Latin-1 (kept, not dropped).
    pub latin1_fields: u64,
    /// The first few lines holding such fields.
    pub latin1_examples: Vec<u64>,
    /// Kept rows that cleaning changed or set apart, by note.
    #[serde(default)]
    pub notes: BTreeMap<Note, u64>,
    /// The first few lines of each note.
    #[serde(default)]
    pub note_examples: BTreeMap<Note, Vec<u64>>,
    /// The first few item ids merged by case folding, as (spelling, the one kept).
    #[serde(default)]
    pub folded_ids: Vec<(String, String)>,
}

impl CleaningReport {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    fn drop_row(&mut self, reason: DropReason, line: u64) {
        *self.dropped.entry(reason).or_default() += 1;
        let examples = self.examples.entry(reason).or_default();
        if examples.len() < EXAMPLE_LINES {
            examples.push(line);
        }
    }

    fn note(&mut self, note: Note, line: u64) {
        *self.notes.entry(note).or_default() += 1;
        let examples = self.note_examples.entry(note).or_default();
        if examples.len() < EXAMPLE_LINES {
            examples.push(line);
        }
    }

    /// Adds another file's report (for a dataset read from several files).
    pub fn merge(&mut self, other: &CleaningReport) {
        self.rows += other.rows;
        for (note, count) in &other.notes {
            *self.notes.entry(*note).or_default() += count;
        }
        for (note, lines) in &other.note_examples {
            let mine = self.note_examples.entry(*note).or_default();
            mine.extend(lines.iter().take(EXAMPLE_LINES.saturating_sub(mine.len())));
        }
        self.kept += other.kept;
        self.latin1_fields += other.latin1_fields;
        for (reason, count) in &other.dropped {
            *self.dropped.entry(*reason).or_default() += count;
        }
        for (reason, lines) in &other.examples {
            let mine = self.examples.entry(*reason).or_default();
            mine.extend(lines.iter().take(EXAMPLE_LINES.saturating_sub(mine.len())));
        }
        self.latin1_examples.extend(
            other
                .latin1_examples
                .iter()
                .take(EXAMPLE_LINES.saturating_sub(self.latin1_examples.len())),
        );
    }
}

/// How to clean. Serialisable, so that a training process can be handed the options its
/// parent was given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CleaningOptions {
    pub event_types: EventTypes,
    /// Ratings outside `[min, max]` are dropped; `None` accepts any finite rating.
    pub rating_scale: Option<(f32, f32)>,
    /// Type given to rows of a file with no type column. `None`: `rating` when the row has a
    /// value, `view` otherwise.
    pub default_type: Option<String>,
    /// Drop exact duplicate rows (same user, item, type, value and timestamp).
    pub drop_duplicates: bool,
    /// Iterative k-core: users with fewer events are dropped, repeatedly with items.
    pub min_user_events: u32,
    /// Iterative k-core: items with fewer events are dropped, repeatedly with users.
    pub min_item_events: u32,
    /// How lines are read: decided from the columns by default.
    pub kind: FileKind,
    /// The rules of a transactions file.
    pub transactions: TransactionRules,
}

impl Default for CleaningOptions {
    fn default() -> Self {
        CleaningOptions {
            event_types: EventTypes::default(),
            rating_scale: None,
            default_type: None,
            drop_duplicates: true,
            min_user_events: 0,
            min_item_events: 0,
            kind: FileKind::Auto,
            transactions: TransactionRules::default(),
        }
    }
}

/// Which item ids are products (in a transactions file; others are dropped as
/// `non_product`). Serialised as its patterns' text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(into = "ProductPatterns", try_from = "ProductPatterns")]
pub enum Products {
    /// Ids holding at least one digit: a shop's codes for postage, fees and adjustments
    /// (`POST`, `DOT`, `M`, `BANK CHARGES`, `AMAZONFEE`, `CRUK`, ...) are words.
    #[default]
    WithADigit,
    /// Ids matching the pattern (`--product-pattern`).
    Matching(regex_lite::Regex),
    /// Ids matching none of the patterns (`--non-product`, repeatable).
    NotMatching(Vec<regex_lite::Regex>),
}

impl Products {
    pub fn is_product(&self, id: &str) -> bool {
        match self {
            Products::WithADigit => id.bytes().any(|b| b.is_ascii_digit()),
            Products::Matching(pattern) => pattern.is_match(id),
            Products::NotMatching(patterns) => !patterns.iter().any(|p| p.is_match(id)),
        }
    }
}

/// [`Products`] as text, for serde.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ProductPatterns {
    WithADigit,
    Matching(String),
    NotMatching(Vec<String>),
}

impl From<Products> for ProductPatterns {
    fn from(products: Products) -> Self {
        match products {
            Products::WithADigit => ProductPatterns::WithADigit,
            Products::Matching(pattern) => ProductPatterns::Matching(pattern.as_str().into()),
            Products::NotMatching(patterns) => ProductPatterns::NotMatching(
                patterns.iter().map(|p| p.as_str().to_string()).collect(),
            ),
        }
    }
}

impl TryFrom<ProductPatterns> for Products {
    type Error = regex_lite::Error;
    fn try_from(patterns: ProductPatterns) -> Result<Self, Self::Error> {
        Ok(match patterns {
            ProductPatterns::WithADigit => Products::WithADigit,
            ProductPatterns::Matching(pattern) => {
                Products::Matching(regex_lite::Regex::new(&pattern)?)
            }
            ProductPatterns::NotMatching(patterns) => Products::NotMatching(
                patterns
                    .iter()
                    .map(|p| regex_lite::Regex::new(p))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// The rules of a transactions file, each switchable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransactionRules {
    /// A basket id starting with this is a cancellation (empty: none is).
    pub cancel_prefix: String,
    /// Keep returns as `return` events (true) or drop them (`return`).
    pub keep_returns: bool,
    pub products: Products,
    /// Drop lines whose unit price is zero or less.
    pub drop_non_positive_prices: bool,
    /// Merge item ids that differ only in letter case into their most frequent spelling.
    pub fold_case: bool,
    /// Purchases above this quantile of all purchase quantities are outliers (dropped with
    /// the returns that cancel them); `None` keeps every quantity. Applied from 1,000
    /// purchases on.
    pub outlier_quantile: Option<f64>,
}

impl Default for TransactionRules {
    fn default() -> Self {
        TransactionRules {
            cancel_prefix: "C".into(),
            keep_returns: true,
            products: Products::default(),
            drop_non_positive_prices: true,
            fold_case: true,
            outlier_quantile: Some(0.9999),
        }
    }
}

/// Parses a rating scale written `MIN:MAX` (e.g. `1:5`, `0.5:5`).
pub fn parse_rating_scale(text: &str) -> Result<(f32, f32), String> {
    let (lo, hi) = text
        .split_once([':', ','])
        .ok_or_else(|| format!("rating scale '{text}' is not of the form MIN:MAX, e.g. 1:5"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("rating scale '{text}': '{s}' is not a number"))
    };
    let (lo, hi) = (parse(lo)?, parse(hi)?);
    if lo >= hi {
        return Err(format!(
            "rating scale '{text}': the minimum must be below the maximum"
        ));
    }
    Ok((lo, hi))
}

/// Whether an id's bytes break the id rules of [`crate::ids::check_id`] (checked on the
/// bytes, before any decoding or interning).
fn bad_id(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b == b'%' || b == 0)
        || (bytes.len() > crate::ids::MAX_ID_CHARS
            && String::from_utf8_lossy(bytes).chars().count() > crate::ids::MAX_ID_CHARS)
}

/// Receives rows from a reader and keeps the good ones as events.
#[derive(Debug)]
pub struct Cleaner {
    options: CleaningOptions,
    default_kind: Option<Kind>,
    users: IdMap,
    items: IdMap,
    baskets: IdMap,
    /// When set, items not in `items` are dropped rather than added.
    catalogue_only: bool,
    /// How lines are read; decided at the first row.
    kind: Option<FileKind>,
    events: Vec<Event>,
    report: CleaningReport,
    scratch: String,
}

impl Cleaner {
    pub fn new(options: CleaningOptions) -> Result<Self, String> {
        Self::continuing(options, IdMap::new(), IdMap::new())
    }

    /// A cleaner that extends existing id maps: for a test file that must share a training
    /// file's indices.
    pub fn continuing(
        options: CleaningOptions,
        users: IdMap,
        items: IdMap,
    ) -> Result<Self, String> {
        let default_kind = match &options.default_type {
            None => None,
            Some(name) => Some(options.event_types.lookup(name).ok_or_else(|| {
                format!(
                    "default type '{name}' is not a known event type (declare it with a weight)"
                )
            })?),
        };
        let report = CleaningReport {
            declared_scale: options.rating_scale.is_some(),
            ..CleaningReport::default()
        };
        Ok(Cleaner {
            options,
            default_kind,
            users,
            items,
            baskets: IdMap::new(),
            catalogue_only: false,
            kind: None,
            events: Vec::new(),
            report,
            scratch: String::new(),
        })
    }

    /// Restricts events to the items of a catalogue; others are dropped as `unknown_item`.
    pub fn with_catalogue(mut self, catalogue_items: &IdMap) -> Self {
        self.items = catalogue_items.clone();
        self.catalogue_only = true;
        self
    }

    /// Takes one record from a reader.
    pub fn visit(&mut self, record: Record<'_>) {
        self.report.rows += 1;
        let row = match record {
            Record::Malformed { line } => {
                return self.report.drop_row(DropReason::MalformedRow, line);
            }
            Record::Row(row) => row,
        };
        let line = row.line;
        match self.parse(row) {
            Ok(event) => self.events.push(event),
            Err(reason) => self.report.drop_row(reason, line),
        }
    }

    /// How the file's lines are read: the option, or decided from the first row's columns.
    fn decide_kind(&mut self, row: &crate::reader::RawRow<'_>) -> FileKind {
        if let Some(kind) = self.kind {
            return kind;
        }
        let (kind, reason) = match self.options.kind {
            FileKind::Auto
                if row.basket.is_some()
                    && (row.quantity.is_some() || row.value.is_some())
                    && row.kind.is_none() =>
            {
                (
                    FileKind::Transactions,
                    "a basket column with quantities and no event types; --kind events reads \
                     the lines as events",
                )
            }
            FileKind::Auto => (
                FileKind::Events,
                "event types, or no basket column with quantities",
            ),
            FileKind::Transactions => (FileKind::Transactions, "--kind transactions"),
            FileKind::Events => (FileKind::Events, "--kind events"),
        };
        self.kind = Some(kind);
        self.report.kind = kind;
        self.report.kind_reason = reason.into();
        kind
    }

    fn parse(&mut self, row: crate::reader::RawRow<'_>) -> Result<Event, DropReason> {
        let transactions = self.decide_kind(&row) == FileKind::Transactions;
        let rules = &self.options.transactions;
        let user_bytes = row.user.trim_ascii();
        let item_bytes = row.item.trim_ascii();
        let basket_bytes = row.basket.map(<[u8]>::trim_ascii).unwrap_or_default();
        // A line without a user still belongs to its basket (a guest checkout).
        let guest = user_bytes.is_empty() && !basket_bytes.is_empty();
        if user_bytes.is_empty() && !guest {
            return Err(DropReason::MissingUser);
        }
        if item_bytes.is_empty() {
            return Err(DropReason::MissingItem);
        }
        if (!guest && bad_id(user_bytes)) || bad_id(item_bytes) {
            return Err(DropReason::BadId);
        }
        if transactions
            && !rules
                .products
                .is_product(&String::from_utf8_lossy(item_bytes))
        {
            return Err(DropReason::NonProduct);
        }
        let number = |field: Option<&[u8]>| -> Result<Option<f32>, DropReason> {
            match field.map(<[u8]>::trim_ascii).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(bytes) => Ok(Some(
                    std::str::from_utf8(bytes)
                        .ok()
                        .and_then(|s| s.parse::<f32>().ok())
                        .filter(|v| v.is_finite())
                        .ok_or(DropReason::BadValue)?,
                )),
            }
        };
        // In an order file without a quantity column, the value is the quantity.
        let (quantity_field, value_field) = if transactions && row.quantity.is_none() {
            (row.value, None)
        } else {
            (row.quantity, row.value)
        };
        let quantity = number(quantity_field)?.unwrap_or(1.0);
        if quantity == 0.0 {
            return Err(DropReason::ZeroQuantity);
        }
        let value = number(value_field)?;
        let price = number(row.price)?;
        if transactions && rules.drop_non_positive_prices && price.is_some_and(|p| p <= 0.0) {
            return Err(DropReason::NonPositivePrice);
        }
        let cancelled = transactions
            && !rules.cancel_prefix.is_empty()
            && basket_bytes.starts_with(rules.cancel_prefix.as_bytes());
        let is_return = quantity < 0.0 || cancelled;
        if is_return && !rules.keep_returns {
            return Err(DropReason::Return);
        }
        let kind = match row.kind.map(<[u8]>::trim_ascii).filter(|k| !k.is_empty()) {
            _ if is_return => RETURN,
            _ if transactions => PURCHASE,
            Some(bytes) => {
                let name = std::str::from_utf8(bytes).map_err(|_| DropReason::UnknownType)?;
                self.options
                    .event_types
                    .lookup(name)
                    .ok_or(DropReason::UnknownType)?
            }
            None if row.kind.is_some() => return Err(DropReason::UnknownType),
            None => self
                .default_kind
                .unwrap_or(if value.is_some() { RATING } else { 0 }),
        };
        // Rows typed `return` go with the returns the rules recognise.
        if kind == RETURN && !rules.keep_returns {
            return Err(DropReason::Return);
        }
        if kind == RATING {
            let rating = value.ok_or(DropReason::MissingRating)?;
            if let Some((lo, hi)) = self.options.rating_scale
                && !(lo..=hi).contains(&rating)
            {
                return Err(DropReason::RatingOutOfScale);
            }
        }
        let timestamp = match row
            .timestamp
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty())
        {
            None => 0,
            Some(bytes) => std::str::from_utf8(bytes)
                .ok()
                .and_then(parse_timestamp)
                .ok_or(DropReason::BadTimestamp)?,
        };
        let item = {
            let id = self.text(item_bytes, row.line);
            let id = id.as_ref();
            if self.catalogue_only {
                self.items.get(id).ok_or(DropReason::UnknownItem)?
            } else {
                self.items.intern(id)
            }
        };
        let user = if guest {
            GUEST
        } else {
            let id = self.text(user_bytes, row.line);
            self.users.intern(id.as_ref())
        };
        let basket = if basket_bytes.is_empty() {
            NO_BASKET
        } else {
            let id = self.text(basket_bytes, row.line);
            self.baskets.intern(id.as_ref())
        };
        Ok(Event {
            user,
            item,
            timestamp,
            value: value.unwrap_or(f32::NAN),
            kind,
            line: u32::try_from(row.line).unwrap_or(u32::MAX),
            quantity: quantity.abs(),
            price: price.unwrap_or(f32::NAN),
            basket,
        })
    }

    /// An id as text: UTF-8 when valid, else decoded as Latin-1 (MovieLens and old shop
    /// exports have such bytes) and noted in the report.
    fn text<'b>(&mut self, bytes: &'b [u8], line: u64) -> std::borrow::Cow<'b, str> {
        match std::str::from_utf8(bytes) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => {
                self.report.latin1_fields += 1;
                if self.report.latin1_examples.len() < EXAMPLE_LINES {
                    self.report.latin1_examples.push(line);
                }
                self.scratch.clear();
                self.scratch.extend(bytes.iter().map(|&b| b as char));
                std::borrow::Cow::Owned(self.scratch.clone())
            }
        }
    }

    /// Applies the whole-file rules (case folding, outliers, duplicates, k-core) and returns
    /// the dataset.
    pub fn finish(mut self) -> Dataset {
        let transactions = self.kind == Some(FileKind::Transactions);
        let rules = self.options.transactions.clone();
        if transactions && rules.fold_case && !self.catalogue_only {
            self.fold_case();
        }
        if transactions && let Some(quantile) = rules.outlier_quantile {
            self.drop_outliers(quantile);
        }
        // Sorting by (user, item, timestamp, ...) puts exact duplicates side by side and is
        // the order the interaction matrix is built in anyway.
        let key = |e: &Event| {
            (
                e.user,
                e.item,
                e.timestamp,
                e.kind,
                e.value.to_bits(),
                e.basket,
                e.quantity.to_bits(),
                e.price.to_bits(),
            )
        };
        self.events.par_sort_unstable_by_key(|e| (key(e), e.line));
        if self.options.drop_duplicates {
            let report = &mut self.report;
            let mut previous: Option<Event> = None;
            self.events.retain(|e| {
                let duplicate = previous.is_some_and(|p| key(&p) == key(e));
                previous = Some(*e);
                if duplicate {
                    report.drop_row(DropReason::Duplicate, u64::from(e.line));
                }
                !duplicate
            });
        }
        self.apply_k_core();
        for e in &self.events {
            if e.user == GUEST {
                self.report.note(Note::Guest, u64::from(e.line));
            }
            if e.kind == RETURN {
                self.report.note(Note::Return, u64::from(e.line));
            }
        }
        self.report.kept = self.events.len() as u64;
        // Lines dropped late were found in sorted order; report the earliest ones.
        for lines in self
            .report
            .examples
            .values_mut()
            .chain(self.report.note_examples.values_mut())
        {
            lines.sort_unstable();
        }
        // Guests come last in the sort (their user is the largest index).
        let first_guest = self.events.partition_point(|e| e.user != GUEST);
        let guests = self.events.split_off(first_guest);
        Dataset::from_parts(
            self.users,
            self.items,
            self.baskets,
            self.options.event_types,
            self.events,
            guests,
            self.report,
        )
    }

    /// Merges item ids that differ only in letter case into their most frequent spelling.
    fn fold_case(&mut self) {
        let n = self.items.len();
        let mut counts = vec![0u32; n];
        for e in &self.events {
            counts[e.item as usize] += 1;
        }
        let mut spellings: std::collections::HashMap<String, Vec<u32>> = Default::default();
        for i in 0..n as u32 {
            spellings
                .entry(self.items.id(i).to_lowercase())
                .or_default()
                .push(i);
        }
        let mut canonical: Vec<u32> = (0..n as u32).collect();
        let mut groups: Vec<&Vec<u32>> = spellings.values().filter(|g| g.len() > 1).collect();
        if groups.is_empty() {
            return;
        }
        groups.sort_unstable_by_key(|g| g[0]);
        for group in groups {
            let keep = *group
                .iter()
                .max_by_key(|&&i| (counts[i as usize], std::cmp::Reverse(i)))
                .expect("a group has members");
            for &i in group.iter().filter(|&&i| i != keep) {
                canonical[i as usize] = keep;
                if self.report.folded_ids.len() < EXAMPLE_LINES {
                    self.report.folded_ids.push((
                        self.items.id(i).to_string(),
                        self.items.id(keep).to_string(),
                    ));
                }
            }
        }
        let mut folded = IdMap::new();
        let mut index = vec![u32::MAX; n];
        for i in 0..n as u32 {
            if canonical[i as usize] == i {
                index[i as usize] = folded.intern(self.items.id(i));
            }
        }
        for e in &mut self.events {
            let kept = canonical[e.item as usize];
            if kept != e.item {
                self.report.note(Note::CaseFolded, u64::from(e.line));
            }
            e.item = index[kept as usize];
        }
        self.items = folded;
    }

    /// Drops purchases above the outlier quantile of purchase quantities, and the returns of
    /// exactly those quantities (the cancellations that match them).
    fn drop_outliers(&mut self, quantile: f64) {
        let mut quantities: Vec<f32> = self
            .events
            .iter()
            .filter(|e| e.kind == PURCHASE)
            .map(|e| e.quantity)
            .collect();
        if quantities.len() < 1_000 {
            return;
        }
        quantities.sort_unstable_by(f32::total_cmp);
        let position = ((quantities.len() - 1) as f64 * quantile.clamp(0.0, 1.0)).round();
        let threshold = quantities[position as usize];
        let mut outliers = std::collections::HashSet::new();
        let report = &mut self.report;
        self.events.retain(|e| {
            let outlier = e.kind == PURCHASE && e.quantity > threshold;
            if outlier {
                outliers.insert((e.user, e.item, e.quantity.to_bits()));
                report.drop_row(DropReason::OutlierQuantity, u64::from(e.line));
            }
            !outlier
        });
        self.events.retain(|e| {
            let cancels =
                e.kind == RETURN && outliers.contains(&(e.user, e.item, e.quantity.to_bits()));
            if cancels {
                report.drop_row(DropReason::OutlierQuantity, u64::from(e.line));
            }
            !cancels
        });
    }

    fn apply_k_core(&mut self) {
        let (min_user, min_item) = (self.options.min_user_events, self.options.min_item_events);
        if min_user <= 1 && min_item <= 1 {
            return;
        }
        let mut user_counts = vec![0u32; self.users.len()];
        let mut item_counts = vec![0u32; self.items.len()];
        // Guests have no user to count: they keep their lines.
        for e in self.events.iter().filter(|e| e.user != GUEST) {
            user_counts[e.user as usize] += 1;
            item_counts[e.item as usize] += 1;
        }
        loop {
            let before = self.events.len();
            let report = &mut self.report;
            self.events.retain(|e| {
                if e.user == GUEST {
                    return true;
                }
                let reason = if user_counts[e.user as usize] < min_user {
                    DropReason::BelowMinUserCount
                } else if item_counts[e.item as usize] < min_item {
                    DropReason::BelowMinItemCount
                } else {
                    return true;
                };
                report.drop_row(reason, u64::from(e.line));
                false
            });
            if self.events.len() == before {
                break;
            }
            user_counts.iter_mut().for_each(|c| *c = 0);
            item_counts.iter_mut().for_each(|c| *c = 0);
            for e in self.events.iter().filter(|e| e.user != GUEST) {
                user_counts[e.user as usize] += 1;
                item_counts[e.item as usize] += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::RawRow;

    fn row<'a>(line: u64, fields: [&'a str; 5]) -> Record<'a> {
        let opt = |s: &'a str| Some(s.as_bytes());
        Record::Row(RawRow {
            line,
            user: fields[0].as_bytes(),
            item: fields[1].as_bytes(),
            kind: opt(fields[2]),
            value: opt(fields[3]),
            timestamp: opt(fields[4]),
            basket: None,
            quantity: None,
            price: None,
        })
    }

    #[test]
    fn each_reason_is_counted_once_and_good_rows_kept() {
        let options = CleaningOptions {
            rating_scale: Some((1.0, 5.0)),
            ..Default::default()
        };
        let mut cleaner = Cleaner::new(options).unwrap();
        let rows = [
            ["u1", "i1", "view", "", "100"],
            ["", "i1", "view", "", "100"],
            ["u1", "", "view", "", "100"],
            ["u1", "i1", "teleport", "", "100"],
            ["u1", "i1", "purchase", "abc", "100"],
            ["u1", "i1", "rating", "", "100"],
            ["u1", "i1", "rating", "9", "100"],
            ["u1", "i1", "view", "", "not-a-time"],
            ["u1", "i1", "view", "", "100"],
            ["u2", "i2", "rating", "4", "2024-01-01T00:00:00Z"],
        ];
        for (k, fields) in rows.iter().enumerate() {
            cleaner.visit(row(k as u64 + 2, *fields));
        }
        cleaner.visit(Record::Malformed { line: 20 });
        let dataset = cleaner.finish();
        let r = &dataset.report;
        assert_eq!(r.rows, 11);
        assert_eq!(r.kept, 2);
        let expect = [
            (DropReason::MissingUser, 3),
            (DropReason::MissingItem, 4),
            (DropReason::UnknownType, 5),
            (DropReason::BadValue, 6),
            (DropReason::MissingRating, 7),
            (DropReason::RatingOutOfScale, 8),
            (DropReason::BadTimestamp, 9),
            (DropReason::Duplicate, 10),
            (DropReason::MalformedRow, 20),
        ];
        for (reason, line) in expect {
            assert_eq!(r.dropped[&reason], 1, "{reason:?}");
            assert_eq!(r.examples[&reason], vec![line]);
        }
        assert_eq!(r.rows, r.kept + r.dropped_total());
    }

    #[test]
    fn ids_the_store_cannot_keep_are_dropped_as_bad() {
        let mut cleaner = Cleaner::new(CleaningOptions::default()).unwrap();
        for (k, (user, item)) in [("u%201", "i1"), ("u1", "i\u{0}"), ("u1", "i1")]
            .iter()
            .enumerate()
        {
            cleaner.visit(row(k as u64 + 2, [user, item, "view", "", "1"]));
        }
        let d = cleaner.finish();
        assert_eq!(d.report.kept, 1);
        assert_eq!(d.report.dropped[&DropReason::BadId], 2);
        assert_eq!(d.report.examples[&DropReason::BadId], [2, 3]);
        assert!(crate::ids::check_id("u 1").is_ok());
        assert!(crate::ids::check_id(&"x".repeat(513)).is_err());
    }

    #[test]
    fn k_core_is_iterative() {
        // u3 has one event; removing it leaves i3 with one event, which then goes too.
        let options = CleaningOptions {
            min_user_events: 2,
            min_item_events: 2,
            ..Default::default()
        };
        let mut cleaner = Cleaner::new(options).unwrap();
        let pairs = [
            ("u1", "i1"),
            ("u1", "i2"),
            ("u2", "i1"),
            ("u2", "i2"),
            ("u3", "i3"),
            ("u1", "i3"),
        ];
        for (k, (u, i)) in pairs.iter().enumerate() {
            cleaner.visit(row(k as u64 + 1, [u, i, "view", "", "1"]));
        }
        let d = cleaner.finish();
        assert_eq!(d.report.kept, 4);
        assert_eq!(d.report.dropped[&DropReason::BelowMinUserCount], 1);
        assert_eq!(d.report.dropped[&DropReason::BelowMinItemCount], 1);
    }

    #[test]
    fn latin1_ids_are_kept_and_noted() {
        let mut cleaner = Cleaner::new(CleaningOptions::default()).unwrap();
        cleaner.visit(Record::Row(RawRow::new(7, b"caf\xe9", b"i")));
        let d = cleaner.finish();
        assert_eq!(d.report.kept, 1);
        assert_eq!(d.report.latin1_fields, 1);
        assert_eq!(d.users.id(0), "café");
    }

    #[test]
    fn rating_scale_parsing() {
        assert_eq!(parse_rating_scale("0.5:5"), Ok((0.5, 5.0)));
        assert!(parse_rating_scale("5:1").is_err());
        assert!(parse_rating_scale("x").is_err());
    }

    #[test]
    fn cleaning_options_survive_json_with_their_product_patterns() {
        let mut options = CleaningOptions {
            min_user_events: 3,
            rating_scale: Some((1.0, 5.0)),
            ..CleaningOptions::default()
        };
        options.transactions.products =
            Products::NotMatching(vec![regex_lite::Regex::new("^POST$").unwrap()]);
        let text = serde_json::to_string(&options).unwrap();
        let back: CleaningOptions = serde_json::from_str(&text).unwrap();
        assert_eq!(back.min_user_events, 3);
        assert_eq!(back.rating_scale, Some((1.0, 5.0)));
        assert!(!back.transactions.products.is_product("POST"));
        assert!(back.transactions.products.is_product("POSTER"));
        // A pattern that does not compile is an error, not a silently different rule.
        let broken = text.replace("^POST$", "(");
        assert!(serde_json::from_str::<CleaningOptions>(&broken).is_err());
    }
}
