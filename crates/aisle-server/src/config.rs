//! Server settings: what a TOML file, `AISLE_*` environment variables and command-line flags
//! may set (the [`Settings`], all optional, layered flag over environment over file), and the
//! validated [`ServerConfig`] they resolve to.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aisle_data::{CleaningOptions, Weighting};
use serde::Deserialize;
use serde_json::{Map, Value};

use aisle_engine::experiments::ExperimentDefinition;
use aisle_engine::placements::Placement;

use crate::api::keys::{ApiKey, DEFAULT_RATE_PER_MINUTE, Scope};
use aisle_engine::{EngineConfig, Retention, ServiceConfig, TrainSpec, TuneSpec, TuningSchedule};

/// Default address: loopback only, so a first run exposes nothing.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Default largest request body.
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Default largest batch of items, users or events in one request.
pub const DEFAULT_MAX_BATCH: usize = 1_000;
/// Default longest wait of `POST /v1/admin/train?wait=true`: below the 10 s most HTTP
/// clients give up after; a longer training answers 202 and is polled.
pub const DEFAULT_TRAIN_WAIT: Duration = Duration::from_secs(9);
/// Default request timeout and stop deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A setting that cannot be used, naming where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

/// Everything that may be set, each optional: one layer of configuration. The TOML file has
/// exactly these keys (see `docs/server.md`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The store: a SQLite file or a `postgres://` URL (`database_url` is the same key).
    #[serde(alias = "database_url")]
    pub db: Option<String>,
    /// `all` (serve and train, the default), `train` (the same) or `serve` (never trains:
    /// takes the versions other replicas train).
    pub role: Option<String>,
    pub addr: Option<String>,
    /// Writes (and admin calls) need this key when set.
    pub api_key: Option<String>,
    /// Reads need this key (or the write key) when set.
    pub read_api_key: Option<String>,
    pub body_limit: Option<usize>,
    pub max_batch: Option<usize>,
    /// How often to retrain when new events arrived, e.g. `30m`, `1h`, `1d`; `0` or absent
    /// for never.
    pub retrain_every: Option<String>,
    /// Train at start-up when the store has events but no model.
    pub train_on_start: Option<bool>,
    pub history_events: Option<usize>,
    pub precompute: Option<usize>,
    /// Longest a `POST /v1/admin/train?wait=true` waits for the job, e.g. `9s`, `2m`.
    pub train_wait: Option<String>,
    /// Longest a request may take before it is answered 503 `timeout` (default 10s).
    pub request_timeout: Option<String>,
    /// Longest a stop (SIGTERM, Ctrl-C) waits for requests in flight (default 10s).
    pub shutdown_timeout: Option<String>,
    /// Served lists older than this many days are deleted (default 90; 0 keeps them).
    pub served_lists_days: Option<u32>,
    /// Events older than this many days are deleted, and so left out of training (default:
    /// kept).
    pub events_days: Option<u32>,
    /// The most events waiting to be written; past it events are answered 503 `overloaded`
    /// (default 100000).
    pub write_queue: Option<usize>,
    /// The most served lists waiting to be logged; past it lists are answered 503
    /// `overloaded` (default 50000).
    pub served_list_queue: Option<usize>,
    /// Re-tune on the store's snapshot this often: `daily`, `weekly` or a duration (`12h`);
    /// absent or `0` for never (`POST /v1/admin/tune` still tunes on demand).
    pub tune: Option<String>,
    /// How long one tuning may take, e.g. `5m` (the default), `30m`.
    pub tune_budget: Option<String>,
    /// The models tuned (default: the trained model).
    pub tune_models: Option<Vec<String>>,
    /// A basket model (e.g. `ease`, `cooccur`) trained on the baskets after each training
    /// and answering bought-together and basket lists (absent: none is trained by the
    /// server; one trained by `aisle train --baskets` still answers).
    pub basket_model: Option<String>,
    #[serde(default)]
    pub training: TrainingSettings,
    /// Experiments to run (`[[experiments]]` tables), started at start-up if new.
    #[serde(default)]
    pub experiments: Vec<ExperimentDefinition>,
    /// Placements (`[[placements]]` tables: `name` and a definition, see
    /// `docs/placements.md`), read-only through the API.
    #[serde(default)]
    pub placements: Vec<Value>,
    /// API keys with scopes (`[[keys]]` tables), beside `api_key` (an admin key) and
    /// `read_api_key` (a read key).
    #[serde(default)]
    pub keys: Vec<KeySettings>,
}

