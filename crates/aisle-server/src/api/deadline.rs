//! The per-request deadline: a request still unanswered after the server's
//! `request_timeout` (default 10 s) is answered 503 `timeout` with `Retry-After`, so a
//! stuck database or an unexpectedly slow request never holds a client (or a load
//! balancer's connection) for ever. Work already handed to the blocking pool runs to its
//! end in the background: a write may still complete, as the error's description says.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::error::{ApiError, Code};

pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let timeout = state.config.request_timeout;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            Code::Timeout,
            format!(
                "no answer within the server's request_timeout ({} s)",
                timeout.as_secs_f64()
            ),
        )
        .into_response(),
    }
}
