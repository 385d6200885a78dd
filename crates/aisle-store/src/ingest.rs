//! Bulk loading: a cleaned [`Dataset`] written into a store in large batches, each its own
//! transaction, so a failure half-way keeps every batch already committed.

use std::fmt::Write as _;

use aisle_data::{Dataset, NO_BASKET};

use crate::error::Result;
use crate::record::NewEvent;
use crate::store::Store;

/// Events per transaction in [`append_dataset`]: large enough that commits cost nothing next
/// to the inserts, small enough that a failure loses little work and the write lock is
/// released often for other writers (a running server).
pub const DEFAULT_BATCH: usize = 100_000;

/// Appends the dataset's events in the order of its source lines, `batch` per transaction,
/// calling `committed` with the running total after each commit. On an error, the batches
/// reported to `committed` stay stored. Guest lines (no user) are not stored: a store keeps
/// users' events.
///
/// A timestamp of 0 (the data crate's "none") is stored as no timestamp; a missing value
/// (NaN) as no value. A value is stored as the shortest decimal that reads back to the same
/// `f32` (a price of 19.99 stays 19.99, not 19.989999771118164).
pub fn append_dataset(
    store: &dyn Store,
    dataset: &Dataset,
    batch: usize,
    committed: &mut dyn FnMut(u64),
) -> Result<u64> {
    let batch = batch.max(1);
    let mut order: Vec<u32> = (0..dataset.events.len() as u32).collect();
    order.sort_unstable_by_key(|&k| dataset.events[k as usize].line);
    let mut text = String::new();
    let mut events = Vec::with_capacity(batch.min(order.len()));
    store.bulk_load(&mut || {
        let mut done = 0u64;
        for chunk in order.chunks(batch) {
            events.clear();
            events.extend(chunk.iter().map(|&k| {
                let e = &dataset.events[k as usize];
                NewEvent {
                    user_id: dataset.users.id(e.user),
                    item_id: dataset.items.id(e.item),
                    kind: dataset.event_types.name(e.kind),
                    value: (!e.value.is_nan()).then(|| decimal(e.value, &mut text)),
                    timestamp: (e.timestamp != 0).then_some(e.timestamp),
                    recommendation_id: None,
                    position: None,
                    quantity: (e.quantity != 1.0).then(|| decimal(e.quantity, &mut text)),
                    price: e.price.is_finite().then(|| decimal(e.price, &mut text)),
                    basket: (e.basket != NO_BASKET).then(|| dataset.baskets.id(e.basket)),
                }
            }));
            done += store.append_events(&events)?;
            committed(done);
        }
        Ok(done)
    })
}

/// The `f64` nearest to the shortest decimal that reads back as `value`.
fn decimal(value: f32, scratch: &mut String) -> f64 {
    scratch.clear();
    let _ = write!(scratch, "{value}");
    scratch.parse().unwrap_or(f64::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_the_short_ones() {
        let mut s = String::new();
        assert_eq!(decimal(19.99, &mut s), 19.99);
        assert_eq!(decimal(4.0, &mut s), 4.0);
        assert_eq!(decimal(0.1, &mut s) as f32, 0.1f32);
    }
}
