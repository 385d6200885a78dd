//! `aisle recommend` and `aisle similar`: answers from the store's latest model, in the shop's
//! own ids.
//!
//! A user the model knows is scored with their trained factors or neighbours and their history
//! in the store; a user it has never seen but who has events in the store is folded in from
//! those events; anyone else gets the most popular items, flagged as a fallback. Items already
//! in the user's history are never recommended.

use aisle_data::{Cell, Interactions};
use aisle_models::{Query, Scored, TrainedModel, recommend as rank};
use aisle_store::{SqliteStore, Store, StoredModel};
use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::cli::{ModelChoice, RecommendArgs, SimilarArgs};
use crate::output::{out, outln};

/// How many of a user's most recent events make their history.
const HISTORY_EVENTS: usize = 1_000;

pub fn recommend(args: RecommendArgs) -> Result<()> {
    let store = SqliteStore::open(&args.choice.db)?;
    let (stored, trained) = load_model(&store, &args.choice)?;
    let events = store.user_events(&args.user, HISTORY_EVENTS)?;
    let cells: Vec<Cell> = events
        .iter()
        .filter_map(|e| {
            let item = trained.items.get(&e.item_id)?;
            let kind = trained.event_types.lookup(&e.kind)?;
            let value = e.value.map_or(f32::NAN, |v| v as f32);
            Some(Cell {
                user: 0,
                item,
                weight: trained
                    .weighting
                    .weight(kind, value, &trained.event_types)?,
                timestamp: e.timestamp.unwrap_or(0),
            })
        })
        .collect();
    // One row holding the user's history, merged the way training merged repeated events.
    let history = Interactions::from_cells(
        1,
        trained.items.len(),
        cells,
        trained.weighting.duplicate_policy(),
    );
    let known_user = trained.users.get(&args.user);
    let (items, fallback) = if known_user.is_some() || !history.row(0).is_empty() {
        let query = Query {
            user: known_user,
            history: history.row(0),
        };
        (
            rank(trained.model.as_ref(), &query, args.choice.n, true, |_| {
                false
            }),
            false,
        )
    } else {
        (most_popular(&trained, args.choice.n), true)
    };
    let how = match (fallback, known_user) {
        (true, _) => "unknown user without events: most popular items",
        (false, Some(_)) => "known user",
        (false, None) => "new user, folded in from their events",
    };
    print_list(
        &store,
        &stored,
        &trained,
        &items,
        fallback,
        how,
        &args.choice,
    )
}

pub fn similar(args: SimilarArgs) -> Result<()> {
    let store = SqliteStore::open(&args.choice.db)?;
    let (stored, trained) = load_model(&store, &args.choice)?;
    if !trained.model.capabilities().similar_items {
        bail!(
            "the '{}' model has no notion of item similarity; train item-knn, als or ease",
            stored.info.meta.name
        );
    }
    let Some(item) = trained.items.get(&args.item) else {
        bail!(
            "item '{}' was not in the training data of model version {}",
            args.item,
            stored.info.version.0
        );
    };
    let items = trained.model.similar_items(item, args.choice.n);
    print_list(
        &store,
        &stored,
        &trained,
        &items,
        false,
        "similar items",
        &args.choice,
    )
}

fn load_model(store: &SqliteStore, choice: &ModelChoice) -> Result<(StoredModel, TrainedModel)> {
    let stored = match &choice.model {
        Some(name) => store.latest_model(name)?,
        None => match store.list_models()?.iter().max_by_key(|m| m.version.0) {
            Some(info) => store.model(info.version)?,
            None => None,
        },
    };
    let Some(stored) = stored else {
        bail!(
            "{} holds no trained {}model; train one with `aisle train --db {}`",
            choice.db.display(),
            choice
                .model
                .as_deref()
                .map(|m| format!("'{m}' "))
                .unwrap_or_default(),
            choice.db.display()
        );
    };
    let trained = TrainedModel::from_bytes(&stored.bytes).with_context(|| {
        format!(
            "model version {} in {}",
            stored.info.version.0,
            choice.db.display()
        )
    })?;
    Ok((stored, trained))
}

fn most_popular(trained: &TrainedModel, n: usize) -> Vec<Scored> {
    let scores: Vec<f32> = trained.item_popularity.iter().map(|&c| c as f32).collect();
    aisle_models::top_k(&scores, n, |_| true)
}

fn print_list(
    store: &SqliteStore,
    stored: &StoredModel,
    trained: &TrainedModel,
    items: &[Scored],
    fallback: bool,
    how: &str,
    choice: &ModelChoice,
) -> Result<()> {
    let ids: Vec<&str> = items.iter().map(|s| trained.items.id(s.item)).collect();
    let catalogue = store.get_items(&ids)?;
    let title = |id: &str| {
        catalogue
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.title.as_str())
    };
    if choice.json {
        let list: Vec<_> = items
            .iter()
            .zip(&ids)
            .map(|(s, id)| json!({"item_id": id, "score": s.score, "title": title(id)}))
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": stored.info.meta.name,
                "version": stored.info.version.0,
                "fallback": fallback,
                "items": list,
            }))?
        );
        return Ok(());
    }
    outln!(
        "{} (model {} version {}):",
        how,
        stored.info.meta.name,
        stored.info.version.0
    );
    for (rank, (s, id)) in items.iter().zip(&ids).enumerate() {
        out!("{:>3}. {id:<16} {:>10.4}", rank + 1, s.score);
        outln!("  {}", title(id).unwrap_or(""));
    }
    Ok(())
}
