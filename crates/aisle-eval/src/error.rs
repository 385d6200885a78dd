//! Errors of an evaluation run and of writing its reports.

use aisle_models::ModelError;

/// Everything that can go wrong while evaluating models or writing a report.
///
/// The variants split into the caller's mistakes (bad options, mismatched folds, a metric a
/// model cannot give, an unknown model or a bad hyper-parameter) and internal faults (a model
/// that breaks its own contract, an I/O failure); [`EvalError::is_user_error`] tells which.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// An evaluation option is out of its range.
    #[error("invalid evaluation option: {message}")]
    InvalidOption { message: String },
    /// The run was given no folds to evaluate on.
    #[error("no folds to evaluate on")]
    NoFolds,
    /// The run was given no models to evaluate.
    #[error("no models to evaluate")]
    NoModels,
    /// A fold's train and test matrices do not share one user × item index space.
    #[error(
        "fold {fold}: the train matrix is {}×{} but the test matrix is {}×{}; both must use the same id maps",
        train.0, train.1, test.0, test.1
    )]
    FoldShape {
        fold: usize,
        train: (usize, usize),
        test: (usize, usize),
    },
    /// A fold has nothing to score: no test cells for rating metrics, or no user with a
    /// relevant test item for ranking metrics (e.g. a relevance threshold above every rating).
    #[error("fold {fold}: nothing to evaluate for {metrics} metrics ({reason})")]
    NothingToEvaluate {
        fold: usize,
        metrics: &'static str,
        reason: String,
    },
    /// Metrics of a kind the model cannot give were explicitly asked for.
    #[error("model '{model}' cannot give {metrics} metrics (it has no {metrics} capability)")]
    Unsupported {
        model: String,
        metrics: &'static str,
    },
    /// A model could not be built (unknown name, bad hyper-parameter).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A model failed to train on a fold.
    #[error("model '{model}' failed on fold {fold}: {source}")]
    Fit {
        model: String,
        fold: usize,
        #[source]
        source: ModelError,
    },
    /// The caller asked the run to stop.
    #[error("evaluation was cancelled")]
    Cancelled,
    /// A model broke its contract, e.g. claimed rating capability and returned no rating or
    /// a NaN.
    #[error("model '{model}' gave an invalid prediction for user {user}, item {item}: {message}")]
    BadPrediction {
        model: String,
        user: u32,
        item: u32,
        message: String,
    },
    #[error("could not write the report: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not write the CSV report: {0}")]
    Csv(#[from] csv::Error),
    #[error("could not write the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}

impl EvalError {
    /// Whether the error is the caller's to fix (options, data, model names or parameters)
    /// rather than a fault of the program or the machine.
    pub fn is_user_error(&self) -> bool {
        match self {
            EvalError::InvalidOption { .. }
            | EvalError::NoFolds
            | EvalError::NoModels
            | EvalError::FoldShape { .. }
            | EvalError::NothingToEvaluate { .. }
            | EvalError::Unsupported { .. } => true,
            EvalError::Model(e) | EvalError::Fit { source: e, .. } => {
                !matches!(e, ModelError::Cancelled)
            }
            EvalError::Cancelled
            | EvalError::BadPrediction { .. }
            | EvalError::Io(_)
            | EvalError::Csv(_)
            | EvalError::Json(_) => false,
        }
    }
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;
