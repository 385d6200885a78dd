//! Model files: a trained model written to bytes and read back, with a format version so an
//! old or foreign file is a clear error, never a panic.
//!
//! A model file holds a [`TrainedModel`]: the model and what it needs to answer in the shop's
//! own ids (the id maps it was trained with, and item popularity for fallbacks).
//!
//! Layout: the magic `AISLEMDL`, the format version (`u32`, little-endian), the length of a
//! JSON header (`u32`), the header (`{"kind": ..., "name": ...}`), the length (`u64`) of the
//! context (id maps and popularity), the context, then the model's own state. Context and
//! state are encoded with `postcard` (compact binary serde; floats as 4 little-endian bytes).

use aisle_data::{EventTypes, IdMap, Weighting};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::recommender::Recommender;

const MAGIC: &[u8; 8] = b"AISLEMDL";

/// The model file format this build writes and the newest it reads.
///
/// Format 2 added time-decayed item popularity ([`TrainedModel::item_trending`]); a format 1
/// file reads with plain popularity in its place.
pub const FORMAT_VERSION: u32 = 2;

/// A model's serialised state and the concrete type it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Which concrete model type the bytes decode to (not the CLI name: `svd`, `svdpp` and
    /// `bpmf` share one trained type).
    pub kind: &'static str,
    pub bytes: Vec<u8>,
}

impl Payload {
    /// Encodes `state` under `kind`.
    pub fn encode<T: Serialize>(kind: &'static str, state: &T) -> Result<Payload> {
        let bytes = postcard::to_stdvec(state)
            .map_err(|e| ModelError::Artifact(format!("cannot encode a '{kind}' model: {e}")))?;
        Ok(Payload { kind, bytes })
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    kind: String,
    name: String,
}

/// A trained model with the id maps it was trained with: what a model file holds.
#[derive(Debug)]
pub struct TrainedModel {
    pub model: Box<dyn Recommender>,
    pub users: IdMap,
    pub items: IdMap,
    /// Training interactions per item index, for popularity fallbacks.
    pub item_popularity: Vec<u32>,
    /// Time-decayed popularity per item index ("trending"), for trending lists and fallbacks.
    pub item_trending: Vec<f32>,
    /// How events became matrix weights at training time (resolved, never `Auto`), so a new
    /// history is weighted the same way for fold-in.
    pub weighting: Weighting,
    pub event_types: EventTypes,
}

impl TrainedModel {
    /// This model with `items` appended to its items, placed by their content (see
    /// [`Recommender::with_new_items`]); `None` when the model cannot, or none is new.
    pub fn with_new_items(&self, items: &[aisle_data::Item]) -> Option<TrainedModel> {
        let new: Vec<aisle_data::Item> = items
            .iter()
            .filter(|item| self.items.get(&item.id).is_none())
            .cloned()
            .collect();
        if new.is_empty() {
            return None;
        }
        let model = self.model.with_new_items(&new)?;
        let mut ids = self.items.clone();
        for item in &new {
            ids.intern(&item.id);
        }
        let mut item_popularity = self.item_popularity.clone();
        item_popularity.resize(ids.len(), 0);
        let mut item_trending = self.item_trending.clone();
        item_trending.resize(ids.len(), 0.0);
        Some(TrainedModel {
            model,
            users: self.users.clone(),
            items: ids,
            item_popularity,
            item_trending,
            weighting: self.weighting,
            event_types: self.event_types.clone(),
        })
    }
}

/// The context of a format 1 file.
#[derive(Serialize, Deserialize)]
struct Context {
    users: IdMap,
    items: IdMap,
    item_popularity: Vec<u32>,
    weighting: Weighting,
    event_types: EventTypes,
}

/// The context of a format 2 file: format 1's, then trending scores.
#[derive(Serialize, Deserialize)]
struct ContextV2 {
    base: Context,
    item_trending: Vec<f32>,
}

impl TrainedModel {
    /// Writes the model file.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let encoding = |e: &dyn std::fmt::Display| ModelError::Artifact(e.to_string());
        let payload = self.model.to_payload()?;
        let header = serde_json::to_vec(&Header {
            kind: payload.kind.into(),
            name: self.model.name().into(),
        })
        .map_err(|e| encoding(&e))?;
        let context = postcard::to_stdvec(&ContextV2 {
            base: Context {
                users: self.users.clone(),
                items: self.items.clone(),
                item_popularity: self.item_popularity.clone(),
                weighting: self.weighting,
                event_types: self.event_types.clone(),
            },
            item_trending: self.item_trending.clone(),
        })
        .map_err(|e| encoding(&e))?;
        let mut out = Vec::with_capacity(24 + header.len() + context.len() + payload.bytes.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(context.len() as u64).to_le_bytes());
        out.extend_from_slice(&context);
        out.extend_from_slice(&payload.bytes);
        Ok(out)
    }

