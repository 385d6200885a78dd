//! Command-line arguments (clap derive). Loose strings are parsed into validated options in
//! [`crate::input`] before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "aisle", version, about = "A recommendation engine for online shops", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written to stderr: text or json (one object per line).
    #[arg(long, global = true, env = "AISLE_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::logging::LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a sample shop, import it into a fresh store, train, and serve it on
    /// 127.0.0.1:8080.
    Demo(DemoArgs),
    /// Serve the HTTP API over a store: catalogue, users, events, recommendations, retraining.
    Serve(Box<ServeArgs>),
    /// Simulated shoppers with a generated shop's planted tastes against a running server.
    Simulate(SimulateArgs),
    /// Write a synthetic shop: items.csv, users.csv and events.csv with a planted taste structure.
    Generate(GenerateArgs),
    /// Statistics and the cleaning report of an events file.
    Inspect(InspectArgs),
    /// Write the cleaned events of a file in Aisle's own CSV layout.
    Clean(CleanArgs),
    /// Read and clean events (and optionally items and users) into a store.
    Import(ImportArgs),
    /// Train a model on everything in a store and save it there as a new version.
    Train(TrainArgs),
    /// Recommendations for a user, from the store's latest model.
    Recommend(RecommendArgs),
    /// Items similar to an item, from the store's latest model.
    Similar(SimilarArgs),
    /// Train models on folds of the data and compare their offline metrics.
    Evaluate(Box<EvaluateArgs>),
    /// Choose models' hyper-parameters and weighting on a validation split of the data.
    Tune(Box<TuneArgs>),
    /// The models, their hyper-parameters, defaults, allowed values and search ranges.
    Models(ModelsArgs),
    /// Work on whole stores: `aisle store copy --from aisle.db --to postgres://...`.
    #[command(subcommand)]
    Store(StoreCommand),
    /// The process a server's retraining fits in (started by `aisle serve`, not by hand):
    /// reads the request on stdin, answers on stdout.
    #[command(hide = true)]
    TrainWorker(TrainWorkerArgs),
}

