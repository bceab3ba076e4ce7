//! The only place that knows how a StrategyError looks on the wire.

use bm_status::{ErrorCode, to_status};
use tonic::Status;

use crate::{domain::RuleError, usecase::StrategyError};

impl From<StrategyError> for Status {
    fn from(error: StrategyError) -> Self {
        let code = match &error {
            StrategyError::StrategyNotFound(_) | StrategyError::DrawNotFound(..) | StrategyError::NoReceipt(_) => {
                ErrorCode::NotFound
            }
            StrategyError::NotArmoried(_) => ErrorCode::UnAssembledStrategyArmory,
            StrategyError::Rule(RuleError::RuleWeightMissing(_)) => ErrorCode::StrategyRuleWeightIsNull,
            StrategyError::Rule(RuleError::Malformed { .. } | RuleError::EmptyTable { .. }) => {
                ErrorCode::AwardConfigError
            }
            StrategyError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                return bm_status::unavailable("strategy database", &error);
            }
            StrategyError::Redis(_) => return bm_status::unavailable("redis", &error),
            StrategyError::Database(_) | StrategyError::Corrupt(_) => return bm_status::internal(&error),
        };
        to_status(code, error.to_string())
    }
}