/// A `[[keys]]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub key: String,
    /// `public`, `read`, `write` or `admin`.
    pub scope: String,
    /// Public keys: the origins (`https://shop.example`) whose pages may call; `*` for any.
    #[serde(default)]
    pub origins: Vec<String>,
    /// Public keys: calls a minute from one address (default 300).
    pub rate_per_minute: Option<u32>,
    /// Public keys: calls a minute from every address together (default: no limit).
    pub key_rate_per_minute: Option<u32>,
}

/// The `[training]` table: what the server trains.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSettings {
    pub model: Option<String>,
    #[serde(default)]
    pub params: Map<String, Value>,
    /// A file `aisle tune --out` wrote: the trained model's parameters and weighting from it
    /// (`params` and `weighting` here win over it; it wins over a stored tuning).
    pub params_file: Option<PathBuf>,
    pub weighting: Option<String>,
    #[serde(default)]
    pub weights: BTreeMap<String, f32>,
    pub min_user_events: Option<u32>,
    pub min_item_events: Option<u32>,
    pub seed: Option<u64>,
    /// Score each trained model on a per-user holdout (default true; doubles training time).
    pub holdout: Option<bool>,
    /// Fit on a thread of the server rather than in a child process (default false: the
    /// command-line server fits in a child, see docs/server.md).
    pub in_process: Option<bool>,
}

impl Settings {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// This layer over `lower`: every setting given here wins.
    pub fn over(self, lower: Settings) -> Settings {
        let mut params = lower.training.params;
        params.extend(self.training.params);
        let mut weights = lower.training.weights;
        weights.extend(self.training.weights);
        Settings {
            db: self.db.or(lower.db),
            role: self.role.or(lower.role),
            addr: self.addr.or(lower.addr),
            api_key: self.api_key.or(lower.api_key),
            read_api_key: self.read_api_key.or(lower.read_api_key),
            body_limit: self.body_limit.or(lower.body_limit),
            max_batch: self.max_batch.or(lower.max_batch),
            retrain_every: self.retrain_every.or(lower.retrain_every),
            train_on_start: self.train_on_start.or(lower.train_on_start),
            history_events: self.history_events.or(lower.history_events),
            precompute: self.precompute.or(lower.precompute),
            train_wait: self.train_wait.or(lower.train_wait),
            request_timeout: self.request_timeout.or(lower.request_timeout),
            write_queue: self.write_queue.or(lower.write_queue),
            served_list_queue: self.served_list_queue.or(lower.served_list_queue),
            shutdown_timeout: self.shutdown_timeout.or(lower.shutdown_timeout),
            served_lists_days: self.served_lists_days.or(lower.served_lists_days),
            events_days: self.events_days.or(lower.events_days),
            tune: self.tune.or(lower.tune),
            tune_budget: self.tune_budget.or(lower.tune_budget),
            tune_models: self.tune_models.or(lower.tune_models),
            basket_model: self.basket_model.or(lower.basket_model),
            training: TrainingSettings {
                model: self.training.model.or(lower.training.model),
                params,
                params_file: self.training.params_file.or(lower.training.params_file),
                weighting: self.training.weighting.or(lower.training.weighting),
                weights,
                min_user_events: self
                    .training
                    .min_user_events
                    .or(lower.training.min_user_events),
                min_item_events: self
                    .training
                    .min_item_events
                    .or(lower.training.min_item_events),
                seed: self.training.seed.or(lower.training.seed),
                holdout: self.training.holdout.or(lower.training.holdout),
                in_process: self.training.in_process.or(lower.training.in_process),
            },
            experiments: if self.experiments.is_empty() {
                lower.experiments
            } else {
                self.experiments
            },
            placements: if self.placements.is_empty() {
                lower.placements
            } else {
                self.placements
            },
            keys: if self.keys.is_empty() {
                lower.keys
            } else {
                self.keys
            },
        }
    }

