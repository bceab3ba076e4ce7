//! The strategy rules of spec §4, pure: no I/O, no clock, no randomness of its own.

pub mod error;
pub mod rate_table;
pub mod rule_tree;
pub mod rules;
pub mod strategy;

pub use error::RuleError;
pub use rate_table::RateTable;
pub use rule_tree::{NodeKind, RuleTree, TreeOutcome};
pub use rules::{Blacklist, LuckAward, WeightTier};
pub use strategy::{AwardEntry, ChainOutcome, LogicModel, Strategy};
