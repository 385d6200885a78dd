//! `aisle simulate`: shoppers with the planted tastes of a generated shop visit a running
//! server, look at their recommendations, click and buy according to their true preferences,
//! and send those events back with the list's `recommendation_id` — so an experiment's
//! results measure what each model would earn with real shoppers of these tastes.
//!
//! A visit: a shopper is drawn (among the shop's first `--users` users, by activity), asks for
//! 10 recommendations, examines the list top-down (position `p` is looked at with probability
//! `1 / (1 + p)^0.5`), clicks an examined item with the shop model's click probability, then
//! carts and buys it with its cart and purchase probabilities; the events go back in one batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aisle_data::Rng;
use aisle_data::generate::{ShopConfig, ShopModel};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::UsageError;
use crate::cli::SimulateArgs;
use crate::output::outln;

/// What a simulation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub visits: u64,
    pub shown: u64,
    pub clicks: u64,
    pub carts: u64,
    pub purchases: u64,
    pub failed: u64,
}

/// Where and how to simulate.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub url: String,
    pub api_key: Option<String>,
    /// The generated shop's settings: they rebuild its planted tastes.
    pub shop: ShopConfig,
    /// How many of the shop's users act as shoppers.
    pub shoppers: u32,
    /// Visits per second (0: as fast as the server answers).
    pub rate: f64,
    /// Stop after this many visits (0: never).
    pub visits: u64,
    pub seed: u64,
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let shop = ShopConfig {
        users: args.shop_users,
        items: args.shop_items,
        seed: args.seed,
        ..ShopConfig::default()
    };
    shop.check().map_err(|e| UsageError(e.to_string()))?;
    if args.users == 0 || args.users > args.shop_users {
        bail!(UsageError(format!(
            "--users must be between 1 and the shop's {} users",
            args.shop_users
        )));
    }
    let simulation = Simulation {
        url: args.url.trim_end_matches('/').to_string(),
        api_key: args.api_key,
        shop,
        shoppers: args.users,
        rate: args.rate,
        visits: args.visits,
        seed: args.seed,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tally = simulate(&simulation, &stop, |t| {
        outln!(
            "{:>6.0} s: {} visits, {} items shown, {} clicks, {} add-to-carts, {} purchases{}",
            started.elapsed().as_secs_f64(),
            t.visits,
            t.shown,
            t.clicks,
            t.carts,
            t.purchases,
            if t.failed > 0 {
                format!(", {} failed requests", t.failed)
            } else {
                String::new()
            }
        );
    })?;
    outln!(
        "done: {} visits, {} clicks, {} purchases in {:.1} s",
        tally.visits,
        tally.clicks,
        tally.purchases,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs visits until `stop` is set or `simulation.visits` are done; `report` is called about
/// every 10 seconds.
pub fn simulate(
    simulation: &Simulation,
    stop: &AtomicBool,
    mut report: impl FnMut(&Tally),
) -> Result<Tally> {
    let model = ShopModel::new(&simulation.shop).context("rebuilding the shop's tastes")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut rng = Rng::stream(simulation.seed, 7);
    let mut tally = Tally::default();
    let mut last_report = Instant::now();
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed)
        && (simulation.visits == 0 || tally.visits < simulation.visits)
    {
        if simulation.rate > 0.0 {
            let due = started + Duration::from_secs_f64(tally.visits as f64 / simulation.rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let user = draw_shopper(&model, simulation.shoppers, &mut rng);
        match visit(&agent, simulation, &model, user, &mut rng, &mut tally) {
            Ok(()) => {}
            Err(e) if tally.visits == 0 && tally.failed == 0 => {
                return Err(e.context(format!("the first visit to {} failed", simulation.url)));
            }
            Err(_) => tally.failed += 1,
        }
        tally.visits += 1;
        if last_report.elapsed() >= Duration::from_secs(10) {
            report(&tally);
            last_report = Instant::now();
        }
    }
    Ok(tally)
}

/// A shopper among the first `shoppers` users, drawn by activity like the generator's.
fn draw_shopper(model: &ShopModel, shoppers: u32, rng: &mut Rng) -> u32 {
    for _ in 0..64 {
        let user = model.sample_user(rng);
        if user < shoppers {
            return user;
        }
    }
    rng.below(u64::from(shoppers)) as u32
}

fn visit(
    agent: &ureq::Agent,
    simulation: &Simulation,
    model: &ShopModel,
    user: u32,
    rng: &mut Rng,
    tally: &mut Tally,
) -> Result<()> {
    let user_id = model.user_id(user);
    let url = format!("{}/v1/users/{user_id}/recommendations?n=10", simulation.url);
    let mut request = agent.get(&url);
    if let Some(key) = &simulation.api_key {
        request = request.header("X-Api-Key", key);
    }
    let mut response = request.call()?;
    let status = response.status();
    let list: Value = response.body_mut().read_json()?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {list}");
    }
    let recommendation_id = list["recommendation_id"].as_str().unwrap_or_default();
    let items = list["items"].as_array().cloned().unwrap_or_default();
    tally.shown += items.len() as u64;
    let mut events = Vec::new();
    for (position, entry) in items.iter().enumerate() {
        let Some(item) = entry["item_id"]
            .as_str()
            .and_then(|id| id.strip_prefix('i'))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&i| i < model.n_items())
        else {
            continue;
        };
        let examined = 1.0 / (1.0 + position as f64).sqrt();
        if !rng.chance(examined * model.click_probability(user, item)) {
            continue;
        }
        let event = |kind: &str, value: Option<f64>| {
            json!({"user_id": user_id, "item_id": model.item_id(item), "type": kind,
                   "value": value, "recommendation_id": recommendation_id,
                   "position": position})
        };
        events.push(event("click", None));
        tally.clicks += 1;
        if rng.chance(model.cart_probability(user, item)) {
            events.push(event("add_to_cart", None));
            tally.carts += 1;
            if rng.chance(model.purchase_probability(user, item)) {
                let price = model.items()[item as usize].price();
                events.push(event("purchase", Some(price)));
                tally.purchases += 1;
            }
        }
    }
    if events.is_empty() {
        return Ok(());
    }
    let mut request = agent.post(format!("{}/v1/events", simulation.url));
    if let Some(key) = &simulation.api_key {
        request = request.header("X-Api-Key", key);
    }
    let response = request.send_json(Value::Array(events))?;
    if !response.status().is_success() {
        bail!("POST /v1/events: {}", response.status());
    }
    Ok(())
}
