//! ALS at scale, for `bench/topn_vs_implicit scale`: reads an events file (every row one
//! interaction, as the implicit side of the benchmark does), fits ALS and computes the top 10
//! unseen items of every user, printing the time of each step.
//!
//! `cargo run --release -p aisle-models --example als_scale -- EVENTS.csv [FACTORS] [ITERATIONS]`

use std::time::Instant;

use aisle_data::{ByteCounter, CleaningOptions, Dataset, ReadOptions, Weighting};
use aisle_models::FitContext;
use aisle_models::als::{Als, AlsParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: als_scale EVENTS.csv [FACTORS] [ITERATIONS]")?;
    let factors = args.get(2).map_or(Ok(64), |s| s.parse())?;
    let iterations = args.get(3).map_or(Ok(15), |s| s.parse())?;

    let started = Instant::now();
    let dataset = Dataset::load(
        path.as_ref(),
        &ReadOptions::default(),
        &CleaningOptions::default(),
        &ByteCounter::default(),
        None,
    )?;
    let train = dataset.interactions(Weighting::Binary);
    drop(dataset);
    let load = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let params = AlsParams { factors, iterations, ..AlsParams::default() };
    let model = Als::new(params).fit_model(&train, &FitContext::with_seed(42))?;
    let fit = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let users: Vec<u32> = (0..train.n_users() as u32).collect();
    let lists = model.recommend_users(&users, &train, 10);
    let top = started.elapsed().as_secs_f64();
    let listed: usize = lists.iter().map(Vec::len).sum();
    println!(
        "users {} items {} nnz {}: load {load:.1}s, fit {fit:.1}s ({:.2}s/iteration), top-10 for all {top:.1}s ({listed} items listed)",
        train.n_users(),
        train.n_items(),
        train.nnz(),
        fit / iterations as f64
    );
    Ok(())
}
