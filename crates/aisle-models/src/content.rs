//! `content`: items described by what the catalogue says of them — title, description,
//! categories, attribute values, a price band — and recommended by those words, so an item
//! no one has bought yet can be recommended, and have similar items, the moment it exists.
//!
//! # Features
//! Each item becomes weighted tokens: its title's words (`w:`), the words of an attribute
//! `description` (`w:`, half weight), each category (`c:`, weight `category_weight`), each
//! other attribute's value (`a:KEY=VALUE`; every string of an array), a four-digit year in
//! the title as its decade (`y:`), and its price's band (`p:`, ⌊log₂ price⌋, weight
//! `price_weight`). Words are lower-cased runs of letters and digits, at least two long,
//! without a few English stop words. A token's value is its summed weight times its inverse
//! document frequency `ln((1 + N) / (1 + df)) + 1` over the catalogue's N items; each item's
//! vector has unit length (TF-IDF, cosine).
//!
//! The vocabulary and IDF are the model's: an item added after training is described with
//! them ([`ContentModel::describe`]), unknown tokens ignored.
//!
//! # Scores
//! A shopper's profile is the sum of their history's item vectors (each times its weight);
//! an item's score is its vector's dot product with the profile. Similar items: cosine of
//! the vectors.

use std::collections::HashMap;

use aisle_data::{Cell, DuplicatePolicy, IdMap, Interactions, Item};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ModelError, Result};
use crate::knn::similarity::Accumulator;
use crate::params::{Domain, ParamSpec, Search};
use crate::recommender::{Algorithm, Capabilities, FitContext, Query, Recommender};
use crate::registry::{Params, params_json};
use crate::topk::{Scored, top_k};

const NAME: &str = "content";

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "is", "it", "of", "on", "or", "the",
    "to", "with",
];

/// Hyper-parameters of [`Content`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentParams {
    /// Weight of a category token against a title word's 1.
    pub category_weight: f32,
    /// Weight of the price band token.
    pub price_weight: f32,
}

impl Default for ContentParams {
    fn default() -> Self {
        ContentParams {
            category_weight: 2.0,
            price_weight: 1.0,
        }
    }
}

impl Params for ContentParams {
    const SPEC: &'static [ParamSpec] = &[
        ParamSpec::new(
            "category_weight",
            Domain::closed(0.0, 100.0),
            "Weight of a category token against a title word's 1.",
        )
        .searched(Search::log(0.5, 8.0)),
        ParamSpec::new(
            "price_weight",
            Domain::closed(0.0, 100.0),
            "Weight of the price band token (0: price ignored).",
        )
        .searched(Search::linear(0.0, 2.0)),
    ];
}

/// Trains [`ContentModel`]s from the catalogue the caller passes in [`FitContext::catalogue`].
#[derive(Debug, Clone, Default)]
pub struct Content {
    params: ContentParams,
}

impl Content {
    pub fn new(params: ContentParams) -> Self {
        Content { params }
    }

    /// The items' vectors. Fails without a catalogue: there is nothing to learn from.
    pub fn fit_model(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<ContentModel> {
        let catalogue = ctx.catalogue.ok_or_else(|| {
            ModelError::unsuitable(
                NAME,
                "it learns from the items' descriptions: give a catalogue (--items FILE, or \
                 items stored with the events)",
            )
        })?;
        ctx.step(0, 1)?;
        let n_items = train.n_items();
        let tokens: Vec<Vec<(String, f32)>> = (0..n_items)
            .map(|i| {
                catalogue
                    .get(i)
                    .and_then(Option::as_ref)
                    .map(|item| tokens(item, &self.params))
                    .unwrap_or_default()
            })
            .collect();
        let mut vocabulary = IdMap::new();
        let mut document_frequency: Vec<u32> = Vec::new();
        for item_tokens in &tokens {
            let mut seen: Vec<u32> = item_tokens
                .iter()
                .map(|(t, _)| vocabulary.intern(t))
                .collect();
            seen.sort_unstable();
            seen.dedup();
            document_frequency.resize(vocabulary.len(), 0);
            for t in seen {
                document_frequency[t as usize] += 1;
            }
        }
        let described = tokens.iter().filter(|t| !t.is_empty()).count() as f32;
        let idf: Vec<f32> = document_frequency
            .iter()
            .map(|&df| ((1.0 + described) / (1.0 + df as f32)).ln() + 1.0)
            .collect();
        let model = ContentModel {
            params: self.params.clone(),
            vocabulary,
            idf,
            vectors: Interactions::empty(0, 0),
            by_feature: Interactions::empty(0, 0),
        };
        let rows: Vec<Vec<(u32, f32)>> = tokens.iter().map(|t| model.vector(t)).collect();
        let vectors = matrix(&rows, model.vocabulary.len());
        let by_feature = vectors.transpose();
        ctx.step(1, 1)?;
        Ok(ContentModel {
            vectors,
            by_feature,
            ..model
        })
    }
}

impl Algorithm for Content {
    fn name(&self) -> &str {
        NAME
    }