    /// Checks every value and fills in defaults.
    pub fn resolve(self) -> Result<ServerConfig, ConfigError> {
        let invalid =
            |setting: &'static str, message: String| ConfigError::Invalid { setting, message };
        let addr_text = self.addr.as_deref().unwrap_or(DEFAULT_ADDR);
        let addr: SocketAddr = addr_text.parse().map_err(|_| {
            invalid(
                "addr",
                format!("'{addr_text}' is not an address like 127.0.0.1:8080"),
            )
        })?;
        for (setting, key) in [
            ("api_key", &self.api_key),
            ("read_api_key", &self.read_api_key),
        ] {
            if key.as_ref().is_some_and(|k| k.trim().len() < 8) {
                return Err(invalid(
                    setting,
                    "must be at least 8 characters long".into(),
                ));
            }
        }
        let keys = resolve_keys(self.api_key, self.read_api_key, self.keys)
            .map_err(|message| invalid("keys", message))?;
        let retrain_every = match self.retrain_every.as_deref() {
            None => None,
            Some(text) => {
                parse_duration(text).map_err(|message| invalid("retrain_every", message))?
            }
        };
        let train_wait = match self.train_wait.as_deref() {
            None => DEFAULT_TRAIN_WAIT,
            Some(text) => parse_duration(text)
                .map_err(|message| invalid("train_wait", message))?
                .unwrap_or(Duration::ZERO),
        };
        let timeout = |setting: &'static str, value: Option<&str>| match value {
            None => Ok(DEFAULT_TIMEOUT),
            Some(text) => parse_duration(text)
                .map_err(|message| invalid(setting, message))?
                .ok_or_else(|| invalid(setting, "must be at least 1s".into())),
        };
        let request_timeout = timeout("request_timeout", self.request_timeout.as_deref())?;
        let shutdown_timeout = timeout("shutdown_timeout", self.shutdown_timeout.as_deref())?;
        let mut cleaning = CleaningOptions {
            min_user_events: self.training.min_user_events.unwrap_or(0),
            min_item_events: self.training.min_item_events.unwrap_or(0),
            ..CleaningOptions::default()
        };
        for (name, weight) in &self.training.weights {
            cleaning
                .event_types
                .set_weight(name, *weight)
                .map_err(|message| invalid("training.weights", message))?;
        }
        let mut weighting: Weighting = self
            .training
            .weighting
            .as_deref()
            .unwrap_or("auto")
            .parse()
            .map_err(|message| invalid("training.weighting", message))?;
        let model = self.training.model.unwrap_or_else(|| "als".into());
        let basket_model = self.basket_model;
        if let Some(name) = &basket_model {
            aisle_models::model(name).map_err(|e| invalid("basket_model", e.to_string()))?;
        }
        let mut params = self.training.params;
        if let Some(path) = &self.training.params_file {
            let file = aisle_eval::tune::ParamsFile::load(path)
                .map_err(|e| invalid("training.params_file", e.to_string()))?;
            if let Some(tuned) = file.get(&model) {
                let mut merged = tuned.params.clone();
                merged.extend(params);
                params = merged;
                if self.training.weighting.is_none()
                    && let Some(own) = tuned.weighting
                {
                    weighting = own;
                }
            }
        }
        // Fail at start-up, not at the first training, on a bad model name or parameter.
        aisle_models::algorithm(&model, &params).map_err(|e| invalid("training", e.to_string()))?;
        let tuning = match self.tune.as_deref() {
            None => None,
            Some(text) => {
                let every = match text.trim() {
                    "daily" => Some(Duration::from_secs(86_400)),
                    "weekly" => Some(Duration::from_secs(7 * 86_400)),
                    other => parse_duration(other).map_err(|message| {
                        invalid("tune", format!("{message}, or daily or weekly"))
                    })?,
                };
                match every {
                    None => None,
                    Some(every) => {
                        let budget = match self.tune_budget.as_deref() {
                            None => Duration::from_secs(300),
                            Some(text) => parse_duration(text)
                                .map_err(|message| invalid("tune_budget", message))?
                                .ok_or_else(|| {
                                    invalid("tune_budget", "must be longer than 0".into())
                                })?,
                        };
                        let models = self.tune_models.unwrap_or_else(|| vec![model.clone()]);
                        for name in &models {
                            aisle_models::model(name)
                                .map_err(|e| invalid("tune_models", e.to_string()))?;
                        }
                        Some(TuningSchedule {
                            every,
                            spec: TuneSpec {
                                models,
                                budget,
                                cleaning: cleaning.clone(),
                                seed: self.training.seed.unwrap_or(42),
                                ..TuneSpec::default()
                            },
                        })
                    }
                }
            }
        };
        let placements = self
            .placements
            .iter()
            .enumerate()
            .map(|(index, table)| Placement::from_settings(table, index))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("placements", e.to_string()))?;
        let mut names = std::collections::HashSet::new();
        if let Some(twice) = placements.iter().find(|p| !names.insert(p.name.as_str())) {
            return Err(invalid(
                "placements",
                format!("two placements are called '{}'", twice.name),
            ));
        }
        let limit = |setting: &'static str, value: Option<usize>, default: usize| {
            let value = value.unwrap_or(default);
            if value == 0 {
                Err(invalid(setting, "must be at least 1".into()))
            } else {
                Ok(value)
            }
        };
        Ok(ServerConfig {
            addr,
            keys,
            body_limit: limit("body_limit", self.body_limit, DEFAULT_BODY_LIMIT)?,
            max_batch: limit("max_batch", self.max_batch, DEFAULT_MAX_BATCH)?,
            train_wait,
            request_timeout,
            shutdown_timeout,
            train_in_process: self.training.in_process.unwrap_or(false),
            service: ServiceConfig {
                retention: Retention {
                    served_lists_days: match self.served_lists_days {
                        None => Retention::default().served_lists_days,
                        Some(0) => None,
                        Some(days) => Some(days),
                    },
                    events_days: self.events_days.filter(|&d| d > 0),
                },
                write_queue: limit(
                    "write_queue",
                    self.write_queue,
                    aisle_engine::writer::DEFAULT_WRITE_QUEUE,
                )?,
                served_list_queue: limit(
                    "served_list_queue",
                    self.served_list_queue,
                    aisle_engine::experiments::DEFAULT_SERVED_LIST_QUEUE,
                )?,
                retrain_every,
                train_on_start: self.train_on_start.unwrap_or(true),
                engine: EngineConfig {
                    history_events: limit("history_events", self.history_events, 1_000)?,
                    precompute: self.precompute.unwrap_or(100),
                    default_model: Some(model.clone()),
                    basket_model: basket_model.clone(),
                },
                basket_training: basket_model.map(|model| TrainSpec {
                    model,
                    cleaning: cleaning.clone(),
                    seed: self.training.seed.unwrap_or(42),
                    holdout: self.training.holdout.unwrap_or(true),
                    ..TrainSpec::default()
                }),
                training: TrainSpec {
                    model,
                    params,
                    weighting,
                    duplicates: None,
                    cleaning,
                    seed: self.training.seed.unwrap_or(42),
                    holdout: self.training.holdout.unwrap_or(true),
                    use_tuning: true,
                    baskets: false,
                },
                // Only the command line knows how to start one (its own binary).
                training_process: None,
                experiments: self.experiments,
                placements,
                tuning,
                trains: match self.role.as_deref() {
                    None | Some("all") | Some("train") => true,
                    Some("serve") => false,
                    Some(other) => {
                        return Err(invalid(
                            "role",
                            format!("unknown role '{other}' (expected all, train or serve)"),
                        ));
                    }
                },
            },
        })
    }
}

