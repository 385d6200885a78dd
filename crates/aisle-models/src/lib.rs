//! Aisle's recommendation algorithms.
//!
//! Every algorithm has the same shape: hyper-parameters (serde, with defaults) are parsed and
//! checked into an [`Algorithm`], whose `fit` on an [`aisle_data::Interactions`] matrix gives
//! an immutable [`Recommender`]. Models see only dense indices; the caller keeps the id maps.
//! Nothing here knows about HTTP, SQL or async.

pub mod als;
pub mod baseline;
pub mod bpmf;
pub mod bpr;
pub mod buy_again;
pub mod content;
pub mod cooccur;
pub mod ease;
pub mod error;
pub mod factors;
pub mod hybrid;
pub mod kernels;
pub mod knn;
pub mod linalg;
pub mod next_item;
pub mod params;
pub mod persist;
pub mod popular;
pub mod rating_mf;
pub mod recommender;
pub mod registry;
pub mod spd;
pub mod svd;
pub mod svdpp;
pub mod topk;

pub use error::{ModelError, Result};
pub use params::{Domain, ParamSpec, Requires, Search};
pub use persist::TrainedModel;
pub use recommender::{
    Algorithm, Capabilities, FitContext, Progress, Query, Recommender, recommend,
};
pub use registry::{
    Family, MODELS, ModelEntry, Params, algorithm, model, model_names, parse_params, parse_value,
    reads_catalogue,
};
pub use topk::{Scored, top_k};
