//! `aisle demo`: the main job end to end on a sample shop — generate it, import it into a
//! fresh store (printing the cleaning report), train a model, optionally compare models
//! offline, then serve the API on 127.0.0.1:8080 with a few requests to try. With `--data
//! FILE`, the same on a shop's own export (its order lines), with no simulated shoppers.

use std::path::Path;

use aisle_data::{
    ByteCounter, CleaningOptions, Dataset, ItemColumns, Protocol, ReadOptions, Weighting, split,
};
use aisle_eval::{EvalOptions, MetricSelection, ModelSpec, RunControl};
use std::sync::atomic::AtomicBool;

use aisle_data::generate::ShopConfig;
use aisle_engine::TrainSpec;
use aisle_engine::experiments::{ExperimentDefinition, VariantDefinition};
use aisle_server::Settings;
use aisle_store::Location;
use anyhow::{Context, Result};

use crate::UsageError;
use crate::cli::{DemoArgs, GenerateArgs};
use crate::commands::generate::write_shop;
use crate::commands::import::ImportJob;
use crate::commands::simulate::{Simulation, simulate};
use crate::input::EventsConfig;
use crate::output::{out, outln};

pub fn run(args: DemoArgs) -> Result<()> {
    match &args.data {
        Some(file) => real_shop(&args, file),
        None => sample_shop(args),
    }
}

/// The demo on a shop's own export: cleaned (the report printed), its catalogue read from
/// its lines, trained and served; no simulated shoppers (nobody knows the real ones' tastes).
fn real_shop(args: &DemoArgs, file: &Path) -> Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let db = args.dir.join("aisle.db").display().to_string();
    Location::parse(&db)?.remove()?;
    outln!(
        "1. Read and cleaned {}, into a fresh store {db}:\n",
        file.display()
    );
    let mut config = EventsConfig::default();
    config.read.format = args.format.parse().map_err(UsageError)?;
    if let Some(map) = &args.map {
        config.read.columns = map.parse().map_err(UsageError)?;
    }
    config.clean.kind = args.kind.parse().map_err(UsageError)?;
    let items_from_events: Option<ItemColumns> = match args.items_from_events.as_str() {
        "none" => None,
        text => Some(text.parse().map_err(UsageError)?),
    };
    let dataset = crate::commands::import::import(&ImportJob {
        db: db.clone(),
        events: file.to_path_buf(),
        users: None,
        items_from_events,
        config,
        batch: 100_000,
        json: false,
    })?;
    if !args.compare.is_empty() {
        compare(args, &dataset)?;
    }
    outln!("\n2. Training {}:\n", args.model);
    let spec = TrainSpec {
        model: args.model.clone(),
        seed: args.seed,
        ..TrainSpec::default()
    };
    crate::commands::train::train(&db, &spec)?;
    if args.no_serve {
        return Ok(());
    }
    // The popular fallback, and the model ordering /buy-again.
    for model in ["popular", "buy-again"] {
        let spec = TrainSpec {
            model: model.into(),
            ..TrainSpec::default()
        };
        crate::commands::train::train(&db, &spec)?;
    }
    // The basket model answering /bought-together and /v1/basket: EASE, the best on orders,
    // while the catalogue is small enough for its item × item matrix.
    let basket_model = if dataset.n_items() <= 20_000 {
        "ease"
    } else {
        "cooccur"
    };
    let spec = TrainSpec {
        model: basket_model.into(),
        baskets: true,
        ..TrainSpec::default()
    };
    crate::commands::train::train(&db, &spec)?;
    // A regular customer and a best-seller to try.
    let mut per_user = vec![0u32; dataset.n_users()];
    let mut per_item = vec![0u32; dataset.n_items()];
    for e in &dataset.events {
        per_user[e.user as usize] += 1;
        per_item[e.item as usize] += 1;
    }
    let busiest = |counts: &[u32]| (0..counts.len()).max_by_key(|&k| counts[k]).unwrap_or(0) as u32;
    let user = dataset.users.id(busiest(&per_user)).to_string();
    let item = dataset.items.id(busiest(&per_item)).to_string();
    let settings = Settings {
        addr: Some(args.addr.clone()),
        training: aisle_server::config::TrainingSettings {
            model: Some(args.model.clone()),
            ..Default::default()
        },
        basket_model: Some(basket_model.into()),
        placements: storefront_placements(),
        ..Settings::default()
    };
    let config = settings.resolve()?;
    outln!("\n3. Serving the shop:\n");
    let hints = vec![
        "  Dashboard: http://{addr}/\n  Sample storefront (the widget, placements): http://{addr}/shop/?user=u1\n  Try:".to_string(),
        format!("  curl -s 'http://{{addr}}/v1/users/{user}/recommendations?n=5'"),
        format!("  curl -s 'http://{{addr}}/v1/users/{user}/buy-again?n=5'"),
        format!("  curl -s 'http://{{addr}}/v1/items/{item}/similar?n=5'"),
        format!("  curl -s 'http://{{addr}}/v1/items/{item}/bought-together?n=5'"),
        "\n  API description: http://{addr}/openapi.json · metrics: http://{addr}/metrics · Ctrl-C stops.".to_string(),
    ];
    crate::commands::serve::serve(db, config, hints, None)
}

