//! API keys: when configured, writes need the write key and reads need the read key (or the
//! write key). The shop owner's views — what the dashboard reads: statistics, experiments,
//! model versions, a user's history — are reads too, but from anywhere but loopback they need
//! a key whenever any key is configured: the dashboard works without a login on the machine
//! itself and asks for the key elsewhere. Keys come as `Authorization: Bearer KEY` or `X-Api-Key: KEY` and are compared
//! in constant time. Health, metrics, the OpenAPI document and the dashboard's static files
//! stay public (the dashboard asks for a key itself when the API needs one).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::error::{ApiError, Code};

/// Routes anyone may call.
const PUBLIC: [&str; 3] = ["/health", "/metrics", "/openapi.json"];

pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if PUBLIC.contains(&path) || path == "/" || path.starts_with("/assets/") {
        return next.run(request).await;
    }
    let config = &state.config;
    // Asking for a list is a read even when the question comes as a POST body.
    let read = matches!(*request.method(), Method::GET | Method::HEAD)
        || path == "/v1/recommend"
        || path == "/v1/basket";
    let write_key = config.api_key.as_deref();
    let read_key = config.read_api_key.as_deref();
    let accepted: Vec<&str> = if read {
        let guarded = read_key.is_some() || (owner_view(path) && !from_loopback(&request));
        if guarded {
            [read_key, write_key].into_iter().flatten().collect()
        } else {
            Vec::new()
        }
    } else {
        write_key.into_iter().collect()
    };
    if accepted.is_empty() {
        return next.run(request).await;
    }
    match presented_key(request.headers()) {
        None => ApiError::new(
            Code::MissingApiKey,
            "this call needs an API key: send `Authorization: Bearer KEY` or `X-Api-Key: KEY`",
        )
        .into_response(),
        Some(key)
            if accepted
                .iter()
                .any(|k| same_key(k.as_bytes(), key.as_bytes())) =>
        {
            next.run(request).await
        }
        Some(_) => ApiError::new(
            Code::InvalidApiKey,
            if read {
                "the API key is not valid for reading"
            } else {
                "the API key is not valid for writing"
            },
        )
        .into_response(),
    }
}

/// The routes that show the shop's own figures rather than answer its shoppers.
fn owner_view(path: &str) -> bool {
    path.starts_with("/v1/stats/")
        || path.starts_with("/v1/experiments")
        || path.starts_with("/v1/models")
        || path.starts_with("/v1/admin/")
        || (path.starts_with("/v1/users/") && path.ends_with("/history"))
        || (path.starts_with("/v1/placements") && !path.ends_with("/items"))
}

/// Whether the request came over loopback. Without connection information (a router driven
/// in process) it counts as local.
fn from_loopback(request: &Request) -> bool {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_none_or(|info| info.0.ip().is_loopback())
}

fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(value.trim().to_string());
    }
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let (scheme, key) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim().to_string())
}

/// Equality whose time depends only on the lengths, not on where the keys differ, so a
/// caller cannot find a key byte by byte from response times.
fn same_key(expected: &[u8], presented: &[u8]) -> bool {
    let mut difference = u8::from(expected.len() != presented.len());
    for (i, &e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(!e);
        difference |= e ^ p;
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_by_content_and_length() {
        assert!(same_key(b"secret-key", b"secret-key"));
        assert!(!same_key(b"secret-key", b"secret-kez"));
        assert!(!same_key(b"secret-key", b"secret-ke"));
        assert!(!same_key(b"secret-key", b"secret-keyy"));
        assert!(!same_key(b"secret-key", b""));
    }

    #[test]
    fn keys_are_read_from_either_header() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer abc123".parse().unwrap());
        assert_eq!(presented_key(&headers).as_deref(), Some("abc123"));
        headers.insert("x-api-key", "xyz".parse().unwrap());
        assert_eq!(presented_key(&headers).as_deref(), Some("xyz"));
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }
}
