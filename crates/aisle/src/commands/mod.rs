//! One module per subcommand.

pub mod clean;
pub mod demo;
pub mod evaluate;
mod evaluate_basket;
mod evaluate_cold;
pub mod generate;
pub mod import;
pub mod inspect;
pub mod models;
pub mod recommend;
pub mod serve;
pub mod simulate;
pub mod store;
pub mod train;
pub mod train_worker;
pub mod tune;