#[derive(Debug, Args)]
pub struct TrainWorkerArgs {
    /// The server's store. The server passes it in the environment, not on the command
    /// line, where a postgres:// URL's password would show in every user's `ps`.
    #[arg(long, env = "AISLE_TRAIN_DB", hide_env_values = true)]
    pub db: String,
    /// The server's process id: the worker exits when it is no longer its parent.
    #[arg(long)]
    pub parent: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy everything in one store into another, empty one (SQLite ↔ PostgreSQL): catalogue,
    /// users, events, model versions, experiments with their served lists, tunings.
    Copy {
        /// The store to read: a SQLite file or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// The empty store to write (created if missing): a SQLite file or a postgres:// URL.
        #[arg(long)]
        to: String,
    },
    /// Back a SQLite store up while it serves: a consistent copy of everything committed
    /// when the backup began (PostgreSQL: use pg_dump, see docs/store.md).
    Backup {
        /// The SQLite store.
        #[arg(long)]
        db: PathBuf,
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a backup in place of a store (the server must be stopped): the backup is checked
    /// to be an Aisle store first, and the store's file is replaced, its WAL files removed.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The store to replace (or create).
        #[arg(long)]
        db: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Only this model.
    pub model: Option<String>,
    /// Print JSON (each model's parameter schema) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// How to read and clean an events file.
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// File layout: auto, csv, tsv, jsonl or movielens (gzip is detected by content).
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Column mapping, e.g. `user=customer_id,item=sku,type=event,value=qty,timestamp=ts`, or
    /// 1-based positions for files without a header: `user=1,item=2,value=3`.
    #[arg(long)]
    pub map: Option<String>,
    /// The first line is a header (default: guessed from the column names).
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    /// The file has no header line.
    #[arg(long)]
    pub no_header: bool,
    /// Ratings outside MIN:MAX are dropped, e.g. `1:5` or `0.5:5`.
    #[arg(long, value_name = "MIN:MAX")]
    pub rating_scale: Option<String>,
    /// Weight of an event type, e.g. `purchase=5`; declares a custom type (repeatable).
    #[arg(long = "weight", value_name = "TYPE=W")]
    pub weights: Vec<String>,
    /// Type of rows in a file without a type column (default: rating if the row has a value,
    /// view otherwise).
    #[arg(long)]
    pub default_type: Option<String>,
    /// Keep exact duplicate rows instead of dropping them.
    #[arg(long)]
    pub keep_duplicates: bool,
    /// Drop users with fewer events (iteratively, with --min-item-events).
    #[arg(long, default_value_t = 0)]
    pub min_user_events: u32,
    /// Drop items with fewer events (iteratively, with --min-user-events).
    #[arg(long, default_value_t = 0)]
    pub min_item_events: u32,
    /// A catalogue (items file): events for items not in it are dropped.
    #[arg(long, value_name = "FILE")]
    pub items: Option<PathBuf>,
    /// What each line is: auto (order lines when the file has a basket column with
    /// quantities and no event types), events, or transactions (order lines).
    #[arg(long, default_value = "auto")]
    pub kind: String,
    /// Order lines: a basket id starting with this is a cancellation ('' for none).
    #[arg(long, default_value = "C", value_name = "PREFIX")]
    pub cancel_prefix: String,
    /// Order lines: keep returns (cancellations, negative quantities) as `return` events, or
    /// drop them.
    #[arg(long, default_value = "keep", value_name = "keep|drop")]
    pub returns: String,
    /// Order lines: item ids matching this regular expression are products; others are
    /// dropped as `non_product` (default: ids holding a digit).
    #[arg(long, value_name = "REGEX")]
    pub product_pattern: Option<String>,
    /// Order lines: item ids matching this regular expression are not products (repeatable;
    /// replaces the default rule).
    #[arg(long, value_name = "REGEX")]
    pub non_product: Vec<String>,
    /// Order lines: keep lines whose unit price is zero or less.
    #[arg(long)]
    pub keep_zero_prices: bool,
    /// Order lines: keep item ids that differ only in letter case apart.
    #[arg(long)]
    pub keep_case: bool,
    /// Order lines: purchases above this quantile of quantities are outliers, dropped with
    /// the returns that cancel them (1 keeps every quantity).
    #[arg(long, default_value_t = 0.9999, value_name = "Q")]
    pub outlier_quantile: f64,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The events file (CSV, TSV, JSON Lines or MovieLens; optionally gzipped).
    pub file: PathBuf,
    #[command(flatten)]
    pub events: EventsArgs,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// The events file to clean.
    pub file: PathBuf,
    /// Where to write the cleaned events (`.gz` compresses).
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub events: EventsArgs,
    /// Print the cleaning report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// One events file, split by --protocol.
    #[arg(long, conflicts_with_all = ["train", "test"], required_unless_present = "train")]
    pub data: Option<PathBuf>,
    /// Split protocol for --data: random:F, user-holdout:F, temporal:F, leave-last, kfold:K,
    /// or basket:F (complete a basket; see docs/evaluation.md).
    #[arg(long, default_value = "kfold:5")]
    pub protocol: String,
    /// A training file; repeat --train/--test pairs for several folds (e.g. u1..u5).
    #[arg(long, requires = "test")]
    pub train: Vec<PathBuf>,
    /// The test file of the preceding --train.
    #[arg(long, requires = "train")]
    pub test: Vec<PathBuf>,
    /// Models to compare, comma-separated (e.g. `baseline,svd,svdpp`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub models: Vec<String>,
    /// A hyper-parameter, `MODEL.PARAM=VALUE` (repeatable), e.g. `svd.factors=100`.
    #[arg(long = "set", value_name = "MODEL.PARAM=VALUE")]
    pub set: Vec<String>,
    /// Settings written by `aisle tune --out`: each model's parameters and weighting
    /// (`--set` and an explicit `--weighting` win over the file).
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Cut-off K of the ranking metrics.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Seed of the split and of every model.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Matrix weights: auto, ratings, implicit, binary or counts (see docs/data-formats.md).
    #[arg(long, default_value = "auto")]
    pub weighting: String,
    /// How several events of one user-item pair merge into a matrix cell: last, sum or max
    /// (default: last for ratings, sum for implicit weights, max for binary).
    #[arg(long, value_name = "POLICY")]
    pub duplicates: Option<String>,
    /// Which metrics: auto (by each model's capabilities), rating, ranking or all.
    #[arg(long, default_value = "auto")]
    pub metrics: String,
    /// For ranking metrics, a test cell is relevant when its weight is at least this
    /// (default: every test cell is relevant).
    #[arg(long)]
    pub relevance_threshold: Option<f32>,
    /// A test item the user already had in training: exclude (set aside and counted; lists
    /// find items new to each user) or include (relevant, and lists may repeat training
    /// items: buy again).
    #[arg(long, default_value = "exclude", value_name = "exclude|include")]
    pub repeats: String,
    /// Write the full report as JSON.
    #[arg(long, value_name = "OUT")]
    pub json: Option<PathBuf>,
    /// Write one CSV row per model and fold.
    #[arg(long, value_name = "OUT")]
    pub csv: Option<PathBuf>,
    /// Write a self-contained HTML page comparing the models.
    #[arg(long, value_name = "OUT")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub events: EventsArgs,
}

/// `aisle tune`: the data given is training data; the validation split is carved from it.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// An events file to tune on (all of it training data: keep any test file apart).
    #[arg(long, required_unless_present = "db", conflicts_with = "db")]
    pub data: Option<PathBuf>,
    /// Tune on a store's training snapshot instead (a SQLite file or a postgres:// URL); the
    /// result is also saved in the store, and the server's next trainings use it.
    #[arg(long, visible_alias = "database-url")]
    pub db: Option<String>,
    /// Models to tune, comma-separated (e.g. `als,ease,item-knn`).
    #[arg(long, alias = "models", value_delimiter = ',', required = true)]
    pub model: Vec<String>,
    /// Time for the whole search, shared by the models, e.g. `90s`, `5m`, `1h`.
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,
    /// Trials per model (a trial trains and scores one candidate) [default: 40 without
    /// --budget].
    #[arg(long)]
    pub trials: Option<usize>,
    /// Instead of the search, every combination of N values per searched parameter (and
    /// every weighting), each trained in full: the slow, exhaustive baseline.
    #[arg(long, value_name = "N")]
    pub grid: Option<usize>,
    /// What to maximise: ndcg@K, precision@K, recall@K, map@K, hitrate@K or mrr@K — or
    /// rmse or mae, minimised, for rating models.
    #[arg(long, default_value = "ndcg@10")]
    pub metric: String,
    /// How the validation split is carved from the data: user-holdout:F, temporal:F,
    /// random:F or leave-last.
    #[arg(long, default_value = "user-holdout:0.2")]
    pub protocol: String,
    /// Weightings to try, comma-separated, or auto: those that suit the data and model.
    #[arg(long, default_value = "auto", value_name = "auto|W,W,...")]
    pub weighting: String,
    /// How several events of one pair merge into a cell: last, sum or max.
    #[arg(long, value_name = "POLICY")]
    pub duplicates: Option<String>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the chosen settings here (TOML), for `--params` and the server's `params_file`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write every trial and the outcome as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub events: EventsArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1_000)]
    pub users: u32,
    #[arg(long, default_value_t = 500)]
    pub items: u32,
    #[arg(long, default_value_t = 50_000)]
    pub events: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of product categories.
    #[arg(long)]
    pub categories: Option<u32>,
    /// Days of history the events span.
    #[arg(long)]
    pub days: Option<u32>,
    /// Start of that period, Unix seconds (default: a fixed date, so output is reproducible).
    #[arg(long)]
    pub start: Option<i64>,
    /// Write play counts instead of shop events: `plays.csv` (`user_id,item_id,plays`), the
    /// totals of `--events` listens per user and item, longer for items a user likes more.
    #[arg(long)]
    pub counts: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the sample shop and the report.
    #[arg(long, default_value = "aisle-demo")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 5_000)]
    pub users: u32,
    #[arg(long, default_value_t = 1_000)]
    pub items: u32,
    #[arg(long, default_value_t = 300_000)]
    pub events: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The model to train and serve.
    #[arg(long, default_value = "als")]
    pub model: String,
    /// Before serving, train these models on 80% of each user's items and compare them on
    /// the rest (writes report.html), e.g. `popular,item-knn,als,bpr,ease`.
    #[arg(long, value_delimiter = ',', value_name = "MODELS")]
    pub compare: Vec<String>,
    /// Where to serve.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Stop after training instead of serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Serve without the simulated shoppers and their experiment (a demo with `--data` has
    /// none anyway: nobody knows real shoppers' tastes).
    #[arg(long)]
    pub no_simulate: bool,
    /// A shop's own events file (an order export, e.g.
    /// ../shared/data/online-retail/online_retail.csv.gz) instead of a generated shop.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// With --data: the catalogue from the file's own columns (`title=Description,
    /// price=UnitPrice`), found by name with `auto`, or `none`.
    #[arg(
        long,
        default_value = "auto",
        value_name = "FIELD=COLUMN,...|auto|none"
    )]
    pub items_from_events: String,
    /// With --data: file layout (auto, csv, tsv, jsonl or movielens).
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// With --data: column mapping, e.g. `user=CustomerID,item=StockCode,value=Quantity`.
    #[arg(long)]
    pub map: Option<String>,
    /// With --data: what each line is (auto, events or transactions).
    #[arg(long, default_value = "auto")]
    pub kind: String,
}

