//! The OpenAPI document, assembled by utoipa from the handlers' annotations and the request
//! and answer types, so it cannot drift from the code (a test checks every route is in it).

use utoipa::OpenApi;

use crate::api::{admin, catalogue, events, experiments, lists, ops};
use crate::engine::{ExperimentTag, Reason, RecommendationList, Recommended};
use crate::error::{ErrorBody, ErrorDetail};
use crate::jobs::{JobState, JobStatus};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Aisle",
        description = "Recommendations for online shops: catalogue, users, events, personalised \
                       lists, similar and popular items, retraining. Errors are \
                       `{\"error\": {\"code\", \"message\"}}`; writes need an API key when one is \
                       configured (`Authorization: Bearer KEY` or `X-Api-Key`)."
    ),
    paths(
        catalogue::put_item,
        catalogue::get_item,
        catalogue::delete_item,
        catalogue::post_items,
        catalogue::list_items,
        catalogue::put_user,
        catalogue::get_user,
        catalogue::delete_user,
        catalogue::post_users,
        catalogue::list_users,
        events::post_events,
        lists::user_recommendations,
        lists::recommend,
        lists::similar,
        lists::popular,
        lists::trending,
        admin::train,
        admin::train_status,
        admin::models,
        ops::health,
        ops::metrics,
        ops::openapi,
        experiments::create,
        experiments::list,
        experiments::stop,
        experiments::results_of,
        experiments::overview,
        experiments::history,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        RecommendationList,
        Recommended,
        Reason,
        JobStatus,
        JobState,
        catalogue::ItemBody,
        catalogue::UserBody,
        catalogue::TimeValue,
        catalogue::Written,
        catalogue::ItemPage,
        catalogue::UserPage,
        events::EventBody,
        events::EventsAnswer,
        events::EventError,
        ExperimentTag,
        experiments::ExperimentList,
        experiments::Overview,
        experiments::DayCountBody,
        experiments::History,
        experiments::HistoryEvent,
        crate::experiments::ExperimentDefinition,
        crate::experiments::VariantDefinition,
        crate::experiments::ExperimentInfo,
        crate::experiments::ExperimentResults,
        crate::experiments::VariantResult,
        crate::experiments::Comparison,
        crate::experiments::DayResult,
        lists::RecommendBody,
        lists::HistoryBody,
        admin::TrainBody,
        admin::TrainAnswer,
        admin::ModelsAnswer,
        admin::ServingModel,
        admin::StoredVersion,
        ops::Health,
    ))
)]
pub struct ApiDoc;