/// The demo on a generated shop with planted tastes, and simulated shoppers feeding an
/// experiment.
fn sample_shop(args: DemoArgs) -> Result<()> {
    let shop = GenerateArgs {
        out: args.dir.clone(),
        users: args.users,
        items: args.items,
        events: args.events,
        seed: args.seed,
        categories: None,
        days: None,
        // The sample history ends today, so the live events of the simulated shoppers
        // continue it on the dashboard.
        start: Some(today_midnight() - i64::from(ShopConfig::default().days) * 86_400),
        counts: false,
    };
    let summary = write_shop(&shop)?;
    outln!(
        "1. Generated a sample shop in {}: {} users, {} items, {} events ({} sessions).\n",
        args.dir.display(),
        summary.users,
        summary.items,
        summary.events,
        summary.sessions
    );

    let db = args.dir.join("aisle.db").display().to_string();
    Location::parse(&db)?.remove()?;
    outln!("2. Imported it into a fresh store, {db}:\n");
    let config = EventsConfig {
        catalogue: Some(args.dir.join("items.csv")),
        ..EventsConfig::default()
    };
    crate::commands::import::import(&ImportJob {
        db: db.clone(),
        events: args.dir.join("events.csv"),
        users: Some(args.dir.join("users.csv")),
        items_from_events: None,
        config,
        batch: 100_000,
        json: false,
    })?;

    if !args.compare.is_empty() {
        let dataset = Dataset::load(
            &args.dir.join("events.csv"),
            &ReadOptions::default(),
            &CleaningOptions::default(),
            &ByteCounter::default(),
            None,
        )?;
        compare(&args, &dataset)?;
    }

    outln!("\n3. Training {} on the store:\n", args.model);
    let spec = TrainSpec {
        model: args.model.clone(),
        seed: args.seed,
        ..TrainSpec::default()
    };
    crate::commands::train::train(&db, &spec)?;
    if args.no_serve {
        return Ok(());
    }
    if args.model != "popular" {
        // The experiment's control.
        let popular = TrainSpec {
            model: "popular".into(),
            ..TrainSpec::default()
        };
        crate::commands::train::train(&db, &popular)?;
    }

    let experiment = format!("{}-vs-popular", args.model);
    let settings = Settings {
        addr: Some(args.addr.clone()),
        training: aisle_server::config::TrainingSettings {
            model: Some(args.model.clone()),
            ..Default::default()
        },
        experiments: if args.model == "popular" || args.no_simulate {
            Vec::new()
        } else {
            vec![ExperimentDefinition {
                name: experiment.clone(),
                variants: vec![
                    VariantDefinition {
                        name: "control".into(),
                        model: "popular".into(),
                        share: 0.5,
                    },
                    VariantDefinition {
                        name: "cf".into(),
                        model: args.model.clone(),
                        share: 0.5,
                    },
                ],
                control: None,
                window_hours: None,
            }]
        },
        placements: storefront_placements(),
        ..Settings::default()
    };
    let config = settings.resolve()?;
    outln!("\n4. Serving the shop:\n");
    let hints = vec![
        "  Dashboard: http://{addr}/\n  Sample storefront (the widget, placements): http://{addr}/shop/?user=u1\n  Try:".to_string(),
        "  curl -s 'http://{addr}/v1/users/u1/recommendations?n=5'".to_string(),
        "  curl -s 'http://{addr}/v1/items/i1/similar?n=5'".to_string(),
        "  curl -s -X POST http://{addr}/v1/recommend -H 'Content-Type: application/json' \\\n       -d '{\"history\": [{\"item_id\": \"i1\"}, {\"item_id\": \"i2\"}], \"n\": 5}'".to_string(),
        "\n  API description: http://{addr}/openapi.json · metrics: http://{addr}/metrics · Ctrl-C stops.".to_string(),
    ];
    let on_ready: Option<crate::commands::serve::OnReady> = if config.service.experiments.is_empty()
    {
        None
    } else {
        let simulation = Simulation {
            url: String::new(),
            api_key: None,
            shop: ShopConfig {
                users: args.users,
                items: args.items,
                seed: args.seed,
                ..ShopConfig::default()
            },
            shoppers: args.users.min(1_000),
            rate: 20.0,
            visits: 0,
            seed: args.seed,
        };
        outln!(
            "   Simulated shoppers (20 visits/s) feed the experiment '{experiment}': popular against {}.",
            args.model
        );
        Some(Box::new(move |addr: std::net::SocketAddr| {
            let simulation = Simulation {
                url: format!("http://{addr}"),
                ..simulation
            };
            std::thread::spawn(move || {
                let stop = AtomicBool::new(false);
                if let Err(e) = simulate(&simulation, &stop, |_| {}) {
                    tracing::warn!("the simulated shoppers stopped: {e:#}");
                }
            });
        }))
    };
    crate::commands::serve::serve(db, config, hints, on_ready)
}

