//! The HTTP API: routes, the state handlers share, and the middleware every request passes
//! (API keys, metrics, panic recovery, body limit). Handlers are thin: they extract, call
//! the engine or the store on the blocking pool, and format.

pub mod admin;
mod auth;
pub mod catalogue;
pub mod dashboard;
pub mod events;
pub mod experiments;
pub mod extract;
pub mod lists;
pub mod openapi;
pub mod ops;

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::ServerConfig;
use crate::engine::Engine;
use crate::error::ApiError;
use crate::experiments::Experiments;
use crate::jobs::Trainer;
use crate::metrics::Metrics;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub trainer: Arc<Trainer>,
    pub metrics: Arc<Metrics>,
    pub experiments: Arc<Experiments>,
    pub config: Arc<ServerConfig>,
}

/// The routes as `(method, path)`, for documentation and the test that checks the OpenAPI
/// document lists each of them.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/v1/items"),
    ("get", "/v1/items"),
    ("put", "/v1/items/{id}"),
    ("get", "/v1/items/{id}"),
    ("delete", "/v1/items/{id}"),
    ("get", "/v1/items/{id}/similar"),
    ("post", "/v1/users"),
    ("get", "/v1/users"),
    ("put", "/v1/users/{id}"),
    ("get", "/v1/users/{id}"),
    ("delete", "/v1/users/{id}"),
    ("get", "/v1/users/{id}/recommendations"),
    ("post", "/v1/events"),
    ("get", "/v1/popular"),
    ("get", "/v1/trending"),
    ("post", "/v1/recommend"),
    ("get", "/v1/models"),
    ("post", "/v1/admin/train"),
    ("get", "/v1/admin/train"),
    ("post", "/v1/experiments"),
    ("get", "/v1/experiments"),
    ("post", "/v1/experiments/{name}/stop"),
    ("get", "/v1/experiments/{name}/results"),
    ("get", "/v1/stats/overview"),
    ("get", "/v1/users/{id}/history"),
];

/// The application: every route with its middleware.
pub fn router(state: AppState) -> Router {
    with_middleware(routes(), state)
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/app.js", get(dashboard::script))
        .route("/assets/style.css", get(dashboard::style))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route(
            "/v1/items",
            post(catalogue::post_items).get(catalogue::list_items),
        )
        .route(
            "/v1/items/{id}",
            put(catalogue::put_item)
                .get(catalogue::get_item)
                .delete(catalogue::delete_item),
        )
        .route("/v1/items/{id}/similar", get(lists::similar))
        .route(
            "/v1/users",
            post(catalogue::post_users).get(catalogue::list_users),
        )
        .route(
            "/v1/users/{id}",
            put(catalogue::put_user)
                .get(catalogue::get_user)
                .delete(catalogue::delete_user),
        )
        .route(
            "/v1/users/{id}/recommendations",
            get(lists::user_recommendations),
        )
        .route("/v1/events", post(events::post_events))
        .route("/v1/popular", get(lists::popular))
        .route("/v1/trending", get(lists::trending))
        .route("/v1/recommend", post(lists::recommend))
        .route("/v1/models", get(admin::models))
        .route(
            "/v1/admin/train",
            post(admin::train).get(admin::train_status),
        )
        .route(
            "/v1/experiments",
            post(experiments::create).get(experiments::list),
        )
        .route("/v1/experiments/{name}/stop", post(experiments::stop))
        .route(
            "/v1/experiments/{name}/results",
            get(experiments::results_of),
        )
        .route("/v1/stats/overview", get(experiments::overview))
        .route("/v1/users/{id}/history", get(experiments::history))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
}

fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    routes
        // Layers wrap what is above them: keys are checked innermost, panics become 500s
        // around that, and metrics see every answer, 500s included.
        .layer(middleware::from_fn_with_state(state.clone(), auth::check))
        .layer(CatchPanicLayer::custom(panic_answer))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Runs store or engine work on tokio's blocking pool, so it never holds an async worker.
pub(crate) async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await?
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    state.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn panic_answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    eprintln!("aisle: a request handler panicked: {message}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed to answer; the error is in its log",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::{Server, ServerConfig};

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_server_stays_up() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = aisle_store::SqliteStore::open(dir.path().join("aisle.db")).unwrap();
        let server = Server::new(Arc::new(store), ServerConfig::default()).unwrap();
        async fn boom() -> &'static str {
            panic!("a bug in a handler")
        }
        let app = with_middleware(routes().route("/boom", get(boom)), server.state().clone());
        for _ in 0..2 {
            let request = Request::get("/boom").body(Body::empty()).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
        let request = Request::get("/health").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let metrics = server.state().metrics.render(&[], 0);
        assert!(
            metrics.contains("route=\"/boom\",status=\"500\"} 2"),
            "{metrics}"
        );
    }
}
