//! One module per subcommand.

pub mod clean;
pub mod evaluate;
pub mod inspect;
