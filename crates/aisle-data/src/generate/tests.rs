//! End-to-end properties of the generated files: determinism, CSV validity, skew, funnel
//! order and the visibility of the planted structure.

use std::path::Path;

use rustc_hash::FxHashMap;

use super::*;
use crate::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    View,
    Cart,
    Purchase,
    Rating,
}

#[derive(Debug, Clone, Copy)]
struct Event {
    user: u32,
    item: u32,
    kind: Kind,
    value: Option<f64>,
    timestamp: i64,
}

fn parse_index(id: &str, prefix: char) -> u32 {
    id.strip_prefix(prefix)
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("bad id {id:?}"))
}

fn read_events(path: &Path) -> Vec<Event> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["user_id", "item_id", "type", "value", "timestamp"]
    );
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            let kind = match &record[2] {
                "view" => Kind::View,
                "add_to_cart" => Kind::Cart,
                "purchase" => Kind::Purchase,
                "rating" => Kind::Rating,
                other => panic!("unknown type {other}"),
            };
            Event {
                user: parse_index(&record[0], 'u'),
                item: parse_index(&record[1], 'i'),
                kind,
                value: (!record[3].is_empty()).then(|| record[3].parse().unwrap()),
                timestamp: record[4].parse().unwrap(),
            }
        })
        .collect()
}

fn generate_into(config: &ShopConfig, dir: &Path) -> GenerateSummary {
    generate(config, dir, |_| {}).unwrap()
}

/// The default shop, generated once and shared by the tests that only read it.
fn default_shop() -> &'static (tempfile::TempDir, GenerateSummary, Vec<Event>) {
    static SHOP: std::sync::OnceLock<(tempfile::TempDir, GenerateSummary, Vec<Event>)> =
        std::sync::OnceLock::new();
    SHOP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let summary = generate_into(&ShopConfig::default(), dir.path());
        let events = read_events(&dir.path().join("events.csv"));
        (dir, summary, events)
    })
}

fn read_bytes(dir: &Path) -> Vec<Vec<u8>> {
    ["items.csv", "users.csv", "events.csv"]
        .iter()
        .map(|name| std::fs::read(dir.join(name)).unwrap())
        .collect()
}

#[test]
fn same_seed_gives_identical_files_whatever_the_threads_and_another_seed_differs() {
    // More than one chunk, and a row count that cuts the last chunk short.
    let config = ShopConfig {
        events: 2 * events::CHUNK_EVENTS + 1234,
        ..ShopConfig::default()
    };
    let run = |threads: usize, config: &ShopConfig| {
        let dir = tempfile::tempdir().unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| generate_into(config, dir.path()));
        read_bytes(dir.path())
    };
    let one_thread = run(1, &config);
    assert_eq!(one_thread, run(3, &config));
    let other_seed = run(2, &ShopConfig { seed: 43, ..config });
    for (a, b) in one_thread.iter().zip(&other_seed) {
        assert_ne!(a, b);
    }
}

#[test]
fn files_are_valid_csv_with_exact_counts_and_known_ids() {
    let (dir, summary, events) = default_shop();
    let config = ShopConfig::default();
    let model = ShopModel::new(&config).unwrap();
    assert_eq!(events.len() as u64, config.events);
    assert_eq!(summary.events, config.events);
    assert_eq!(
        summary.views + summary.add_to_carts + summary.purchases + summary.ratings,
        config.events
    );

    let mut items = csv::Reader::from_path(dir.path().join("items.csv")).unwrap();
    assert_eq!(
        items.headers().unwrap(),
        vec![
            "item_id",
            "title",
            "categories",
            "price",
            "available",
            "created_at"
        ]
    );
    let mut item_created = Vec::new();
    let mut quoted_titles = 0;
    for (index, record) in items.records().enumerate() {
        let record = record.unwrap();
        let item = &model.items()[index];
        assert_eq!(&record[0], model.item_id(index as u32));
        assert_eq!(&record[1], item.title, "titles round-trip through CSV");
        quoted_titles += usize::from(item.title.contains(','));
        let names: Vec<&str> = record[2].split('|').collect();
        assert!(!names.is_empty() && names.len() <= 2);
        assert_eq!(names[0], model.category_name(item.primary_category));
        let price: f64 = record[3].parse().unwrap();
        assert!(price > 0.0 && record[3].ends_with(".99"));
        assert!(&record[4] == "true" || &record[4] == "false");
        let created: jiff::Timestamp = record[5].parse().unwrap();
        assert!(record[5].ends_with('Z'));
        assert_eq!(created.as_second(), item.created_at);
        item_created.push(item.created_at);
    }
    assert_eq!(item_created.len(), config.items as usize);
    assert!(quoted_titles > 0, "some titles exercise CSV quoting");

    let mut users = csv::Reader::from_path(dir.path().join("users.csv")).unwrap();
    assert_eq!(
        users.headers().unwrap(),
        vec!["user_id", "country", "created_at"]
    );
    let user_created: Vec<i64> = users
        .records()
        .map(|r| {
            r.unwrap()[2]
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_second()
        })
        .collect();
    assert_eq!(user_created.len(), config.users as usize);

    let end = config.start + i64::from(config.days) * 86_400;
    for e in events {
        assert!((e.user as usize) < user_created.len() && (e.item as usize) < item_created.len());
        assert!(e.timestamp >= config.start && e.timestamp < end + 86_400);
        assert!(e.timestamp > user_created[e.user as usize]);
        assert!(
            e.timestamp >= item_created[e.item as usize],
            "no event before the item exists"
        );
        match e.kind {
            Kind::View | Kind::Cart => assert!(e.value.is_none()),
            Kind::Purchase => assert!(e.value.unwrap() > 0.0),
            Kind::Rating => assert!((1.0..=5.0).contains(&e.value.unwrap())),
        }
        if matches!(e.kind, Kind::Cart | Kind::Purchase) {
            assert!(model.items()[e.item as usize].available);
        }
    }
    assert_eq!(
        summary.first_timestamp,
        events.iter().map(|e| e.timestamp).min()
    );
    assert_eq!(
        summary.last_timestamp,
        events.iter().map(|e| e.timestamp).max()
    );
}

