//! What the two SQL backends share: the column lists they read records with (their tables
//! have the same columns), how JSON fields and timestamps are written, and the check that a
//! model's stored bytes are whole.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, StoreError};
use crate::record::{ModelInfo, StoredModel};

pub(crate) const ITEM_COLUMNS: &str =
    "seq, id, title, categories, price, available, created_at, attributes";
pub(crate) const EVENT_COLUMNS: &str = "id, user_id, item_id, type, value, timestamp, \
                                        recommendation_id, position, quantity, price, basket";
pub(crate) const MODEL_INFO_COLUMNS: &str =
    "version, name, params, trained_at, metrics, format_version, size, saved_at, last_event_id";
pub(crate) const IMPRESSION_COLUMNS: &str =
    "recommendation_id, user_id, model, model_version, experiment, variant, items, served_at";
pub(crate) const TUNING_COLUMNS: &str = "id, model, weighting, params, metric, score, \
                                         default_score, trials, seconds, report, created_at";

/// A row limit as SQL takes it: `usize::MAX` (read everything) saturates rather than wrapping
/// to a negative `LIMIT`.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Unix seconds now, for `updated_at`, `saved_at` and `created_at` columns.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A JSON field as stored (text).
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// A stored JSON field read back; `what` and `id` name it in the error.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &str, id: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what} of '{id}': {e}")))
}

/// A model version read with its bytes, refused when they are not as many as recorded.
pub(crate) fn whole_model(info: ModelInfo, bytes: Vec<u8>) -> Result<StoredModel> {
    if bytes.len() as u64 != info.size {
        return Err(StoreError::Corrupt(format!(
            "model {} v{}: {} bytes stored, {} recorded",
            info.meta.name,
            info.version.0,
            bytes.len(),
            info.size
        )));
    }
    Ok(StoredModel { info, bytes })
}
