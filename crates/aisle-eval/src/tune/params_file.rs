//! The file `aisle tune --out` writes and `aisle evaluate --params`, `aisle train --params`
//! and the server's `params_file` read: per model, the weighting and the hyper-parameters to
//! use, with how they were chosen.
//!
//! ```toml
//! [als]
//! weighting = "binary"
//! metric = "ndcg@10"
//! validation_score = 0.4123
//! default_score = 0.4012
//! chosen_at = "2026-11-30T03:04:05Z"
//!
//! [als.params]
//! factors = 96
//! regularization = 31.5
//! ```
//!
//! Only `weighting` and `params` are read back; the rest says where they came from. A model
//! missing from the file keeps its defaults; a parameter missing from `params` takes its
//! default.

use std::collections::BTreeMap;
use std::path::Path;

use aisle_data::Weighting;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{TuneError, TuneReport};

/// One model's settings in a params file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunedModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighting: Option<Weighting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_at: Option<String>,
    #[serde(default)]
    pub params: Map<String, Value>,
}

/// Settings per model name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamsFile {
    pub models: BTreeMap<String, TunedModel>,
}

impl ParamsFile {
    /// The settings a search chose.
    pub fn from_report(report: &TuneReport) -> Self {
        let chosen_at = jiff::Timestamp::from_second(report.started_at)
            .map(|t| t.to_string())
            .ok();
        let models = report
            .models
            .iter()
            .map(|m| {
                let tuned = TunedModel {
                    weighting: Some(m.weighting),
                    metric: Some(report.metric.to_string()),
                    validation_score: Some(round6(m.score)),
                    default_score: Some(round6(m.default_score)),
                    chosen_at: chosen_at.clone(),
                    // TOML has no null: an unset parameter (decided from the data) is left
                    // out, which means the same.
                    params: m
                        .params
                        .iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                (m.model.clone(), tuned)
            })
            .collect();
        ParamsFile { models }
    }

    /// The file's text, with a header saying where it came from.
    pub fn to_toml(&self, header: &str) -> Result<String, TuneError> {
        let body = toml::to_string(&self.models).map_err(|e| TuneError::ParamsFile {
            path: "(params file)".into(),
            message: e.to_string(),
        })?;
        let comment: String = header.lines().map(|l| format!("# {l}\n")).collect();
        Ok(format!("{comment}\n{body}"))
    }

    /// Reads and checks a params file: every model known, every parameter valid.
    pub fn load(path: &Path) -> Result<Self, TuneError> {
        let text = std::fs::read_to_string(path).map_err(|e| TuneError::ParamsFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a params file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, TuneError> {
        let error = |message: String| TuneError::ParamsFile {
            path: path.to_string(),
            message,
        };
        let models: BTreeMap<String, TunedModel> =
            toml::from_str(text).map_err(|e| error(e.to_string().trim_end().to_string()))?;
        for (name, tuned) in &models {
            aisle_models::algorithm(name, &tuned.params)
                .map_err(|e| error(format!("[{name}]: {e}")))?;
        }
        Ok(ParamsFile { models })
    }

    /// `model`'s settings, if the file has them.
    pub fn get(&self, model: &str) -> Option<&TunedModel> {
        self.models.get(model)
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_params_file_round_trips_and_bad_ones_are_named() {
        let mut models = BTreeMap::new();
        let params = json!({"factors": 96, "regularization": 31.5, "solver": "cg"});
        models.insert(
            "als".to_string(),
            TunedModel {
                weighting: Some(Weighting::Counts),
                metric: Some("ndcg@10".into()),
                validation_score: Some(0.4123),
                default_score: Some(0.4012),
                chosen_at: Some("2026-11-30T03:04:05Z".into()),
                params: params.as_object().unwrap().clone(),
            },
        );
        models.insert(
            "ease".to_string(),
            TunedModel {
                params: json!({"lambda": 250.0}).as_object().unwrap().clone(),
                ..TunedModel::default()
            },
        );
        let file = ParamsFile { models };
        let text = file.to_toml("written by a test").unwrap();
        assert!(text.starts_with("# written by a test\n"), "{text}");
        assert!(text.contains("[als.params]"), "{text}");
        let again = ParamsFile::parse(&text, "tuned.toml").unwrap();
        assert_eq!(again, file);

        let unknown = ParamsFile::parse("[no-such-model]\n", "tuned.toml").unwrap_err();
        assert!(
            unknown
                .to_string()
                .starts_with("tuned.toml: [no-such-model]: unknown model"),
            "{unknown}"
        );
        let bad = ParamsFile::parse("[als.params]\nfactors = 0\n", "tuned.toml").unwrap_err();
        assert!(bad.to_string().contains("factors"), "{bad}");
        let syntax = ParamsFile::parse("[als\n", "tuned.toml").unwrap_err();
        assert!(syntax.to_string().contains("line 1"), "{syntax}");
        let typo = ParamsFile::parse("[als]\nweighting = \"binry\"\n", "x.toml").unwrap_err();
        assert!(typo.to_string().contains("binry"), "{typo}");
    }
}
