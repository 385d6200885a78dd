//! The user × item interaction matrix in compressed sparse row form.
//!
//! Rows are users, columns items; each stored cell has a weight (`f32`: a rating, or an
//! implicit confidence) and the timestamp (`i64` Unix seconds) of its latest event. Item
//! indices are sorted within each row. [`Interactions::transpose`] gives the item → users
//! view (CSC of the same matrix) for models that need it.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How several events for the same (user, item) pair become one matrix cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    /// The latest event's weight wins (ties: the later row in the input). Right for ratings.
    Last,
    /// Weights add up: three views and a purchase count more than one view. Right for
    /// implicit feedback.
    #[default]
    Sum,
    /// The strongest signal wins.
    Max,
}

impl std::str::FromStr for DuplicatePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "last" | "keep_last" | "keep-last" => Ok(Self::Last),
            "sum" => Ok(Self::Sum),
            "max" => Ok(Self::Max),
            other => Err(format!(
                "unknown duplicate policy '{other}' (expected last, sum or max)"
            )),
        }
    }
}

/// One observed (user, item) cell before it is placed in the matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub user: u32,
    pub item: u32,
    pub weight: f32,
    pub timestamp: i64,
}

/// A borrowed row of the matrix: one user's items, weights and timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub items: &'a [u32],
    pub weights: &'a [f32],
    pub timestamps: &'a [i64],
}

impl Row<'static> {
    /// A row without cells: no history.
    pub const EMPTY: Row<'static> = Row {
        items: &[],
        weights: &[],
        timestamps: &[],
    };
}

impl<'a> Row<'a> {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `(item, weight)` pairs.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u32, f32)> + 'a {
        self.items.iter().copied().zip(self.weights.iter().copied())
    }

    /// Whether `item` is in the row (binary search: items are sorted).
    pub fn contains(&self, item: u32) -> bool {
        self.items.binary_search(&item).is_ok()
    }

    /// The weight of `item`, if present.
    pub fn weight_of(&self, item: u32) -> Option<f32> {
        self.items
            .binary_search(&item)
            .ok()
            .map(|k| self.weights[k])
    }
}

/// A sparse user × item matrix (CSR).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interactions {
    n_users: usize,
    n_items: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    weights: Vec<f32>,
    timestamps: Vec<i64>,
}

impl Interactions {
    /// An empty matrix of the given shape.
    pub fn empty(n_users: usize, n_items: usize) -> Self {
        Interactions {
            n_users,
            n_items,
            indptr: vec![0; n_users + 1],
            indices: Vec::new(),
            weights: Vec::new(),
            timestamps: Vec::new(),
        }
    }

    /// Builds the matrix from cells in any order, merging repeated pairs by `policy`.
    ///
    /// # Panics
    /// If a cell's user or item is outside the shape.
    pub fn from_cells(
        n_users: usize,
        n_items: usize,
        mut cells: Vec<Cell>,
        policy: DuplicatePolicy,
    ) -> Self {
        // A stable sort keeps input order among equal (user, item, timestamp), which is what
        // "the later row wins" means for `Last`.
        // Small inputs (one user's history on the request path) sort faster on the calling
        // thread than through the thread pool.
        if cells.len() < 4_096 {
            cells.sort_by_key(|c| (c.user, c.item, c.timestamp));
        } else {
            cells.par_sort_by_key(|c| (c.user, c.item, c.timestamp));
        }
        Self::from_sorted_cells(n_users, n_items, cells, policy)
    }

    /// Builds the matrix from cells already sorted by (user, item, timestamp) — as a cleaned
    /// dataset's events are — in one pass, without a copy of the cells.
    ///
    /// # Panics
    /// If a cell is outside the shape or out of order.
    pub fn from_sorted_cells(
        n_users: usize,
        n_items: usize,
        cells: impl IntoIterator<Item = Cell>,
        policy: DuplicatePolicy,
    ) -> Self {
        let cells = cells.into_iter();
        let capacity = cells.size_hint().0;
        let mut indptr = vec![0usize; n_users + 1];
        let mut indices = Vec::with_capacity(capacity);
        let mut weights: Vec<f32> = Vec::with_capacity(capacity);
        let mut timestamps = Vec::with_capacity(capacity);
        let mut previous: Option<(u32, u32)> = None;
        for cell in cells {
            assert!(
                (cell.user as usize) < n_users && (cell.item as usize) < n_items,
                "cell ({}, {}) outside a {n_users}×{n_items} matrix",
                cell.user,
                cell.item
            );
            if previous == Some((cell.user, cell.item)) {
                let w = weights.last_mut().expect("a previous cell exists");
                *w = match policy {
                    DuplicatePolicy::Last => cell.weight,
                    DuplicatePolicy::Sum => *w + cell.weight,
                    DuplicatePolicy::Max => w.max(cell.weight),
                };
                *timestamps.last_mut().expect("a previous cell exists") = cell.timestamp;
                continue;
            }
            assert!(
                previous < Some((cell.user, cell.item)),
                "cells are not sorted by (user, item)"
            );
            previous = Some((cell.user, cell.item));
            indptr[cell.user as usize + 1] += 1;
            indices.push(cell.item);
            weights.push(cell.weight);
            timestamps.push(cell.timestamp);
        }
        for u in 0..n_users {
            indptr[u + 1] += indptr[u];
        }
        indices.shrink_to_fit();
        weights.shrink_to_fit();
        timestamps.shrink_to_fit();
        Interactions {
            n_users,
            n_items,
            indptr,
            indices,
            weights,
            timestamps,
        }
    }

