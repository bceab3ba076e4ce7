//! The only place that knows how an ActivityError looks on the wire.

use bm_status::{ErrorCode, to_status};
use tonic::{Code, Status};

use crate::{
    domain::{ActivityRuleError, QuotaError},
    usecase::ActivityError,
};

impl From<ActivityError> for Status {
    fn from(error: ActivityError) -> Self {
        let code = match &error {
            ActivityError::ActivityNotFound(_)
            | ActivityError::SkuNotFound(_)
            | ActivityError::OrderNotFound(_)
            | ActivityError::StageNotFound(_) => ErrorCode::NotFound,
            ActivityError::Rule(ActivityRuleError::NotOpen { .. }) => ErrorCode::ActivityStateError,
            ActivityError::Rule(ActivityRuleError::OutOfDate { .. }) => ErrorCode::ActivityDateError,
            ActivityError::Quota(QuotaError::Total) => ErrorCode::AccountQuotaError,
            ActivityError::Quota(QuotaError::Month) => ErrorCode::AccountMonthQuotaError,
            ActivityError::Quota(QuotaError::Day) => ErrorCode::AccountDayQuotaError,
            ActivityError::SkuStockEmpty(_) => ErrorCode::ActivitySkuStockError,
            ActivityError::DuplicateRecharge(_) => ErrorCode::IndexDup,
            ActivityError::NotEnoughCredit { .. } => ErrorCode::UserCreditAccountNoAvailableAmount,
            // No code of its own: FAILED_PRECONDITION (the sku's configuration refuses it) with 0002.
            ActivityError::FreeSku(_) => {
                return bm_status::to_status_with(
                    ErrorCode::IllegalParameter,
                    Code::FailedPrecondition,
                    error.to_string(),
                );
            }
            ActivityError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                return bm_status::unavailable("activity database", &error);
            }
            ActivityError::Redis(_) => return bm_status::unavailable("redis", &error),
            ActivityError::Database(_) => return bm_status::internal(&error),
        };
        to_status(code, error.to_string())
    }
}