/// `aisle simulate`: the shop's settings must be those it was generated with, so the
/// shoppers' tastes are the planted ones.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// How many of the shop's users act as shoppers.
    #[arg(long, default_value_t = 200)]
    pub users: u32,
    /// The seed the shop was generated with (also seeds the shoppers' choices).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Users of the generated shop (`aisle generate --users`).
    #[arg(long, default_value_t = 1_000)]
    pub shop_users: u32,
    /// Items of the generated shop (`aisle generate --items`).
    #[arg(long, default_value_t = 500)]
    pub shop_items: u32,
    /// Visits per second (0: as fast as the server answers).
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Stop after this many visits (0: run until stopped).
    #[arg(long, default_value_t = 0)]
    pub visits: u64,
    /// API key for the server's writes and reads.
    #[arg(long, env = "AISLE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// `aisle serve`: every setting may also come from `--config FILE` (TOML) or an `AISLE_*`
/// variable; a flag wins over the variable, which wins over the file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML settings file (see docs/server.md).
    #[arg(long, env = "AISLE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The store: a SQLite file (created if missing) or a postgres:// URL [default: aisle.db]
    /// (also AISLE_DATABASE_URL).
    #[arg(long, env = "AISLE_DB", visible_alias = "database-url")]
    pub db: Option<String>,
    /// `all` (serve and train; the default), `train` (the same) or `serve` (never trains;
    /// serves the versions other replicas sharing the database train).
    #[arg(long, env = "AISLE_ROLE")]
    pub role: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "AISLE_ADDR")]
    pub addr: Option<String>,
    /// Writes and admin calls need this key.
    #[arg(long, env = "AISLE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Reads need this key (or the write key).
    #[arg(long, env = "AISLE_READ_API_KEY", hide_env_values = true)]
    pub read_api_key: Option<String>,
    /// Largest request body in bytes [default: 4194304].
    #[arg(long, env = "AISLE_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Most records in one batch request [default: 1000].
    #[arg(long, env = "AISLE_MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// Retrain when new events arrived, this often: 90s, 15m, 1h, 1d (0: never).
    #[arg(long, env = "AISLE_RETRAIN_EVERY")]
    pub retrain_every: Option<String>,
    /// Train at start-up when the store has events but no model [default: true].
    #[arg(long, env = "AISLE_TRAIN_ON_START")]
    pub train_on_start: Option<bool>,
    /// The model to train and serve by default [default: als].
    #[arg(long, env = "AISLE_MODEL")]
    pub model: Option<String>,
    /// A hyper-parameter of that model, `PARAM=VALUE` (repeatable).
    #[arg(long = "set", value_name = "PARAM=VALUE")]
    pub set: Vec<String>,
    /// Items ranked ahead of time per known user at each model swap (0: none) [default: 100].
    #[arg(long, env = "AISLE_PRECOMPUTE")]
    pub precompute: Option<usize>,
    /// A user's most recent events read as their history [default: 1000].
    #[arg(long, env = "AISLE_HISTORY_EVENTS")]
    pub history_events: Option<usize>,
    /// Longest a request may take before it is answered 503 `timeout` (90s, 2m) [default: 10s].
    #[arg(long, env = "AISLE_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,
    /// Longest a stop (SIGTERM, Ctrl-C) waits for requests in flight [default: 10s].
    #[arg(long, env = "AISLE_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<String>,
    /// Served lists older than this many days are deleted (0: kept) [default: 90].
    #[arg(long, env = "AISLE_SERVED_LISTS_DAYS")]
    pub served_lists_days: Option<u32>,
    /// Events older than this many days are deleted, and left out of training [default: kept].
    #[arg(long, env = "AISLE_EVENTS_DAYS")]
    pub events_days: Option<u32>,
    /// Most events waiting to be written before events are answered 503 `overloaded`
    /// [default: 100000].
    #[arg(long, env = "AISLE_WRITE_QUEUE")]
    pub write_queue: Option<usize>,
    /// Most served lists waiting to be logged before lists are answered 503 `overloaded`
    /// [default: 50000].
    #[arg(long, env = "AISLE_SERVED_LIST_QUEUE")]
    pub served_list_queue: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The store: a SQLite file (created if missing) or a postgres:// URL.
    #[arg(
        long,
        default_value = "aisle.db",
        env = "AISLE_DATABASE_URL",
        visible_alias = "database-url"
    )]
    pub db: String,
    /// The events file to import (CSV, TSV, JSON Lines or MovieLens; optionally gzipped).
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// A users file (CSV/TSV with a header, or JSON Lines) to store beside the events.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Read the catalogue from the events file itself: each item's title, price and category
    /// from its latest line, e.g. `title=Description,price=UnitPrice`, or `auto` to find the
    /// columns by name.
    #[arg(long, value_name = "FIELD=COLUMN,...|auto", conflicts_with = "items")]
    pub items_from_events: Option<String>,
    /// Reading and cleaning options; `--items FILE` also stores the catalogue.
    #[command(flatten)]
    pub read: EventsArgs,
    /// Events per transaction.
    #[arg(long, default_value_t = 100_000)]
    pub batch: usize,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The store: a SQLite file or a postgres:// URL.
    #[arg(
        long,
        default_value = "aisle.db",
        env = "AISLE_DATABASE_URL",
        visible_alias = "database-url"
    )]
    pub db: String,
    /// The algorithm (see `docs/models.md`).
    #[arg(long, default_value = "als")]
    pub model: String,
    /// A hyper-parameter, `PARAM=VALUE` (repeatable), e.g. `factors=64`.
    #[arg(long = "set", value_name = "PARAM=VALUE")]
    pub set: Vec<String>,
    /// Settings written by `aisle tune --out`: the model's parameters and weighting (`--set`
    /// and an explicit `--weighting` win over the file).
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Matrix weights: auto, ratings, implicit, binary or counts.
    #[arg(long, default_value = "auto")]
    pub weighting: String,
    /// How several events of one user-item pair merge into a matrix cell: last, sum or max
    /// (default: last for ratings, sum for implicit weights, max for binary).
    #[arg(long, value_name = "POLICY")]
    pub duplicates: Option<String>,
    /// Weight of an event type, e.g. `purchase=5`; declares a custom type (repeatable).
    #[arg(long = "weight", value_name = "TYPE=W")]
    pub weights: Vec<String>,
    /// Drop users with fewer events from the training snapshot (iteratively with items).
    #[arg(long, default_value_t = 0)]
    pub min_user_events: u32,
    /// Drop items with fewer events from the training snapshot (iteratively with users).
    #[arg(long, default_value_t = 0)]
    pub min_item_events: u32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Skip scoring the model on a per-user holdout (which doubles the training time).
    #[arg(long)]
    pub no_holdout: bool,
    /// Train with the shipped defaults even when the store holds a tuning of the model
    /// (`aisle tune --db`): by default its settings fill in what --set and --params leave.
    #[arg(long)]
    pub ignore_tuning: bool,
    /// Train on the baskets (orders: the basket column, else each user's purchases per day)
    /// instead of users' histories; stored as MODEL@baskets, it answers the server's
    /// bought-together and basket lists.
    #[arg(long)]
    pub baskets: bool,
}

/// Which stored model answers.
#[derive(Debug, Clone, Args)]
pub struct ModelChoice {
    /// The store: a SQLite file or a postgres:// URL.
    #[arg(
        long,
        default_value = "aisle.db",
        env = "AISLE_DATABASE_URL",
        visible_alias = "database-url"
    )]
    pub db: String,
    /// The algorithm whose latest version answers (default: the latest model of any kind).
    #[arg(long)]
    pub model: Option<String>,
    /// How many items.
    #[arg(short = 'n', long = "n", default_value_t = 10)]
    pub n: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// The shop's user id.
    #[arg(long)]
    pub user: String,
    #[command(flatten)]
    pub choice: ModelChoice,
}

#[derive(Debug, Args)]
pub struct SimilarArgs {
    /// The shop's item id.
    #[arg(long)]
    pub item: String,
    #[command(flatten)]
    pub choice: ModelChoice,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