    /// Builds a matrix from raw CSR arrays, checking that they are consistent.
    pub fn from_csr(
        n_users: usize,
        n_items: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        weights: Vec<f32>,
        timestamps: Vec<i64>,
    ) -> Result<Self, String> {
        if indptr.len() != n_users + 1 || indptr.first() != Some(&0) {
            return Err(format!(
                "indptr has {} entries for {n_users} rows",
                indptr.len()
            ));
        }
        let nnz = *indptr.last().unwrap_or(&0);
        if indices.len() != nnz || weights.len() != nnz || timestamps.len() != nnz {
            return Err("indices, weights and timestamps must each have indptr[n] entries".into());
        }
        for u in 0..n_users {
            let (lo, hi) = (indptr[u], indptr[u + 1]);
            if lo > hi {
                return Err(format!("indptr decreases at row {u}"));
            }
            let row = &indices[lo..hi];
            if row.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("row {u} is not strictly sorted"));
            }
            if row.last().is_some_and(|&i| i as usize >= n_items) {
                return Err(format!("row {u} has an item outside 0..{n_items}"));
            }
        }
        Ok(Interactions {
            n_users,
            n_items,
            indptr,
            indices,
            weights,
            timestamps,
        })
    }

    pub fn n_users(&self) -> usize {
        self.n_users
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of stored cells.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Stored cells divided by the matrix size (0 for an empty shape).
    pub fn density(&self) -> f64 {
        let size = self.n_users as f64 * self.n_items as f64;
        if size == 0.0 {
            0.0
        } else {
            self.nnz() as f64 / size
        }
    }

    pub fn row(&self, user: u32) -> Row<'_> {
        let (lo, hi) = (self.indptr[user as usize], self.indptr[user as usize + 1]);
        Row {
            items: &self.indices[lo..hi],
            weights: &self.weights[lo..hi],
            timestamps: &self.timestamps[lo..hi],
        }
    }

    /// Number of cells in a row.
    pub fn row_len(&self, user: u32) -> usize {
        self.indptr[user as usize + 1] - self.indptr[user as usize]
    }

    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    pub fn timestamps(&self) -> &[i64] {
        &self.timestamps
    }

    /// Every cell, row by row.
    pub fn cells(&self) -> impl Iterator<Item = Cell> + '_ {
        (0..self.n_users).flat_map(move |u| {
            let row = self.row(u as u32);
            (0..row.len()).map(move |k| Cell {
                user: u as u32,
                item: row.items[k],
                weight: row.weights[k],
                timestamp: row.timestamps[k],
            })
        })
    }

    /// The item × user matrix (the CSC view of this one), built in one counting pass.
    pub fn transpose(&self) -> Interactions {
        let mut indptr = vec![0usize; self.n_items + 1];
        for &i in &self.indices {
            indptr[i as usize + 1] += 1;
        }
        for i in 0..self.n_items {
            indptr[i + 1] += indptr[i];
        }
        let mut next = indptr.clone();
        let nnz = self.nnz();
        let mut indices = vec![0u32; nnz];
        let mut weights = vec![0f32; nnz];
        let mut timestamps = vec![0i64; nnz];
        // Rows are visited in increasing user order, so each column comes out sorted.
        for u in 0..self.n_users {
            for k in self.indptr[u]..self.indptr[u + 1] {
                let i = self.indices[k] as usize;
                let slot = next[i];
                next[i] += 1;
                indices[slot] = u as u32;
                weights[slot] = self.weights[k];
                timestamps[slot] = self.timestamps[k];
            }
        }
        Interactions {
            n_users: self.n_items,
            n_items: self.n_users,
            indptr,
            indices,
            weights,
            timestamps,
        }
    }

    /// Cells per row.
    pub fn row_counts(&self) -> Vec<u32> {
        self.indptr
            .windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .collect()
    }

    /// Cells per column.
    pub fn column_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.n_items];
        for &i in &self.indices {
            counts[i as usize] += 1;
        }
        counts
    }

    /// The same cells with each weight replaced by `f(weight)`.
    pub fn map_weights(&self, f: impl Fn(f32) -> f32) -> Interactions {
        let mut out = self.clone();
        out.weights.iter_mut().for_each(|w| *w = f(*w));
        out
    }

    /// The cells for which `keep` is true, in the same shape.
    pub fn filter(&self, mut keep: impl FnMut(&Cell) -> bool) -> Interactions {
        let mut indptr = Vec::with_capacity(self.n_users + 1);
        indptr.push(0);
        let mut indices = Vec::new();
        let mut weights = Vec::new();
        let mut timestamps = Vec::new();
        for u in 0..self.n_users {
            for k in self.indptr[u]..self.indptr[u + 1] {
                let cell = Cell {
                    user: u as u32,
                    item: self.indices[k],
                    weight: self.weights[k],
                    timestamp: self.timestamps[k],
                };
                if keep(&cell) {
                    indices.push(cell.item);
                    weights.push(cell.weight);
                    timestamps.push(cell.timestamp);
                }
            }
            indptr.push(indices.len());
        }
        Interactions {
            n_users: self.n_users,
            n_items: self.n_items,
            indptr,
            indices,
            weights,
            timestamps,
        }
    }

    /// The same cells in a matrix with at least the given shape (new rows and columns empty);
    /// used to align a train and a test matrix that share id maps.
    pub fn with_shape(&self, n_users: usize, n_items: usize) -> Interactions {
        assert!(
            n_users >= self.n_users && n_items >= self.n_items,
            "shape can only grow"
        );
        let mut out = self.clone();
        out.n_items = n_items;
        let nnz = out.nnz();
        out.indptr.resize(n_users + 1, nnz);
        out.n_users = n_users;
        out
    }

    /// Mean of the stored weights (0 when empty).
    pub fn mean_weight(&self) -> f64 {
        if self.weights.is_empty() {
            return 0.0;
        }
        self.weights.iter().map(|&w| f64::from(w)).sum::<f64>() / self.weights.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(user: u32, item: u32, weight: f32, timestamp: i64) -> Cell {
        Cell {
            user,
            item,
            weight,
            timestamp,
        }
    }

    #[test]
    fn duplicates_merge_by_policy() {
        let cells = vec![
            cell(0, 1, 1.0, 5),
            cell(0, 1, 4.0, 3),
            cell(0, 1, 2.0, 9),
            cell(1, 0, 3.0, 1),
        ];
        let last = Interactions::from_cells(2, 2, cells.clone(), DuplicatePolicy::Last);
        assert_eq!(last.row(0).weights, &[2.0]);
        assert_eq!(last.row(0).timestamps, &[9]);
        let sum = Interactions::from_cells(2, 2, cells.clone(), DuplicatePolicy::Sum);
        assert_eq!(sum.row(0).weights, &[7.0]);
        let max = Interactions::from_cells(2, 2, cells, DuplicatePolicy::Max);
        assert_eq!(max.row(0).weights, &[4.0]);
        assert_eq!(max.nnz(), 2);
    }

    #[test]
    fn transpose_twice_is_identity_and_rows_sorted() {
        let cells = vec![
            cell(2, 0, 1.0, 0),
            cell(0, 3, 2.0, 1),
            cell(0, 1, 3.0, 2),
            cell(1, 3, 4.0, 3),
        ];
        let m = Interactions::from_cells(3, 4, cells, DuplicatePolicy::Sum);
        assert_eq!(m.row(0).items, &[1, 3]);
        let t = m.transpose();
        assert_eq!((t.n_users(), t.n_items()), (4, 3));
        assert_eq!(t.row(3).items, &[0, 1]);
        assert_eq!(t.row(3).weights, &[2.0, 4.0]);
        assert_eq!(t.transpose(), m);
        assert_eq!(m.column_counts(), vec![1, 1, 0, 2]);
        assert_eq!(m.row_counts(), vec![2, 1, 1]);
    }

    #[test]
    fn filter_and_reshape_keep_consistency() {
        let cells = (0..4).map(|k| cell(k % 2, k, k as f32, 0)).collect();
        let m = Interactions::from_cells(2, 4, cells, DuplicatePolicy::Sum);
        let even = m.filter(|c| c.item % 2 == 0);
        assert_eq!(even.nnz(), 2);
        assert_eq!(even.row(1).len(), 0);
        let grown = even.with_shape(5, 6);
        assert_eq!(grown.n_users(), 5);
        assert_eq!(grown.row(4).len(), 0);
        assert!(
            Interactions::from_csr(
                grown.n_users(),
                grown.n_items(),
                grown.indptr().to_vec(),
                grown.indices().to_vec(),
                grown.weights().to_vec(),
                grown.timestamps().to_vec()
            )
            .is_ok()
        );
    }
}
