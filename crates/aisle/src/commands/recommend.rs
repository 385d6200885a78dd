//! `aisle recommend` and `aisle similar`: answers from the store's latest model, in the shop's
//! own ids, made by the serving engine (`aisle_engine`), so the command line and `aisle serve`
//! give the same lists with the same reasons.
//!
//! A user the model knows is scored with their trained state; a user with events newer than
//! the model, or one it has never seen but who has events in the store, is folded in from
//! those events; anyone else gets the most popular items, flagged as a fallback. Items already
//! in the user's history are never recommended.

use aisle_engine::{Engine, EngineConfig, EngineError, ListRequest, RecommendationList};
use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use crate::cli::{ModelChoice, RecommendArgs, SimilarArgs};
use crate::output::{out, outln};

pub fn recommend(args: RecommendArgs) -> Result<()> {
    let engine = open(&args.choice)?;
    let request = ListRequest::for_user(&args.user);
    let list = engine
        .list(&with_choice(request, &args.choice))
        .map_err(|e| explain(e, &args.choice))?;
    let how = if list.fallback {
        "unknown user without events: most popular items".to_string()
    } else {
        format!("for user {}", args.user)
    };
    print_list(&engine, &list, &how, &args.choice)
}

pub fn similar(args: SimilarArgs) -> Result<()> {
    let engine = open(&args.choice)?;
    let request = ListRequest::similar_to(&args.item);
    let list = engine
        .list(&with_choice(request, &args.choice))
        .map_err(|e| explain(e, &args.choice))?;
    print_list(
        &engine,
        &list,
        &format!("similar to {}", args.item),
        &args.choice,
    )
}

/// The engine over the store, with every stored model name loaded (the newest answers
/// unless `--model` names one).
fn open(choice: &ModelChoice) -> Result<Engine> {
    let store = aisle_store::open(&choice.db)?;
    let engine = Engine::new(
        store,
        EngineConfig {
            // One answer: ranking every user ahead of time would be wasted.
            precompute: 0,
            ..EngineConfig::default()
        },
    )?;
    engine.load_models()?;
    Ok(engine)
}

fn with_choice(request: ListRequest, choice: &ModelChoice) -> ListRequest {
    request.with_n(choice.n).with_model(choice.model.clone())
}

fn explain(error: EngineError, choice: &ModelChoice) -> anyhow::Error {
    match error {
        EngineError::NoModel => anyhow!(
            "{} holds no trained model; train one with `aisle train --db {}`",
            choice.db,
            choice.db
        ),
        EngineError::UnknownModel { name, .. } => anyhow!(
            "{} holds no trained '{name}' model; train one with `aisle train --db {} --model {name}`",
            choice.db,
            choice.db
        ),
        other => other.into(),
    }
}

fn print_list(
    engine: &Engine,
    list: &RecommendationList,
    how: &str,
    choice: &ModelChoice,
) -> Result<()> {
    let ids: Vec<&str> = list.items.iter().map(|r| r.item_id.as_str()).collect();
    let catalogue = engine.store().get_items(&ids)?;
    let title = |id: &str| {
        catalogue
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.title.as_str())
    };
    if choice.json {
        let mut value = serde_json::to_value(list)?;
        value["version"] = json!(list.model_version);
        if let Some(items) = value["items"].as_array_mut() {
            for item in items {
                let id = item["item_id"].as_str().unwrap_or_default().to_string();
                item["title"] = title(&id).map_or(Value::Null, |t| json!(t));
            }
        }
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    outln!(
        "{how} (model {} version {}):",
        list.model,
        list.model_version
    );
    for (rank, item) in list.items.iter().enumerate() {
        out!("{:>3}. {:<16} {:>10.4}", rank + 1, item.item_id, item.score);
        outln!("  {}", title(&item.item_id).unwrap_or(""));
    }
    Ok(())
}