/// The sample storefront's slots (`/shop/`), each a placement the widget renders; the cart's
/// is a basket placement (a basket model answers it when one is trained, popular items else).
fn storefront_placements() -> Vec<serde_json::Value> {
    vec![
        serde_json::json!({"name": "home", "source": "user", "n": 10,
            "title": "Recommended for you",
            "rules": [{"diversity": {"field": "category", "max": 3}}],
            "fallback": ["popular"]}),
        serde_json::json!({"name": "product-page", "source": "similar", "n": 8,
            "title": "Similar items",
            "rules": [{"filter": {"field": "available", "equals": true}}],
            "fallback": ["popular_in_category", "popular"]}),
        serde_json::json!({"name": "cart", "source": "basket", "n": 8,
            "title": "Goes well with your cart", "fallback": ["popular"]}),
        serde_json::json!({"name": "popular", "source": "popular", "n": 10,
            "title": "Popular now"}),
    ]
}

fn today_midnight() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now - now.rem_euclid(86_400)
}

/// Trains each `--compare` model on 80% of each user's items and ranks the held-out 20%.
fn compare(args: &DemoArgs, dataset: &Dataset) -> Result<()> {
    let protocol = Protocol::UserHoldout { fraction: 0.2 };
    let matrix = dataset.interactions(Weighting::Auto);
    let folds = split(&matrix, protocol, args.seed);
    let options = EvalOptions {
        dataset: "aisle demo".into(),
        protocol: format!("{protocol} (seed {})", args.seed),
        seed: args.seed,
        // Implicit confidences are not ratings: RMSE on them would mean nothing.
        rating_metrics: MetricSelection::Never,
        ..EvalOptions::default()
    };
    let models: Vec<ModelSpec> = args
        .compare
        .iter()
        .map(|m| ModelSpec::named(m.clone(), Default::default()))
        .collect();
    outln!(
        "\n   Comparing {} on 80% of each user's items, ranking the held-out 20%:\n",
        args.compare.join(", ")
    );
    let report = aisle_eval::evaluate(&folds, &models, &options, &RunControl::default())?;
    out!("{}", aisle_eval::text_table(&report));
    let html = args.dir.join("report.html");
    std::fs::write(&html, aisle_eval::html_report(&report))
        .with_context(|| format!("writing {}", html.display()))?;
    outln!("\n   The comparison is also in {}.", html.display());
    Ok(())
}
