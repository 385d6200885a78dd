//! Offline evaluation of Aisle models.
