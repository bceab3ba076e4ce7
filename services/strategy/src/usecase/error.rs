//! The one error type of strategy-draw; `grpc::status` maps it to the wire.

use crate::domain::RuleError;

/// Why a strategy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// No such strategy.
    #[error("strategy {0} does not exist")]
    StrategyNotFound(i64),
    /// The strategy was not armoried (ERR_BIZ_002).
    #[error("strategy {0} is not armoried; call ArmoryStrategy first")]
    NotArmoried(i64),
    /// The strategy's configuration is unusable (ERR_BIZ_001 or ERR_CONFIG_001).
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// No draw is recorded for this order on this strategy (or not for this user).
    #[error("no draw of order {0} on strategy {1}")]
    DrawNotFound(String, i64),
    /// The draw was recorded before verifiable draws: it has no receipt.
    #[error("the draw of order {0} was recorded before verifiable draws and has no receipt")]
    NoReceipt(String),
    /// Postgres failed.
    #[error("strategy database failed")]
    Database(#[from] sqlx::Error),
    /// Redis failed.
    #[error("redis failed: {0}")]
    Redis(String),
    /// Stored state could not be read back (a bug or a foreign writer).
    #[error("corrupt stored state: {0}")]
    Corrupt(String),
}
