//! One module per subcommand.

pub mod clean;
pub mod inspect;