    /// Reads a model file written by [`TrainedModel::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<TrainedModel> {
        let bad = |message: String| ModelError::Artifact(message);
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(bad("not an Aisle model file (no AISLEMDL header)".into()));
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let version = word(8);
        if version > FORMAT_VERSION {
            return Err(bad(format!(
                "the model file has format {version}, written by a newer Aisle; this build reads up to format {FORMAT_VERSION}"
            )));
        }
        let section_end = |start: usize, len: usize, what: &str| {
            start
                .checked_add(len)
                .filter(|&end| end <= bytes.len())
                .ok_or_else(|| bad(format!("the model file is truncated ({what})")))
        };
        let header_end = section_end(16, word(12) as usize, "header")?;
        let header: Header = serde_json::from_slice(&bytes[16..header_end])
            .map_err(|e| bad(format!("the model file's header is corrupt: {e}")))?;
        let length_end = section_end(header_end, 8, "context length")?;
        let context_len =
            u64::from_le_bytes(bytes[header_end..length_end].try_into().expect("8 bytes"));
        let context_end = section_end(
            length_end,
            usize::try_from(context_len).unwrap_or(usize::MAX),
            "context",
        )?;
        let corrupt =
            |e: postcard::Error| bad(format!("the model file's id maps are corrupt: {e}"));
        let context_bytes = &bytes[length_end..context_end];
        let (context, item_trending) = if version >= 2 {
            let v2: ContextV2 = postcard::from_bytes(context_bytes).map_err(corrupt)?;
            (v2.base, v2.item_trending)
        } else {
            let v1: Context = postcard::from_bytes(context_bytes).map_err(corrupt)?;
            let plain = v1.item_popularity.iter().map(|&c| c as f32).collect();
            (v1, plain)
        };
        let model =
            crate::registry::decode_model(&header.kind, &bytes[context_end..]).map_err(|e| {
                bad(format!(
                    "the '{}' model ({}) cannot be read: {e}",
                    header.name, header.kind
                ))
            })?;
        if model.n_items() > context.items.len() {
            return Err(bad(format!(
                "the model scores {} items but its file maps only {} item ids",
                model.n_items(),
                context.items.len()
            )));
        }
        Ok(TrainedModel {
            model,
            users: context.users,
            items: context.items,
            item_popularity: context.item_popularity,
            item_trending,
            weighting: context.weighting,
            event_types: context.event_types,
        })
    }
}