/// The server's validated settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// Every API key: `[[keys]]`, `api_key` (admin) and `read_api_key` (read).
    pub keys: Vec<ApiKey>,
    pub body_limit: usize,
    pub max_batch: usize,
    /// Longest a training request with `wait=true` waits.
    pub train_wait: Duration,
    /// Longest a request may take before it is answered 503 `timeout`.
    pub request_timeout: Duration,
    /// Longest a stop waits for requests in flight before it writes what is queued and exits.
    pub shutdown_timeout: Duration,
    /// What the engine does besides answering: training, schedule, experiments.
    pub service: ServiceConfig,
    /// `[training] in_process`: whoever starts the server leaves
    /// `service.training_process` unset (fits run on a thread of the server).
    pub train_in_process: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Settings::default()
            .resolve()
            .expect("the default settings are valid")
    }
}

/// Every key, checked: at least 8 characters, each once, origins and rates on public keys
/// only.
fn resolve_keys(
    api_key: Option<String>,
    read_api_key: Option<String>,
    tables: Vec<KeySettings>,
) -> Result<Vec<ApiKey>, String> {
    let mut keys: Vec<ApiKey> = Vec::new();
    let plain = |key: String, scope| ApiKey {
        key,
        scope,
        origins: Vec::new(),
        rate_per_minute: DEFAULT_RATE_PER_MINUTE,
        key_rate_per_minute: 0,
    };
    keys.extend(api_key.map(|k| plain(k, Scope::Admin)));
    keys.extend(read_api_key.map(|k| plain(k, Scope::Read)));
    for (index, table) in tables.into_iter().enumerate() {
        let at = |message: &str| format!("keys[{index}]: {message}");
        let scope = Scope::parse(&table.scope)
            .ok_or_else(|| at("scope must be public, read, write or admin"))?;
        if table.key.trim().len() < 8 {
            return Err(at("key must be at least 8 characters long"));
        }
        let public_only = !table.origins.is_empty()
            || table.rate_per_minute.is_some()
            || table.key_rate_per_minute.is_some();
        if scope != Scope::Public && public_only {
            return Err(at(
                "origins, rate_per_minute and key_rate_per_minute are for public keys",
            ));
        }
        if table.rate_per_minute == Some(0) {
            return Err(at("rate_per_minute must be at least 1"));
        }
        keys.push(ApiKey {
            key: table.key,
            scope,
            origins: table.origins,
            rate_per_minute: table.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE),
            key_rate_per_minute: table.key_rate_per_minute.unwrap_or(0),
        });
    }
    let mut seen = std::collections::HashSet::new();
    if keys.iter().any(|k| !seen.insert(k.key.as_str())) {
        return Err("a key is given twice".into());
    }
    Ok(keys)
}

