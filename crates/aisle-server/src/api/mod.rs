//! The HTTP API: routes, the state handlers share, and the middleware every request passes
//! (request ids and logs, metrics, API keys, panic recovery, body limit). Each route is
//! declared once, with its handler's OpenAPI annotation, so the router and `/openapi.json`
//! cannot disagree. Handlers are thin: they extract, call the engine on the blocking pool,
//! and format.

pub mod admin;
mod auth;
pub mod catalogue;
mod cors;
pub mod dashboard;
mod deadline;
pub mod events;
pub mod experiments;
pub mod extract;
pub mod keys;
pub mod lists;
pub mod openapi;
pub mod ops;
pub mod placements;
mod request_log;
pub mod storefront;
pub mod tuning;

use std::any::Any;
use std::sync::Arc;

use aisle_engine::Service;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::ServerConfig;
use crate::error::{ApiError, Code};
use crate::metrics::Metrics;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ServerConfig>,
    /// The API keys and their rate limits.
    pub keys: Arc<keys::Keys>,
    /// `/openapi.json`, rendered once from the routes.
    pub openapi: Arc<String>,
    /// Lists made at once (see [`AppState::run_list`]).
    pub list_slots: Arc<tokio::sync::Semaphore>,
}

/// Every API route with its handlers; the OpenAPI document is collected from the same list.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ops::health))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(catalogue::post_items, catalogue::list_items))
        .routes(routes!(
            catalogue::put_item,
            catalogue::get_item,
            catalogue::delete_item
        ))
        .routes(routes!(lists::similar))
        .routes(routes!(lists::bought_together))
        .routes(routes!(lists::basket))
        .routes(routes!(catalogue::post_users, catalogue::list_users))
        .routes(routes!(
            catalogue::put_user,
            catalogue::get_user,
            catalogue::delete_user
        ))
        .routes(routes!(lists::user_recommendations))
        .routes(routes!(lists::buy_again))
        .routes(routes!(experiments::history))
        .routes(routes!(events::post_events))
        .routes(routes!(lists::popular))
        .routes(routes!(lists::trending))
        .routes(routes!(lists::recommend))
        .routes(routes!(admin::models))
        .routes(routes!(admin::train, admin::train_status))
        .routes(routes!(tuning::tune, tuning::tune_status))
        .routes(routes!(tuning::tunings))
        .routes(routes!(experiments::create, experiments::list))
        .routes(routes!(experiments::stop))
        .routes(routes!(experiments::results_of))
        .routes(routes!(experiments::overview))
        .routes(routes!(placements::list))
        .routes(routes!(
            placements::put,
            placements::get,
            placements::delete
        ))
        .routes(routes!(placements::items))
        .routes(routes!(placements::explain))
        .routes(routes!(placements::preview))
}

/// The OpenAPI document of the routes, as a server with `config` answers them.
pub fn document(config: &ServerConfig) -> serde_json::Value {
    openapi::finish(api_routes().split_for_parts().1, config)
}

impl AppState {
    pub fn new(service: Arc<Service>, config: Arc<ServerConfig>) -> AppState {
        let openapi = document(&config).to_string();
        AppState {
            service,
            metrics: Arc::new(Metrics::default()),
            keys: Arc::new(keys::Keys::new(config.keys.clone())),
            config,
            openapi: Arc::new(openapi),
            list_slots: Arc::new(tokio::sync::Semaphore::new(list_slots())),
        }
    }

    /// Makes a list, at most [`list_slots`] at once; the others wait their turn in arrival
    /// order. Unbounded, 32 connections kept ~100 blocking threads busy on two cores, each
    /// with its own SQLite reader and allocator heap: the latency tail came from the
    /// scheduler and the memory (1 GB) never came back.
    ///
    /// Over a store read in this process (SQLite: the history is pages of a mapped file), a
    /// list is CPU work of a fraction of a millisecond, and it runs on the request's own
    /// thread: handing it to the blocking pool and back cost two thread switches, a fifth of
    /// the server's CPU at 8,000 lists/s (perf). Over a database server the history read
    /// waits on the network, and the blocking pool keeps the request threads free meanwhile.
    pub(crate) async fn run_list<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _slot = self
            .list_slots
            .acquire()
            .await
            .map_err(|_| ApiError::new(Code::Internal, "the server is stopping"))?;
        if self.service.store().reads_locally() {
            work()
        } else {
            run_blocking(work).await
        }
    }
}

/// Lists made at once: two per core (one waits on the store while the other computes).
fn list_slots() -> usize {
    std::thread::available_parallelism().map_or(4, |n| 2 * n.get())
}

/// The application: every route with its middleware.
pub fn router(state: AppState) -> Router {
    let app = api_routes()
        .split_for_parts()
        .0
        // The dashboard's and the storefront's pages and assets are not API: they are not in
        // the document.
        .route("/", get(dashboard::index))
        .route("/assets/app.js", get(dashboard::script))
        .route("/assets/style.css", get(dashboard::style))
        .route("/widget.js", get(storefront::widget))
        .route("/shop", get(storefront::shop))
        .route("/shop/", get(storefront::shop))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed);
    with_middleware(app, state)
}

pub(crate) fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    routes
        // Layers wrap what is above them: keys are checked innermost, panics become 500s
        // around that, a request past its deadline is answered 503 `timeout`, CORS answers
        // preflights and marks every answer (errors included) for the storefront's origins,
        // and the request log and metrics see every answer.
        .layer(middleware::from_fn_with_state(state.clone(), auth::check))
        .layer(CatchPanicLayer::custom(panic_answer))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            deadline::limit,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), cors::allow))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_log::observe,
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

fn panic_answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!("a request handler panicked: {message}");
    ApiError::new(
        Code::Internal,
        "the server failed to answer; the error is in its log",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::{Server, ServerConfig};

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_server_stays_up() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = aisle_store::open(dir.path().join("aisle.db").to_str().unwrap()).unwrap();
        let server = Server::new(store, ServerConfig::default()).unwrap();
        async fn boom() -> &'static str {
            panic!("a bug in a handler")
        }
        let state = server.state();
        let app = with_middleware(
            Router::new()
                .route("/boom", get(boom))
                .route("/health", get(ops::health)),
            state.clone(),
        );
        for _ in 0..2 {
            let request = Request::get("/boom").body(Body::empty()).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
        let request = Request::get("/health").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let metrics = state.metrics.render(state.service.stats(), &[], 0);
        assert!(
            metrics.contains("route=\"/boom\",status=\"500\"} 2"),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_is_answered_503_timeout_and_others_are_not() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = aisle_store::open(dir.path().join("aisle.db").to_str().unwrap()).unwrap();
        let config = ServerConfig {
            request_timeout: std::time::Duration::from_millis(200),
            ..ServerConfig::default()
        };
        let server = Server::new(store, config).unwrap();
        async fn stuck() -> &'static str {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            "too late"
        }
        async fn quick() -> &'static str {
            "in time"
        }
        let app = with_middleware(
            Router::new()
                .route("/stuck", get(stuck))
                .route("/quick", get(quick)),
            server.state().clone(),
        );
        let response = app
            .clone()
            .oneshot(Request::get("/stuck").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "2");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "timeout");
        let response = app
            .oneshot(Request::get("/quick").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
