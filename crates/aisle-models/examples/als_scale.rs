//! ALS at scale, for `bench/topn_vs_implicit scale`: reads the user and item columns of an
//! events file (every distinct pair one interaction, as the implicit side of the benchmark
//! does with pandas; no cleaning report), fits ALS and computes the top 10 unseen items of
//! every user, printing the time of each step.
//!
//! `cargo run --release -p aisle-models --example als_scale -- EVENTS.csv [FACTORS] [ITERATIONS]`

use std::time::Instant;

use aisle_data::reader::{Record, read_events};
use aisle_data::{ByteCounter, Cell, DuplicatePolicy, IdMap, Interactions, ReadOptions};
use aisle_models::FitContext;
use aisle_models::als::{Als, AlsParams};
use rayon::slice::ParallelSliceMut;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: als_scale EVENTS.csv [FACTORS] [ITERATIONS]")?;
    let factors = args.get(2).map_or(Ok(64), |s| s.parse())?;
    let iterations = args.get(3).map_or(Ok(15), |s| s.parse())?;

    let started = Instant::now();
    let (mut users, mut items) = (IdMap::new(), IdMap::new());
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    read_events(
        path.as_ref(),
        &ReadOptions::default(),
        &ByteCounter::default(),
        None,
        |record| {
            if let Record::Row(row) = record
                && let (Ok(user), Ok(item)) =
                    (std::str::from_utf8(row.user), std::str::from_utf8(row.item))
            {
                pairs.push((users.intern(user), items.intern(item)));
            }
        },
    )?;
    pairs.par_sort_unstable();
    pairs.dedup();
    let cells = pairs.iter().map(|&(user, item)| Cell {
        user,
        item,
        weight: 1.0,
        timestamp: 0,
    });
    let train =
        Interactions::from_sorted_cells(users.len(), items.len(), cells, DuplicatePolicy::Max);
    drop(pairs);
    let load = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let params = AlsParams {
        factors,
        iterations,
        ..AlsParams::default()
    };
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
