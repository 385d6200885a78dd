//! The key check every API call passes (see [`keys`](crate::api::keys) for the scopes).
//!
//! Which calls need a key: writes once any key but a read key is configured; shoppers'
//! reads once a read key is; the owner's views — what the dashboard reads: statistics,
//! experiments, models, histories, placements' definitions — from anywhere but loopback as
//! soon as any key is configured (the dashboard works without a login on the machine itself
//! and asks for the key elsewhere). A key presented where none is needed still counts: a
//! public key's rate limit applies, and its scope goes with the request (the events route
//! lets a public key send clicks and views only).
//!
//! Keys come as `Authorization: Bearer KEY` or `X-Api-Key: KEY`; a public key may also come
//! as `?key=KEY` (a storefront's `navigator.sendBeacon` cannot set headers), and is then taken
//! off the query before the route reads it. Health, metrics, the OpenAPI document, the
//! dashboard's files, the widget and the sample storefront stay public.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::api::keys::{Admission, Need, Scope};
use crate::error::{ApiError, Code};

/// Routes anyone may call.
const PUBLIC: [&str; 4] = ["/health", "/metrics", "/openapi.json", "/widget.js"];

pub async fn check(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if PUBLIC.contains(&path.as_str())
        || path == "/"
        || path.starts_with("/assets/")
        || path == "/shop"
        || path.starts_with("/shop/")
    {
        return next.run(request).await;
    }
    let keys = &state.keys;
    let need = Need::of(request.method(), &path);
    let guarded = match need {
        Need::ShopperRead => keys.reads_guarded,
        Need::OwnerView => keys.reads_guarded || (!keys.is_empty() && !from_loopback(&request)),
        Need::Events | Need::Write | Need::Admin => keys.writes_guarded,
    };
    let (presented, in_query) = match presented_key(request.headers()) {
        Some(key) => (Some(key), false),
        None => match take_query_key(request.uri_mut()) {
            Some(key) => (Some(key), true),
            None => (None, false),
        },
    };
    let Some(presented) = presented else {
        if guarded {
            return ApiError::new(
                Code::MissingApiKey,
                "this call needs an API key: send `Authorization: Bearer KEY` or `X-Api-Key: KEY`",
            )
            .into_response();
        }
        return next.run(request).await;
    };
    let found = keys.find(&presented);
    let Some((index, key)) = found else {
        if guarded {
            return ApiError::new(Code::InvalidApiKey, "the API key is not valid").into_response();
        }
        return next.run(request).await;
    };
    if in_query && key.scope != Scope::Public {
        // A secret key in a URL ends up in logs and browser histories.
        return ApiError::new(
            Code::InvalidApiKey,
            "only a public key may be sent as ?key=; send this one in a header",
        )
        .into_response();
    }
    if guarded && !key.scope.allows(need) {
        return ApiError::new(
            Code::InvalidApiKey,
            format!(
                "a {} key is not valid for this call ({})",
                key.scope.as_str(),
                match need {
                    Need::ShopperRead | Need::OwnerView => "a read of the shop's own figures",
                    Need::Events => "events",
                    Need::Write => "a write to the catalogue or users",
                    Need::Admin => "an admin call",
                }
            ),
        )
        .into_response();
    }
    if key.scope == Scope::Public {
        let address = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        if let Admission::Limited(seconds) = keys.admit(index, address) {
            let mut response = ApiError::new(
                Code::RateLimited,
                format!("too many calls with this public key; retry in {seconds} s"),
            )
            .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&seconds.to_string()).expect("digits"),
            );
            return response;
        }
    }
    request.extensions_mut().insert(key.scope);
    next.run(request).await
}

/// Takes `key=...` off the query string; answers its value.
fn take_query_key(uri: &mut Uri) -> Option<String> {
    let query = uri.query()?;
    let mut key = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("key=") {
            Some(value) if key.is_none() => {
                key = Some(percent_decoded(value));
                false
            }
            _ => true,
        })
        .collect();
    let key = key?;
    let path = uri.path();
    let rebuilt = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    *uri = rebuilt.parse().ok()?;
    Some(key)
}

/// `%XX` escapes and `+` decoded (a key is ASCII; anything else is kept as sent).
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_either_header() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer abc123".parse().unwrap());
        assert_eq!(presented_key(&headers).as_deref(), Some("abc123"));
        headers.insert("x-api-key", "xyz".parse().unwrap());
        assert_eq!(presented_key(&headers).as_deref(), Some("xyz"));
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn a_query_key_is_taken_off_the_query() {
        let mut uri: Uri = "/v1/placements/home/items?user_id=u1&key=pk%2D1&n=4"
            .parse()
            .unwrap();
        assert_eq!(take_query_key(&mut uri).as_deref(), Some("pk-1"));
        assert_eq!(uri.to_string(), "/v1/placements/home/items?user_id=u1&n=4");
        let mut uri: Uri = "/v1/events?key=abc".parse().unwrap();
        assert_eq!(take_query_key(&mut uri).as_deref(), Some("abc"));
        assert_eq!(uri.to_string(), "/v1/events");
        let mut uri: Uri = "/v1/popular?n=3".parse().unwrap();
        assert_eq!(take_query_key(&mut uri), None);
        assert_eq!(uri.to_string(), "/v1/popular?n=3");
    }
}
