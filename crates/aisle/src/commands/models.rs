//! `aisle models`: what each model takes — its hyper-parameters with their defaults, allowed
//! values and search ranges — read from the registry, as tables (those of `docs/models.md`)
//! or as JSON schemas.

use aisle_models::{MODELS, registry};
use anyhow::Result;
use serde_json::json;

use crate::UsageError;
use crate::cli::ModelsArgs;
use crate::output::{out, outln};

pub fn run(args: ModelsArgs) -> Result<()> {
    let entries: Vec<_> = match &args.model {
        Some(name) => vec![registry::model(name).map_err(|e| UsageError(e.to_string()))?],
        None => MODELS.iter().collect(),
    };
    if args.json {
        let models: Vec<_> = entries
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "family": m.family,
                    "summary": m.summary,
                    "defaults": (m.defaults)(),
                    "parameters": m.params_schema(),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&models)?);
        return Ok(());
    }
    let reference = registry::parameter_reference();
    // The reference is one section per model; print the ones asked for.
    for section in reference.split("### ").filter(|s| !s.is_empty()) {
        if entries
            .iter()
            .any(|m| section.starts_with(&format!("`{}`", m.name)))
        {
            out!("{section}");
        }
    }
    Ok(())
}