/// Gini coefficient of non-negative counts (0: all equal, towards 1: all in one).
fn gini(counts: &[f64]) -> f64 {
    let mut sorted = counts.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let total: f64 = sorted.iter().sum();
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(k, c)| (2.0 * (k as f64 + 1.0) - n - 1.0) * c)
        .sum();
    weighted / (n * total)
}

#[test]
fn item_popularity_is_heavy_tailed() {
    let (_, _, events) = default_shop();
    let mut counts = vec![0.0; ShopConfig::default().items as usize];
    for e in events {
        counts[e.item as usize] += 1.0;
    }
    let g = gini(&counts);
    counts.sort_by(|a, b| b.total_cmp(a));
    let top_share = counts[..counts.len() / 10].iter().sum::<f64>() / events.len() as f64;
    assert!(top_share > 0.4, "top 10% of items get {top_share}");
    assert!(g > 0.5, "gini {g}");
    assert!((gini(&[1.0, 1.0, 1.0]) - 0.0).abs() < 1e-12);
}

#[test]
fn funnel_narrows_and_every_purchase_follows_a_cart_in_the_session() {
    let (_, summary, events) = default_shop();
    assert!(summary.views > 5 * summary.add_to_carts, "{summary:?}");
    assert!(
        summary.add_to_carts > summary.purchases * 3 / 2,
        "{summary:?}"
    );
    assert!(
        summary.purchases > summary.ratings && summary.ratings > 0,
        "{summary:?}"
    );
    // Sessions are contiguous runs of rows; consecutive sessions of one user merge here, which
    // only weakens the check.
    let mut run_start = 0;
    for (k, e) in events.iter().enumerate() {
        if events[run_start].user != e.user {
            run_start = k;
        }
        let session = &events[run_start..k];
        let preceded_by = |kind: Kind| {
            session
                .iter()
                .any(|p| p.kind == kind && p.item == e.item && p.timestamp <= e.timestamp)
        };
        match e.kind {
            Kind::Cart => assert!(preceded_by(Kind::View), "cart without a view at row {k}"),
            Kind::Purchase => assert!(preceded_by(Kind::Cart), "purchase without cart at row {k}"),
            Kind::Rating => assert!(
                preceded_by(Kind::Purchase),
                "rating without purchase, row {k}"
            ),
            Kind::View => {}
        }
        if k > run_start {
            let gap = e.timestamp - events[k - 1].timestamp;
            assert!(gap >= 0, "time runs forward within a session (row {k})");
        }
    }
}

fn pearson(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    sxy / (sxx * syy).sqrt()
}

