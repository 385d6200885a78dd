//! API keys with scopes, and the rate limits of public keys.
//!
//! A key has one scope: `public` (a storefront's key, visible in its pages: lists and
//! placement items, click and view events, from the origins it names, rate-limited),
//! `read` (every read, the owner's views included), `write` (reads, events, the catalogue and
//! users) or `admin` (everything: training, experiments, placements, statistics). Keys come
//! from `[[keys]]` in the settings file; the older `api_key` is an admin key and
//! `read_api_key` a read key, so settings that worked before work the same.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Public,
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        Some(match text {
            "public" => Scope::Public,
            "read" => Scope::Read,
            "write" => Scope::Write,
            "admin" => Scope::Admin,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Public => "public",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Whether a key of this scope may make a call that needs `need`.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::ShopperRead => true,
            Need::OwnerView => self >= Scope::Read,
            // A public key's events are limited to clicks and views by the events route.
            Need::Events => self == Scope::Public || self >= Scope::Write,
            Need::Write => self >= Scope::Write,
            Need::Admin => self == Scope::Admin,
        }
    }
}

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A list, a placement's items, an item: what a shop's pages show.
    ShopperRead,
    /// The shop's own figures: statistics, experiments, models, histories, placements'
    /// definitions and the explainer.
    OwnerView,
    /// `POST /v1/events`.
    Events,
    /// The catalogue and users.
    Write,
    /// Training, tuning, experiments, placements.
    Admin,
}

impl Need {
    /// What a call of `method` on `path` needs.
    pub fn of(method: &axum::http::Method, path: &str) -> Need {
        use axum::http::Method;
        // Asking for a list is a read even when the question comes as a POST body.
        let read = matches!(*method, Method::GET | Method::HEAD)
            || path == "/v1/recommend"
            || path == "/v1/basket";
        if read {
            if owner_view(path) {
                Need::OwnerView
            } else {
                Need::ShopperRead
            }
        } else if path == "/v1/events" {
            Need::Events
        } else if path.starts_with("/v1/items") || path.starts_with("/v1/users") {
            Need::Write
        } else {
            Need::Admin
        }
    }
}

/// The routes that show the shop's own figures rather than answer its shoppers.
fn owner_view(path: &str) -> bool {
    path.starts_with("/v1/stats/")
        || path.starts_with("/v1/experiments")
        || path.starts_with("/v1/models")
        || path.starts_with("/v1/admin/")
        || path.starts_with("/v1/tunings")
        || (path.starts_with("/v1/users/") && path.ends_with("/history"))
        || (path.starts_with("/v1/placements") && !path.ends_with("/items"))
}

/// One configured key.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub key: String,
    pub scope: Scope,
    /// Origins whose pages may call with this (public) key; `*` for any.
    pub origins: Vec<String>,
    /// Calls a minute from one address with this (public) key.
    pub rate_per_minute: u32,
    /// Calls a minute with this (public) key from all addresses together (0: no limit).
    pub key_rate_per_minute: u32,
}

/// Default calls a minute from one address with a public key.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 300;

/// The configured keys and the state of their rate limits.
#[derive(Debug)]
pub struct Keys {
    keys: Vec<ApiKey>,
    /// Whether writes need a key: any key but a read key is configured.
    pub writes_guarded: bool,
    /// Whether shoppers' reads need a key: a read key is configured.
    pub reads_guarded: bool,
    buckets: Mutex<HashMap<(usize, Option<IpAddr>), Bucket>>,
}

/// Rate-limit buckets kept at most; beyond, full ones are forgotten.
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The answer of a rate limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    Admitted,
    /// Over the limit: retry after this many seconds.
    Limited(u64),
}

