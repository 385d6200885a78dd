//! Aisle's data layer: everything between a shop's files and a model's input.
//!
//! External string ids are interned to dense `u32` indices ([`IdMap`]); events are read by
//! streaming [readers](reader), cleaned with every dropped row accounted for in a
//! [`CleaningReport`], and turned into a CSR [`Interactions`] matrix. [Splits](split) make
//! train/test folds; [`generate`] writes a synthetic shop. Nothing here knows about HTTP, SQL
//! or async.
//!
//! ```no_run
//! use aisle_data::{ByteCounter, CleaningOptions, Dataset, ReadOptions, Weighting};
//!
//! let dataset = Dataset::load(
//!     "u.data".as_ref(),
//!     &ReadOptions::default(),
//!     &CleaningOptions::default(),
//!     &ByteCounter::default(),
//!     None,
//! )?;
//! println!("{} rows read, {} kept", dataset.report.rows, dataset.report.kept);
//! let matrix = dataset.interactions(Weighting::Auto);
//! # Ok::<(), aisle_data::DataError>(())
//! ```

pub mod baskets;
pub mod catalogue;
pub mod clean;
pub mod dataset;
pub mod error;
pub mod event;
pub mod export;
pub mod generate;
pub mod ids;
pub mod interactions;
pub mod items_from_events;
pub mod reader;
pub mod rng;
pub mod split;
pub mod stats;
pub mod time;
pub mod weighting;

pub use baskets::{
    Basket, BasketCase, BasketProtocol, BasketRow, BasketSource, BasketSplit, Baskets,
    basket_matrix,
};
pub use catalogue::{Catalogue, Item, User};
pub use clean::{
    Cleaner, CleaningOptions, CleaningReport, DropReason, FileKind, Note, Products,
    TransactionRules, parse_rating_scale,
};
pub use dataset::{Dataset, Event, GUEST, NO_BASKET};
pub use error::{DataError, Result};
pub use event::{EventTypes, Kind, PURCHASE, RATING, RETURN, VIEW};
pub use ids::IdMap;
pub use interactions::{Cell, DuplicatePolicy, Interactions, Row};
pub use items_from_events::{ItemColumns, items_from_events};
pub use reader::{ByteCounter, ColumnMap, FileLayout, Format, ReadOptions};
pub use rng::Rng;
pub use split::{Protocol, Split, split};
pub use stats::Statistics;
pub use weighting::{Choice, Weighting};