/// Reads `90s`, `15m`, `2h`, `1d` (or a plain number of seconds); `0` means never.
pub fn parse_duration(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 90s, 15m, 2h or 1d"))?;
    let unit_seconds = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "'{text}': unknown unit '{other}' (use s, m, h or d)"
            ));
        }
    };
    Ok((number > 0).then(|| Duration::from_secs(number * unit_seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_duration("15m"), Ok(Some(Duration::from_secs(900))));
        assert_eq!(parse_duration("2h"), Ok(Some(Duration::from_secs(7200))));
        assert_eq!(parse_duration("1d"), Ok(Some(Duration::from_secs(86_400))));
        assert_eq!(parse_duration("30"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(parse_duration("0"), Ok(None));
        assert!(parse_duration("1w").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn layers_give_the_upper_one_precedence_and_files_are_checked() {
        let file: Settings = toml::from_str(
            "addr = \"127.0.0.1:9000\"\nprecompute = 5\n[training]\nmodel = \"ease\"\nparams = { lambda = 100 }\n",
        )
        .unwrap();
        let env = Settings {
            addr: Some("127.0.0.1:9100".into()),
            ..Settings::default()
        };
        let flags = Settings {
            addr: Some("127.0.0.1:9200".into()),
            ..Settings::default()
        };
        let config = flags.over(env.over(file.clone())).resolve().unwrap();
        assert_eq!(config.addr.port(), 9200);
        assert_eq!(config.service.engine.precompute, 5);
        assert_eq!(config.service.training.model, "ease");
        assert_eq!(config.service.training.params["lambda"], 100);
        assert_eq!(
            Settings::default()
                .over(file)
                .resolve()
                .unwrap()
                .addr
                .port(),
            9000
        );

        let unknown = toml::from_str::<Settings>("adress = \"x\"").unwrap_err();
        assert!(unknown.to_string().contains("adress"), "{unknown}");
        let bad_model = Settings {
            training: TrainingSettings {
                model: Some("als".into()),
                params: serde_json::from_str(r#"{"factors": 0}"#).unwrap(),
                ..TrainingSettings::default()
            },
            ..Settings::default()
        };
        let error = bad_model.resolve().unwrap_err().to_string();
        assert!(error.contains("factors"), "{error}");
        let short_key = Settings {
            api_key: Some("abc".into()),
            ..Settings::default()
        };
        assert!(
            short_key
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("api_key")
        );
    }

    #[test]
    fn keys_are_read_from_tables_and_the_older_settings() {
        let settings: Settings = toml::from_str(
            r#"
            api_key = "legacy-admin-1"
            read_api_key = "legacy-read-1"
            [[keys]]
            key = "pk-shop-1234"
            scope = "public"
            origins = ["https://shop.example"]
            rate_per_minute = 60
            "#,
        )
        .unwrap();
        let keys = settings.resolve().unwrap().keys;
        let scopes: Vec<Scope> = keys.iter().map(|k| k.scope).collect();
        assert_eq!(scopes, [Scope::Admin, Scope::Read, Scope::Public]);
        assert_eq!(keys[2].rate_per_minute, 60);
        for (text, wanted) in [
            (
                "[[keys]]\nkey = \"short\"\nscope = \"write\"\n",
                "8 characters",
            ),
            (
                "[[keys]]\nkey = \"long-enough\"\nscope = \"owner\"\n",
                "scope",
            ),
            (
                "[[keys]]\nkey = \"long-enough\"\nscope = \"write\"\norigins = [\"*\"]\n",
                "public keys",
            ),
            (
                "api_key = \"long-enough\"\n[[keys]]\nkey = \"long-enough\"\nscope = \"write\"\n",
                "twice",
            ),
        ] {
            let settings: Settings = toml::from_str(text).unwrap();
            let error = settings.resolve().unwrap_err().to_string();
            assert!(
                error.starts_with("keys") && error.contains(wanted),
                "{error}"
            );
        }
    }

    #[test]
    fn placements_are_read_from_tables_and_checked() {
        let settings: Settings = toml::from_str(
            r#"
            [[placements]]
            name = "home"
            source = "user"
            n = 8
            fallback = ["popular"]
            rules = [
              { filter = { field = "available", equals = true } },
              { boost = { field = "categories", in = ["Audio"], factor = 1.5 } },
              { diversity = { field = "category", max = 2 } },
            ]

            [[placements]]
            name = "product-page"
            source = "similar"
            "#,
        )
        .unwrap();
        let config = settings.resolve().unwrap();
        let placements = &config.service.placements;
        assert_eq!(placements.len(), 2);
        assert_eq!((placements[0].name.as_str(), placements[0].n), ("home", 8));
        assert_eq!(placements[0].rules.len(), 3);
        assert_eq!(placements[1].n, 10);

        let bad: Settings = toml::from_str(
            "[[placements]]\nname = \"home\"\nsource = \"user\"\nrules = [{ boost = { field = \"category\", equals = \"A\", factor = -1 } }]\n",
        )
        .unwrap();
        let error = bad.resolve().unwrap_err().to_string();
        assert!(
            error.contains("placements[0].rules[0].boost.factor"),
            "{error}"
        );
        let twice: Settings = toml::from_str(
            "[[placements]]\nname = \"a\"\nsource = \"popular\"\n[[placements]]\nname = \"a\"\nsource = \"trending\"\n",
        )
        .unwrap();
        assert!(
            twice
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("two placements")
        );
    }

    #[test]
    fn tuning_settings_and_a_params_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tuned.toml");
        std::fs::write(
            &path,
            "[als]\nweighting = \"binary\"\n[als.params]\nfactors = 96\nalpha = 7.5\n",
        )
        .unwrap();
        let text = format!(
            "tune = \"weekly\"\ntune_budget = \"10m\"\n[training]\nparams = {{ alpha = 2.0 }}\n\
             params_file = {:?}\n",
            path.display().to_string()
        );
        let settings: Settings = toml::from_str(&text).unwrap();
        let config = settings.resolve().unwrap();
        let training = &config.service.training;
        // The file gives factors and the weighting; the settings' own alpha wins.
        assert_eq!(training.params["factors"], 96);
        assert_eq!(training.params["alpha"], 2.0);
        assert_eq!(training.weighting, Weighting::Binary);
        let schedule = config.service.tuning.as_ref().unwrap();
        assert_eq!(schedule.every, Duration::from_secs(7 * 86_400));
        assert_eq!(schedule.spec.budget, Duration::from_secs(600));
        assert_eq!(schedule.spec.models, ["als"]);

        let bad: Settings = toml::from_str("tune = \"fortnightly\"").unwrap();
        let error = bad.resolve().unwrap_err().to_string();
        assert!(
            error.starts_with("tune:") && error.contains("weekly"),
            "{error}"
        );
        let missing: Settings =
            toml::from_str("[training]\nparams_file = \"/no/such/tuned.toml\"").unwrap();
        let error = missing.resolve().unwrap_err().to_string();
        assert!(error.contains("/no/such/tuned.toml"), "{error}");
    }
}