impl Keys {
    pub fn new(keys: Vec<ApiKey>) -> Keys {
        Keys {
            writes_guarded: keys.iter().any(|k| k.scope != Scope::Read),
            reads_guarded: keys.iter().any(|k| k.scope == Scope::Read),
            keys,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The configured key equal to `presented` (compared in constant time), with its index.
    pub fn find(&self, presented: &str) -> Option<(usize, &ApiKey)> {
        // Every key is compared, so the time does not tell which one matched.
        let mut found = None;
        for (index, key) in self.keys.iter().enumerate() {
            if same_key(key.key.as_bytes(), presented.as_bytes()) && found.is_none() {
                found = Some((index, key));
            }
        }
        found
    }

    /// Whether a page of `origin` may call with some public key.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.keys
            .iter()
            .any(|k| k.scope == Scope::Public && k.origins.iter().any(|o| o == "*" || o == origin))
    }

    /// Takes one call from the public key `index`'s buckets: the address's and the key's.
    pub fn admit(&self, index: usize, address: Option<IpAddr>) -> Admission {
        let key = &self.keys[index];
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate buckets");
        if buckets.len() > MAX_BUCKETS {
            buckets.retain(|&(i, _), b| {
                let rate = f64::from(self.keys[i].rate_per_minute) / 60.0;
                b.tokens + now.duration_since(b.at).as_secs_f64() * rate
                    < f64::from(self.keys[i].rate_per_minute)
            });
        }
        let mut limits = vec![((index, address), key.rate_per_minute)];
        if key.key_rate_per_minute > 0 {
            limits.push(((index, None), key.key_rate_per_minute));
        }
        // Both must have a token before either is taken.
        let mut wait: f64 = 0.0;
        for (slot, per_minute) in &limits {
            let capacity = f64::from(*per_minute);
            let bucket = buckets.entry(*slot).or_insert(Bucket {
                tokens: capacity,
                at: now,
            });
            let rate = capacity / 60.0;
            bucket.tokens =
                (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(capacity);
            bucket.at = now;
            if bucket.tokens < 1.0 {
                wait = wait.max((1.0 - bucket.tokens) / rate);
            }
        }
        if wait > 0.0 {
            return Admission::Limited(wait.ceil().max(1.0) as u64);
        }
        for (slot, _) in &limits {
            if let Some(bucket) = buckets.get_mut(slot) {
                bucket.tokens -= 1.0;
            }
        }
        Admission::Admitted
    }
}

/// Equality whose time depends only on the lengths, not on where the keys differ, so a
/// caller cannot find a key byte by byte from response times.
pub fn same_key(expected: &[u8], presented: &[u8]) -> bool {
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

    fn public(rate: u32, key_rate: u32) -> ApiKey {
        ApiKey {
            key: "pk-test-123".into(),
            scope: Scope::Public,
            origins: vec!["https://shop.example".into()],
            rate_per_minute: rate,
            key_rate_per_minute: key_rate,
        }
    }

    #[test]
    fn keys_compare_by_content_and_length() {
        assert!(same_key(b"secret-key", b"secret-key"));
        assert!(!same_key(b"secret-key", b"secret-kez"));
        assert!(!same_key(b"secret-key", b"secret-ke"));
        assert!(!same_key(b"secret-key", b"secret-keyy"));
        assert!(!same_key(b"secret-key", b""));
    }

    #[test]
    fn scopes_allow_what_their_names_say() {
        use Need::*;
        let table = [
            (Scope::Public, [true, false, true, false, false]),
            (Scope::Read, [true, true, false, false, false]),
            (Scope::Write, [true, true, true, true, false]),
            (Scope::Admin, [true, true, true, true, true]),
        ];
        for (scope, allowed) in table {
            for (need, expected) in [ShopperRead, OwnerView, Events, Write, Admin]
                .into_iter()
                .zip(allowed)
            {
                assert_eq!(scope.allows(need), expected, "{scope:?} {need:?}");
            }
        }
        use axum::http::Method;
        assert_eq!(
            Need::of(&Method::GET, "/v1/placements/home/items"),
            ShopperRead
        );
        assert_eq!(
            Need::of(&Method::GET, "/v1/placements/home/explain"),
            OwnerView
        );
        assert_eq!(Need::of(&Method::PUT, "/v1/placements/home"), Admin);
        assert_eq!(Need::of(&Method::POST, "/v1/recommend"), ShopperRead);
        assert_eq!(Need::of(&Method::POST, "/v1/events"), Events);
        assert_eq!(Need::of(&Method::DELETE, "/v1/items/i1"), Write);
        assert_eq!(Need::of(&Method::POST, "/v1/admin/train"), Admin);
    }

    #[test]
    fn rate_limits_count_per_address_and_per_key() {
        let keys = Keys::new(vec![public(3, 5)]);
        let a: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        let b: Option<IpAddr> = Some("10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(keys.admit(0, a), Admission::Admitted);
        }
        // The fourth from one address waits for a token: 60 s / 3.
        assert_eq!(keys.admit(0, a), Admission::Limited(20));
        assert_eq!(keys.admit(0, b), Admission::Admitted);
        assert_eq!(keys.admit(0, b), Admission::Admitted);
        // Five in all for the key, whatever the address.
        assert!(matches!(keys.admit(0, b), Admission::Limited(_)));
        assert!(keys.origin_allowed("https://shop.example"));
        assert!(!keys.origin_allowed("https://evil.example"));
        assert!(keys.writes_guarded && !keys.reads_guarded);
    }
}