/// Decodes a payload into the concrete model `T`.
pub fn decode<T: DeserializeOwned + Recommender + 'static>(
    bytes: &[u8],
) -> Result<Box<dyn Recommender>> {
    let model: T = postcard::from_bytes(bytes)
        .map_err(|e| ModelError::Artifact(format!("corrupt model state: {e}")))?;
    Ok(Box::new(model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FitContext, Query, algorithm, model_names};
    use aisle_data::{Cell, DuplicatePolicy, Interactions};

    /// Ratings 1–5 with a planted two-group structure, timestamps increasing.
    fn ratings() -> Interactions {
        let cells = (0..30u32)
            .flat_map(|u| {
                (0..20u32)
                    .filter(move |i| (u * 7 + i * 3) % 4 != 0)
                    .map(move |i| Cell {
                        user: u,
                        item: i,
                        weight: if (u % 2 == 0) == (i % 2 == 0) {
                            5.0
                        } else {
                            1.0 + (i % 3) as f32
                        },
                        timestamp: i64::from(u * 100 + i),
                    })
            })
            .collect();
        Interactions::from_cells(30, 20, cells, DuplicatePolicy::Last)
    }

    #[test]
    fn every_model_round_trips_exactly() {
        let data = ratings();
        let catalogue = crate::content::sample_catalogue(20);
        let ctx = FitContext {
            rating_scale: Some((1.0, 5.0)),
            catalogue: Some(&catalogue),
            ..FitContext::with_seed(3)
        };
        for name in model_names() {
            let model = algorithm(name, &Default::default())
                .unwrap()
                .fit(&data, &ctx)
                .unwrap();
            let trained = TrainedModel {
                model,
                users: (0..30).map(|u| format!("u{u}")).collect::<Vec<_>>().into(),
                items: (0..20).map(|i| format!("i{i}")).collect::<Vec<_>>().into(),
                item_popularity: data.column_counts(),
                item_trending: crate::popular::popularity(&data, 7.0),
                weighting: Weighting::Ratings,
                event_types: EventTypes::default(),
            };
            let bytes = trained.to_bytes().unwrap();
            let loaded = TrainedModel::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(loaded.users.id(3), "u3");
            assert_eq!(loaded.items.get("i19"), Some(19));
            assert_eq!(loaded.item_popularity, data.column_counts());
            assert_eq!(loaded.item_trending, trained.item_trending);
            assert_eq!(loaded.weighting, Weighting::Ratings);
            let (model, loaded) = (trained.model, loaded.model);
            assert_eq!(loaded.name(), model.name());
            assert_eq!(loaded.capabilities(), model.capabilities());
            for user in [0u32, 7, 29] {
                let query = Query::known(user, &data);
                let (mut a, mut b) = (vec![0f32; 20], vec![0f32; 20]);
                model.score(&query, &mut a);
                loaded.score(&query, &mut b);
                assert_eq!(
                    a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    "{name}"
                );
                for item in [0u32, 5, 19, 25] {
                    let (p, q) = (model.predict(user, item), loaded.predict(user, item));
                    assert_eq!(p.map(f32::to_bits), q.map(f32::to_bits), "{name}");
                }
            }
            assert_eq!(
                model.similar_items(3, 5),
                loaded.similar_items(3, 5),
                "{name}"
            );
        }
    }

    #[test]
    fn foreign_newer_and_truncated_files_are_clear_errors() {
        let message = |bytes: &[u8]| TrainedModel::from_bytes(bytes).unwrap_err().to_string();
        assert!(message(b"PK\x03\x04 a zip file, not a model").contains("not an Aisle model file"));
        let data = ratings();
        let model = algorithm("baseline", &Default::default())
            .unwrap()
            .fit(&data, &FitContext::default())
            .unwrap();
        let trained = TrainedModel {
            model,
            users: IdMap::new(),
            items: (0..20).map(|i| i.to_string()).collect::<Vec<_>>().into(),
            item_popularity: Vec::new(),
            item_trending: Vec::new(),
            weighting: Weighting::Implicit,
            event_types: EventTypes::default(),
        };
        let mut bytes = trained.to_bytes().unwrap();
        let truncated = &bytes[..bytes.len() - 3];
        assert!(
            message(truncated).contains("cannot be read"),
            "{}",
            message(truncated)
        );
        bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        assert!(message(&bytes).contains("newer Aisle"));
    }

    #[test]
    fn format_1_files_read_with_plain_popularity_as_trending() {
        let data = ratings();
        let model = algorithm("popular", &Default::default())
            .unwrap()
            .fit(&data, &FitContext::default())
            .unwrap();
        let payload = model.to_payload().unwrap();
        let header = serde_json::to_vec(&Header {
            kind: payload.kind.into(),
            name: "popular".into(),
        })
        .unwrap();
        let context = postcard::to_stdvec(&Context {
            users: (0..30).map(|u| format!("u{u}")).collect::<Vec<_>>().into(),
            items: (0..20).map(|i| format!("i{i}")).collect::<Vec<_>>().into(),
            item_popularity: data.column_counts(),
            weighting: Weighting::Implicit,
            event_types: EventTypes::default(),
        })
        .unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&(context.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&context);
        bytes.extend_from_slice(&payload.bytes);
        let loaded = TrainedModel::from_bytes(&bytes).unwrap();
        let plain: Vec<f32> = data.column_counts().iter().map(|&c| c as f32).collect();
        assert_eq!(loaded.item_trending, plain);
        assert_eq!(loaded.users.id(29), "u29");
    }
}
