//! Errors of model configuration and training.

/// Everything that can go wrong when configuring or fitting a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No model has this name.
    #[error("unknown model '{name}' (known models: {known})")]
    UnknownModel { name: String, known: String },
    /// A hyper-parameter could not be read or is out of its range.
    #[error("model '{model}': {message}")]
    InvalidParameter { model: String, message: String },
    /// The training data cannot be used by this model (e.g. empty, or too many items for a
    /// dense item × item model).
    #[error("model '{model}' cannot train on this data: {message}")]
    UnsuitableData { model: String, message: String },
    /// A model file cannot be written or read (foreign, newer, truncated or corrupt).
    #[error("model file: {0}")]
    Artifact(String),
    /// Training was cancelled by its caller.
    #[error("training was cancelled")]
    Cancelled,
}

impl ModelError {
    pub fn invalid(model: &str, message: impl Into<String>) -> Self {
        ModelError::InvalidParameter {
            model: model.to_string(),
            message: message.into(),
        }
    }

    pub fn unsuitable(model: &str, message: impl Into<String>) -> Self {
        ModelError::UnsuitableData {
            model: model.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