    fn params(&self) -> Value {
        params_json(&self.params)
    }

    fn fit(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<Box<dyn Recommender>> {
        Ok(Box::new(self.fit_model(train, ctx)?))
    }
}

/// The tokens of one item with their weights (see the module's documentation).
fn tokens(item: &Item, params: &ContentParams) -> Vec<(String, f32)> {
    let mut out = Vec::new();
    let words = |text: &str, prefix: &str, weight: f32, out: &mut Vec<(String, f32)>| {
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .filter(|w| w.chars().count() >= 2 && !STOP_WORDS.contains(&w.as_str()))
        {
            if word.len() == 4
                && let Ok(year) = word.parse::<u32>()
                && (1800..2200).contains(&year)
            {
                out.push((format!("y:{}", year / 10), weight));
            }
            out.push((format!("{prefix}{word}"), weight));
        }
    };
    words(&item.title, "w:", 1.0, &mut out);
    for category in &item.categories {
        out.push((
            format!("c:{}", category.to_lowercase()),
            params.category_weight,
        ));
    }
    for (key, value) in &item.attributes {
        match (key.as_str(), value) {
            ("description", Value::String(text)) => words(text, "w:", 0.5, &mut out),
            // Links and pictures say nothing of the item's kind.
            ("url" | "image_url", _) => {}
            (_, Value::String(text)) => out.push((format!("a:{key}={}", text.to_lowercase()), 1.0)),
            (_, Value::Array(values)) => {
                for value in values.iter().filter_map(Value::as_str) {
                    out.push((format!("a:{key}={}", value.to_lowercase()), 1.0));
                }
            }
            (_, Value::Bool(b)) => out.push((format!("a:{key}={b}"), 1.0)),
            _ => {}
        }
    }
    if params.price_weight > 0.0
        && let Some(price) = item.price.filter(|p| *p > 0.0)
    {
        out.push((
            format!("p:{}", price.log2().floor() as i64),
            params.price_weight,
        ));
    }
    out
}

fn matrix(rows: &[Vec<(u32, f32)>], columns: usize) -> Interactions {
    let cells = rows
        .iter()
        .enumerate()
        .flat_map(|(row, features)| {
            features.iter().map(move |&(feature, weight)| Cell {
                user: row as u32,
                item: feature,
                weight,
                timestamp: 0,
            })
        })
        .collect();
    Interactions::from_cells(rows.len(), columns, cells, DuplicatePolicy::Sum)
}

/// A trained `content` model: the catalogue's vocabulary and each item's unit vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContentModel {
    params: ContentParams,
    vocabulary: IdMap,
    idf: Vec<f32>,
    /// Items × features, rows of unit length (empty rows: items the catalogue does not
    /// describe).
    vectors: Interactions,
    /// Features × items.
    by_feature: Interactions,
}

impl ContentModel {
    /// The unit TF-IDF vector of weighted tokens, in the model's vocabulary (unknown tokens
    /// are left out), sorted by feature.
    fn vector(&self, tokens: &[(String, f32)]) -> Vec<(u32, f32)> {
        let mut tf: HashMap<u32, f32> = HashMap::new();
        for (token, weight) in tokens {
            if let Some(feature) = self.vocabulary.get(token) {
                *tf.entry(feature).or_default() += weight;
            }
        }
        let mut vector: Vec<(u32, f32)> = tf
            .into_iter()
            .map(|(f, w)| (f, w * self.idf[f as usize]))
            .collect();
        vector.sort_unstable_by_key(|&(f, _)| f);
        let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, w) in &mut vector {
                *w /= norm;
            }
        }
        vector
    }

    /// The vector of an item described now (one added after training).
    pub fn describe(&self, item: &Item) -> Vec<(u32, f32)> {
        self.vector(&tokens(item, &self.params))
    }

    /// This model with `items` appended (described with the trained vocabulary).
    pub fn extended(&self, items: &[Item]) -> ContentModel {
        let mut rows: Vec<Vec<(u32, f32)>> = (0..self.vectors.n_users() as u32)
            .map(|i| self.item_vector(i))
            .collect();
        rows.extend(items.iter().map(|item| self.describe(item)));
        let vectors = matrix(&rows, self.vocabulary.len());
        ContentModel {
            params: self.params.clone(),
            vocabulary: self.vocabulary.clone(),
            idf: self.idf.clone(),
            by_feature: vectors.transpose(),
            vectors,
        }
    }

    /// The vector of a trained item (empty when the catalogue did not describe it).
    pub fn item_vector(&self, item: u32) -> Vec<(u32, f32)> {
        if item as usize >= self.vectors.n_users() {
            return Vec::new();
        }
        self.vectors.row(item).iter().collect()
    }

    /// `profile · vector` for every trained item, into `scores`.
    pub fn score_profile(&self, profile: &[(u32, f32)], scores: &mut [f32]) {
        scores.fill(0.0);
        for &(feature, weight) in profile {
            if feature as usize >= self.by_feature.n_users() {
                continue;
            }
            for (item, value) in self.by_feature.row(feature).iter() {
                if let Some(score) = scores.get_mut(item as usize) {
                    *score += weight * value;
                }
            }
        }
    }

    /// The sum of the history's item vectors, each times its weight.
    pub fn profile(&self, history: &aisle_data::Row<'_>) -> Vec<(u32, f32)> {
        let mut sum: HashMap<u32, f32> = HashMap::new();
        for (item, weight) in history.iter() {
            if (item as usize) < self.vectors.n_users() {
                for (feature, value) in self.vectors.row(item).iter() {
                    *sum.entry(feature).or_default() += weight * value;
                }
            }
        }
        let mut profile: Vec<(u32, f32)> = sum.into_iter().collect();
        profile.sort_unstable_by_key(|&(f, _)| f);
        profile
    }

    /// The `n` items whose vectors are closest to `vector` (cosine), best first, with a
    /// positive similarity, skipping `skip`.
    pub fn nearest(&self, vector: &[(u32, f32)], n: usize, skip: Option<u32>) -> Vec<Scored> {
        let mut scores = vec![0f32; self.vectors.n_users()];
        self.score_profile(vector, &mut scores);
        top_k(&scores, n, |i| Some(i) != skip && scores[i as usize] > 0.0)
    }

    /// Each item's `k` nearest items by content among those `allowed`, computed in parallel
    /// (sparse: only items sharing a feature are visited).
    pub fn neighbours_among(
        &self,
        items: &[u32],
        k: usize,
        allowed: &(dyn Fn(u32) -> bool + Sync),
    ) -> Vec<Vec<Scored>> {
        let n_items = self.vectors.n_users();
        items
            .par_iter()
            .map_init(
                || Accumulator::<f32>::new(n_items),
                |accumulator, &item| {
                    for (feature, value) in self.vectors.row(item).iter() {
                        for (other, weight) in self.by_feature.row(feature).iter() {
                            if other != item && allowed(other) {
                                *accumulator.slot(other) += value * weight;
                            }
                        }
                    }
                    let mut found = Vec::new();
                    accumulator.drain(|other, &similarity| {
                        if similarity > 0.0 {
                            found.push(Scored {
                                item: other,
                                score: similarity,
                            });
                        }
                    });
                    found.sort_unstable_by(|a, b| {
                        b.score.total_cmp(&a.score).then(a.item.cmp(&b.item))
                    });
                    found.truncate(k);
                    found
                },
            )
            .collect()
    }
}