#[test]
fn events_concentrate_where_the_planted_taste_points() {
    let (_, _, events) = default_shop();
    let config = ShopConfig::default();
    let model = ShopModel::new(&config).unwrap();
    let n_categories = config.categories as usize;

    // Per (user, category): the user's latent affinity to the category direction against the
    // share of the user's views that fall in it (users with enough views).
    let mut views: FxHashMap<u32, Vec<f64>> = FxHashMap::default();
    for e in events.iter().filter(|e| e.kind == Kind::View) {
        let primary = model.items()[e.item as usize].primary_category as usize;
        views
            .entry(e.user)
            .or_insert_with(|| vec![0.0; n_categories])[primary] += 1.0;
    }
    let (mut affinities, mut shares) = (Vec::new(), Vec::new());
    for (&user, counts) in &views {
        let total: f64 = counts.iter().sum();
        if total < 20.0 {
            continue;
        }
        for (c, count) in counts.iter().enumerate() {
            let direction = model.category_direction(c as u32);
            let affinity: f64 = model
                .user_factors(user)
                .iter()
                .zip(direction)
                .map(|(p, m)| f64::from(p * m))
                .sum();
            affinities.push(affinity);
            shares.push(count / total);
        }
    }
    let category_correlation = pearson(&affinities, &shares);
    assert!(
        category_correlation > 0.4,
        "category correlation {category_correlation}"
    );

    // Item level: pairs that interacted have a clearly higher affinity than random pairs.
    let mean_event_affinity = events
        .iter()
        .map(|e| model.affinity(e.user, e.item))
        .sum::<f64>()
        / events.len() as f64;
    let mut rng = Rng::new(9);
    let random_pairs = 20_000;
    let mean_random_affinity = (0..random_pairs)
        .map(|_| {
            model.affinity(
                rng.below(config.users.into()) as u32,
                rng.below(config.items.into()) as u32,
            )
        })
        .sum::<f64>()
        / f64::from(random_pairs);
    assert!(
        mean_event_affinity > mean_random_affinity + 0.5,
        "{mean_event_affinity} vs {mean_random_affinity}"
    );

    // Deeper in the funnel, higher affinity.
    let mean_of = |kind: Kind| {
        let selected: Vec<f64> = events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| model.affinity(e.user, e.item))
            .collect();
        selected.iter().sum::<f64>() / selected.len() as f64
    };
    assert!(mean_of(Kind::Cart) > mean_of(Kind::View) + 0.2);
    assert!(mean_of(Kind::Purchase) > mean_of(Kind::View) + 0.2);
}

#[test]
fn ratings_follow_the_true_affinity() {
    let (_, _, events) = default_shop();
    let model = ShopModel::new(&ShopConfig::default()).unwrap();
    let (affinities, ratings): (Vec<f64>, Vec<f64>) = events
        .iter()
        .filter(|e| e.kind == Kind::Rating)
        .map(|e| (model.affinity(e.user, e.item), e.value.unwrap()))
        .unzip();
    assert!(ratings.len() > 200);
    assert!(ratings.iter().all(|r| r.fract() == 0.0));
    let correlation = pearson(&affinities, &ratings);
    assert!(correlation > 0.5, "rating correlation {correlation}");
}

#[test]
fn purchase_values_are_price_times_quantity() {
    let (_, summary, events) = default_shop();
    let model = ShopModel::new(&ShopConfig::default()).unwrap();
    let mut revenue = 0.0;
    for e in events.iter().filter(|e| e.kind == Kind::Purchase) {
        let value = e.value.unwrap();
        let quantity = value / model.items()[e.item as usize].price();
        assert!(
            [1.0, 2.0, 3.0].iter().any(|q| (quantity - q).abs() < 1e-6),
            "{quantity}"
        );
        revenue += value;
    }
    assert!((revenue - summary.revenue).abs() < 1e-3 * revenue.max(1.0));
}

#[test]
fn invalid_configs_are_typed_errors_and_zero_events_write_headers() {
    let bad = [
        ShopConfig {
            users: 0,
            ..ShopConfig::default()
        },
        ShopConfig {
            categories: MAX_CATEGORIES + 1,
            ..ShopConfig::default()
        },
        ShopConfig {
            taste_strength: f64::NAN,
            ..ShopConfig::default()
        },
        ShopConfig {
            mean_session_views: 0.5,
            ..ShopConfig::default()
        },
        ShopConfig {
            start: i64::MAX - 5,
            ..ShopConfig::default()
        },
    ];
    for config in &bad {
        let error = ShopModel::new(config).unwrap_err();
        assert!(error.to_string().contains(error.field), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let io_error = generate(config, dir.path(), |_| {}).unwrap_err();
        assert_eq!(io_error.kind(), io::ErrorKind::InvalidInput);
    }

    let dir = tempfile::tempdir().unwrap();
    let mut reported = Vec::new();
    let config = ShopConfig {
        events: 0,
        users: 3,
        items: 2,
        categories: 40,
        ..ShopConfig::default()
    };
    let summary = generate(&config, dir.path(), |n| reported.push(n)).unwrap();
    assert_eq!(summary.events, 0);
    assert_eq!(summary.first_timestamp, None);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("events.csv")).unwrap(),
        "user_id,item_id,type,value,timestamp\n"
    );
    assert!(reported.is_empty());
}

#[test]
fn tiny_shops_and_progress_reports_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = ShopConfig {
        users: 1,
        items: 1,
        categories: 1,
        events: events::CHUNK_EVENTS + 10,
        new_item_fraction: 1.0,
        ..ShopConfig::default()
    };
    let mut reported = Vec::new();
    let summary = generate(&config, dir.path(), |n| reported.push(n)).unwrap();
    assert_eq!(reported.last().copied(), Some(config.events));
    assert!(reported.windows(2).all(|w| w[0] < w[1]));
    let events = read_events(&dir.path().join("events.csv"));
    assert_eq!(events.len() as u64, summary.events);
    assert!(events.iter().all(|e| e.user == 0 && e.item == 0));
    // The only user's sessions cannot overlap, so within a chunk time never runs backwards.
    let first_chunk = &events[..events::CHUNK_EVENTS as usize];
    assert!(
        first_chunk
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp)
    );
}
