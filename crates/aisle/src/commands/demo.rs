//! `aisle demo`: the main job end to end on a sample shop — generate it, import it into a
//! fresh store (printing the cleaning report), train a model, optionally compare models
//! offline, then serve the API on 127.0.0.1:8080 with a few requests to try.

use std::path::Path;

use aisle_data::{ByteCounter, CleaningOptions, Dataset, Protocol, ReadOptions, Weighting, split};
use aisle_eval::{EvalOptions, MetricSelection, ModelSpec, RunControl};
use std::sync::atomic::AtomicBool;

use aisle_data::generate::ShopConfig;
use aisle_server::Settings;
use aisle_server::experiments::{ExperimentDefinition, VariantDefinition};
use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{Cli, Command, DemoArgs, GenerateArgs};
use crate::commands::generate::write_shop;
use crate::commands::simulate::{Simulation, simulate};
use crate::output::{out, outln};

pub fn run(args: DemoArgs) -> Result<()> {
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

    let db = args.dir.join("aisle.db");
    remove_store(&db)?;
    outln!("2. Imported it into a fresh store, {}:\n", db.display());
    let path = |name: &str| args.dir.join(name).display().to_string();
    let import = Cli::try_parse_from([
        "aisle".to_string(),
        "import".into(),
        "--db".into(),
        db.display().to_string(),
        "--events".into(),
        path("events.csv"),
        "--items".into(),
        path("items.csv"),
        "--users".into(),
        path("users.csv"),
    ])
    .context("building the import command")?;
    let Command::Import(import) = import.command else {
        unreachable!("parsed an import command");
    };
    crate::commands::import::run(import)?;

    if !args.compare.is_empty() {
        compare(&args)?;
    }

    outln!("\n3. Training {} on the store:\n", args.model);
    let train = Cli::try_parse_from([
        "aisle",
        "train",
        "--db",
        &db.display().to_string(),
        "--model",
        &args.model,
        "--seed",
        &args.seed.to_string(),
    ])
    .context("building the train command")?;
    let Command::Train(train) = train.command else {
        unreachable!("parsed a train command");
    };
    crate::commands::train::run(train)?;
    if args.no_serve {
        return Ok(());
    }
    if args.model != "popular" {
        // The experiment's control.
        let popular = Cli::try_parse_from([
            "aisle",
            "train",
            "--db",
            &db.display().to_string(),
            "--model",
            "popular",
        ])
        .context("building the train command")?;
        let Command::Train(popular) = popular.command else {
            unreachable!("parsed a train command");
        };
        crate::commands::train::run(popular)?;
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
        ..Settings::default()
    };
    let config = settings.resolve()?;
    outln!("\n4. Serving the shop:\n");
    let hints = vec![
        "  Dashboard: http://{addr}/\n  Try:".to_string(),
        "  curl -s 'http://{addr}/v1/users/u1/recommendations?n=5'".to_string(),
        "  curl -s 'http://{addr}/v1/items/i1/similar?n=5'".to_string(),
        "  curl -s -X POST http://{addr}/v1/recommend -H 'Content-Type: application/json' \\\n       -d '{\"history\": [{\"item_id\": \"i1\"}, {\"item_id\": \"i2\"}], \"n\": 5}'".to_string(),
        "\n  API description: http://{addr}/openapi.json · metrics: http://{addr}/metrics · Ctrl-C stops.".to_string(),
    ];
    let on_ready: Option<crate::commands::serve::OnReady> = if config.experiments.is_empty() {
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
                    eprintln!("aisle: the simulated shoppers stopped: {e:#}");
                }
            });
        }))
    };
    crate::commands::serve::serve(db, config, hints, on_ready)
}

fn today_midnight() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now - now.rem_euclid(86_400)
}

/// A demo store starts empty: an earlier run's store is replaced, with its WAL files.
fn remove_store(db: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {path}")),
        }
    }
    Ok(())
}

/// Trains each `--compare` model on 80% of each user's items and ranks the held-out 20%.
fn compare(args: &DemoArgs) -> Result<()> {
    let events = args.dir.join("events.csv");
    let dataset = Dataset::load(
        &events,
        &ReadOptions::default(),
        &CleaningOptions::default(),
        &ByteCounter::default(),
        None,
    )?;
    let protocol = Protocol::UserHoldout { fraction: 0.2 };
    let matrix = dataset.interactions(Weighting::Implicit);
    let folds = split(&matrix, protocol, args.seed);
    let options = EvalOptions {
        dataset: "aisle demo shop".into(),
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
