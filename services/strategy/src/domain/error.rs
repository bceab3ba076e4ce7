//! Configuration errors found when a strategy is armoried (never at draw time).

/// A rule or table that cannot be used, named so an operator can fix the row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A rule value does not parse.
    #[error("strategy {strategy_id}: {rule} value {value:?} is malformed: {reason}")]
    Malformed {
        /// The strategy.
        strategy_id: i64,
        /// The rule (`rule_weight`, `rule_blacklist`, `rule_lock` of tree_lock_1, …).
        rule: String,
        /// The stored value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// `rule_weight` is in the strategy's rule_models but has no strategy_rule row.
    #[error("strategy {0}: rule_weight is in rule_models but has no strategy_rule row")]
    RuleWeightMissing(i64),
    /// A rate table would have no award with a positive rate.
    #[error("strategy {strategy_id}: table {table} has no award with a positive rate")]
    EmptyTable {
        /// The strategy.
        strategy_id: i64,
        /// The table key (`100006` or `100006_10:102,103`).
        table: String,
    },
}

impl RuleError {
    pub(crate) fn malformed(strategy_id: i64, rule: impl Into<String>, value: &str, reason: impl Into<String>) -> Self {
        Self::Malformed { strategy_id, rule: rule.into(), value: value.to_owned(), reason: reason.into() }
    }
}
