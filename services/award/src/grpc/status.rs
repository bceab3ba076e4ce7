//! The only place that knows how an AwardError looks on the wire.

use bm_status::{ErrorCode, to_status};
use tonic::Status;

use crate::usecase::AwardError;

impl From<AwardError> for Status {
    fn from(error: AwardError) -> Self {
        let code = match &error {
            AwardError::OrderTaken { .. } | AwardError::TradeConflict { .. } => ErrorCode::IndexDup,
            AwardError::InsufficientCredit { .. } => ErrorCode::UserCreditAccountNoAvailableAmount,
            AwardError::Config(_) | AwardError::UnknownAwardKey(_) => ErrorCode::AwardConfigError,
            AwardError::RecordMissing { .. } => ErrorCode::NotFound,
            AwardError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                return bm_status::unavailable("award database", &error);
            }
            AwardError::Publish(_) => return bm_status::unavailable("nats", &error),
            AwardError::Database(_)
            | AwardError::BadPayload(_)
            | AwardError::BadRebate { .. }
            | AwardError::Corrupt(_) => {
                return bm_status::internal(&error);
            }
        };
        to_status(code, error.to_string())
    }
}