impl Recommender for ContentModel {
    fn to_payload(&self) -> Result<crate::persist::Payload> {
        crate::persist::Payload::encode(NAME, self)
    }

    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rating: false,
            ranking: true,
            similar_items: true,
            fold_in: true,
        }
    }

    fn n_items(&self) -> usize {
        self.vectors.n_users()
    }

    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        self.score_profile(&self.profile(&query.history), scores);
    }

    fn with_new_items(&self, items: &[Item]) -> Option<Box<dyn Recommender>> {
        Some(Box::new(self.extended(items)))
    }

    fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        self.nearest(&self.item_vector(item), n, Some(item))
    }

    fn item_similarity(&self, a: u32, b: u32) -> Option<f32> {
        let (a, b) = (self.item_vector(a), self.item_vector(b));
        if a.is_empty() || b.is_empty() {
            return None;
        }
        let b: HashMap<u32, f32> = b.into_iter().collect();
        Some(a.iter().filter_map(|(f, w)| b.get(f).map(|v| w * v)).sum())
    }
}

/// A described catalogue of `n` items in a few kinds, for tests that fit every model.
#[cfg(test)]
pub(crate) fn sample_catalogue(n: usize) -> Vec<Option<Item>> {
    (0..n)
        .map(|i| {
            Some(Item {
                id: format!("i{i}"),
                title: format!("kind{} shade{} thing", i % 3, i % 5),
                categories: vec![format!("c{}", i % 2)],
                price: Some(1.0 + i as f64),
                ..Item::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str, categories: &[&str], price: f64) -> Option<Item> {
        Some(Item {
            id: id.into(),
            title: title.into(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            price: Some(price),
            ..Item::default()
        })
    }

    fn catalogue() -> Vec<Option<Item>> {
        vec![
            item("0", "Red wool scarf", &["Winter"], 20.0),
            item("1", "Blue wool scarf", &["Winter"], 22.0),
            item("2", "Garden hose 20m", &["Garden"], 35.0),
            item("3", "Garden hose reel", &["Garden"], 60.0),
            None,
        ]
    }

    fn model() -> ContentModel {
        let catalogue = catalogue();
        let ctx = FitContext {
            catalogue: Some(&catalogue),
            ..FitContext::default()
        };
        Content::default()
            .fit_model(&Interactions::empty(3, 5), &ctx)
            .unwrap()
    }

    #[test]
    fn nearest_items_are_the_ones_sharing_words() {
        let model = model();
        assert_eq!(model.similar_items(0, 1)[0].item, 1);
        assert_eq!(model.similar_items(2, 1)[0].item, 3);
        // Vectors have unit length: an item is its own closest match, at 1.
        let self_similarity = model.item_similarity(0, 0).unwrap();
        assert!((self_similarity - 1.0).abs() < 1e-5);
        // An undescribed item has no vector and no neighbours.
        assert!(model.similar_items(4, 3).is_empty());
    }

    #[test]
    fn a_new_item_is_described_with_the_trained_vocabulary() {
        let model = model();
        let new = item("9", "Green wool scarf", &["Winter"], 18.0).unwrap();
        let nearest = model.nearest(&model.describe(&new), 2, None);
        let found: Vec<u32> = nearest.iter().map(|s| s.item).collect();
        assert_eq!(found.len(), 2);
        assert!(found.contains(&0) && found.contains(&1), "{found:?}");
    }

    #[test]
    fn a_history_ranks_items_like_it_first() {
        let model = model();
        let history = Interactions::from_cells(
            1,
            5,
            vec![Cell {
                user: 0,
                item: 2,
                weight: 1.0,
                timestamp: 0,
            }],
            DuplicatePolicy::Sum,
        );
        let mut scores = vec![0.0; 5];
        model.score(&Query::anonymous(history.row(0)), &mut scores);
        assert!(scores[3] > scores[0] && scores[3] > scores[1]);
    }

    #[test]
    fn without_a_catalogue_the_model_says_what_it_needs() {
        let error = Content::default()
            .fit_model(&Interactions::empty(1, 1), &FitContext::default())
            .unwrap_err();
        assert!(error.to_string().contains("--items"), "{error}");
    }
}
