//! Turns the loose `EventsArgs` strings into validated reading and cleaning options, and loads
//! an events file with a progress bar.

use std::path::Path;

use aisle_data::{
    ByteCounter, Catalogue, Cleaner, CleaningOptions, ColumnMap, Dataset, DuplicatePolicy,
    EventTypes, Format, Products, ReadOptions, TransactionRules, Weighting, parse_rating_scale,
};
use anyhow::{Context, Result};

use crate::UsageError;
use crate::cli::EventsArgs;
use crate::progress::FileProgress;

/// The rules of order-line files, from `--cancel-prefix`, `--returns`, `--product-pattern`,
/// `--non-product`, `--keep-zero-prices`, `--keep-case` and `--outlier-quantile`.
fn transaction_rules(args: &EventsArgs) -> Result<TransactionRules, UsageError> {
    let pattern = |flag: &str, text: &str| {
        regex_lite::Regex::new(text)
            .map_err(|e| UsageError(format!("{flag} '{text}' is not a regular expression: {e}")))
    };
    let products = match (&args.product_pattern, args.non_product.is_empty()) {
        (Some(_), false) => {
            return Err(UsageError(
                "give --product-pattern or --non-product, not both".into(),
            ));
        }
        (Some(text), true) => Products::Matching(pattern("--product-pattern", text)?),
        (None, false) => Products::NotMatching(
            args.non_product
                .iter()
                .map(|p| pattern("--non-product", p))
                .collect::<Result<_, _>>()?,
        ),
        (None, true) => Products::WithADigit,
    };
    let keep_returns = match args.returns.as_str() {
        "keep" => true,
        "drop" => false,
        other => {
            return Err(UsageError(format!(
                "--returns '{other}': expected keep or drop"
            )));
        }
    };
    let outlier_quantile = match args.outlier_quantile {
        q if !(0.0..=1.0).contains(&q) => {
            return Err(UsageError(format!(
                "--outlier-quantile {q}: expected a number between 0 and 1 (1 keeps every quantity)"
            )));
        }
        q if q >= 1.0 => None,
        q => Some(q),
    };
    Ok(TransactionRules {
        cancel_prefix: args.cancel_prefix.clone(),
        keep_returns,
        products,
        drop_non_positive_prices: !args.keep_zero_prices,
        fold_case: !args.keep_case,
        outlier_quantile,
    })
}

/// Validated options for reading and cleaning (the default is what no flag gives).
#[derive(Debug, Clone, Default)]
pub struct EventsConfig {
    pub read: ReadOptions,
    pub clean: CleaningOptions,
    pub catalogue: Option<std::path::PathBuf>,
}

impl EventsConfig {
    pub fn from_args(args: &EventsArgs) -> Result<Self, UsageError> {
        let format: Format = args.format.parse().map_err(UsageError)?;
        let columns: ColumnMap = match &args.map {
            Some(text) => text.parse().map_err(UsageError)?,
            None => ColumnMap::default(),
        };
        let header = match (args.header, args.no_header) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let mut clean = CleaningOptions {
            rating_scale: args
                .rating_scale
                .as_deref()
                .map(parse_rating_scale)
                .transpose()
                .map_err(UsageError)?,
            default_type: args.default_type.clone(),
            drop_duplicates: !args.keep_duplicates,
            min_user_events: args.min_user_events,
            min_item_events: args.min_item_events,
            kind: args.kind.parse().map_err(UsageError)?,
            transactions: transaction_rules(args)?,
            ..CleaningOptions::default()
        };
        apply_weights(&args.weights, &mut clean.event_types)?;
        if let Some(name) = &clean.default_type
            && clean.event_types.lookup(name).is_none()
        {
            return Err(UsageError(format!(
                "--default-type '{name}' is not a known event type (declare it with --weight {name}=W)"
            )));
        }
        Ok(EventsConfig {
            read: ReadOptions {
                format,
                columns,
                header,
            },
            clean,
            catalogue: args.items.clone(),
        })
    }

    /// Reads and cleans `path`, drawing a progress bar on a terminal; with `--items`, events
    /// for items outside that catalogue are dropped.
    pub fn load(&self, path: &Path) -> Result<Dataset> {
        let catalogue = self.catalogue.as_deref().map(Catalogue::load).transpose()?;
        self.load_with_catalogue(path, catalogue.as_ref())
    }

    /// [`EventsConfig::load`] with a catalogue the caller already read (so it is read once).
    pub fn load_with_catalogue(
        &self,
        path: &Path,
        catalogue: Option<&Catalogue>,
    ) -> Result<Dataset> {
        let mut cleaner = Cleaner::new(self.clean.clone()).map_err(UsageError)?;
        if let Some(catalogue) = catalogue {
            cleaner = cleaner.with_catalogue(&catalogue.ids);
        }
        let counter = ByteCounter::default();
        let size = std::fs::metadata(path)
            .with_context(|| format!("{}: cannot read the file", path.display()))?
            .len();
        let progress = FileProgress::start(path, size, counter.clone());
        let dataset = Dataset::load_with(cleaner, path, &self.read, &counter, None);
        progress.finish();
        Ok(dataset?)
    }
}

/// Applies `--weight TYPE=W` entries to an event-type table.
pub fn apply_weights(entries: &[String], types: &mut EventTypes) -> Result<(), UsageError> {
    for entry in entries {
        let (name, weight) = entry
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--weight '{entry}' is not of the form TYPE=W")))?;
        let weight: f32 = weight
            .trim()
            .parse()
            .map_err(|_| UsageError(format!("--weight '{entry}': '{weight}' is not a number")))?;
        types.set_weight(name.trim(), weight).map_err(UsageError)?;
    }
    Ok(())
}

/// Parses `--weighting` and `--duplicates` (how events become matrix cells).
pub fn matrix_options(
    weighting: &str,
    duplicates: Option<&str>,
) -> Result<(Weighting, Option<DuplicatePolicy>), UsageError> {
    let weighting = weighting.parse().map_err(UsageError)?;
    let duplicates = duplicates.map(str::parse).transpose().map_err(UsageError)?;
    Ok((weighting, duplicates))
}

/// Parses `--set PARAM=VALUE` entries of one model into its parameter object.
pub fn parse_params(
    entries: &[String],
) -> Result<serde_json::Map<String, serde_json::Value>, UsageError> {
    let mut params = serde_json::Map::new();
    for entry in entries {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--set '{entry}' is not of the form PARAM=VALUE")))?;
        params.insert(
            key.trim().to_string(),
            aisle_models::parse_value(value.trim()),
        );
    }
    Ok(params)
}
