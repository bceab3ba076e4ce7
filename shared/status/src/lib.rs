//! The big-market error codes (spec §10, ARCHITECTURE.md §3 and §8.1) and their one
//! mapping to [`tonic::Status`].
//!
//! Every error status carries its code twice: as `google.rpc.ErrorInfo{reason, domain:
//! "bigmarket"}` in the status details (for typed clients) and as the plain metadata key
//! `bm-code` (so grpcurl shows it). The message is human English; internals never reach
//! the wire: [`internal`] logs the cause chain and answers with a generic text.

use std::{error::Error, fmt};

use tonic::{Code, Status, metadata::MetadataValue};
use tonic_types::{ErrorDetails, StatusExt};

/// The metadata key that carries the big-market code of an error status.
pub const BM_CODE_KEY: &str = "bm-code";
/// The `ErrorInfo.domain` of every big-market error.
pub const DOMAIN: &str = "bigmarket";

/// A big-market business code. The wire form is [`ErrorCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `0001`: a bug; the message is generic.
    Internal,
    /// `0002`: a request field is invalid.
    IllegalParameter,
    /// `0003`: a duplicate (unique index), e.g. a repeated out_business_no.
    IndexDup,
    /// `0004`: draws are switched off by the degrade switch.
    DegradeSwitch,
    /// `0005`: the per-user rate limit rejected the call.
    RateLimiter,
    /// `0006`: a circuit breaker rejected the call.
    Hystrix,
    /// `0007`: an external gateway call failed.
    GatewayError,
    /// `0008`: caller authentication failed.
    AppTokenError,
    /// `BM_NOT_FOUND`: an unknown activity, strategy, sku, award or order.
    NotFound,
    /// `BM_UNAVAILABLE`: a dependency (database, Redis, NATS, a downstream service) is down.
    Unavailable,
    /// `ERR_BIZ_001`: rule_weight is in rule_models but has no rule row.
    StrategyRuleWeightIsNull,
    /// `ERR_BIZ_002`: the strategy was not armoried.
    UnAssembledStrategyArmory,
    /// `ERR_BIZ_003`: the activity is not open.
    ActivityStateError,
    /// `ERR_BIZ_004`: now is outside the activity's dates.
    ActivityDateError,
    /// `ERR_BIZ_005`: the sku has no stock left.
    ActivitySkuStockError,
    /// `ERR_BIZ_006`: the account's total quota is used up (or there is no account).
    AccountQuotaError,
    /// `ERR_BIZ_007`: the month quota is used up.
    AccountMonthQuotaError,
    /// `ERR_BIZ_008`: the day quota is used up.
    AccountDayQuotaError,
    /// `ERR_BIZ_009`: the raffle order was used already.
    ActivityOrderError,
    /// `ERR_CONFIG_001`: an award config is not a range like `1,100`.
    AwardConfigError,
    /// `ERR_CREDIT_001`: the credit account has too little available.
    UserCreditAccountNoAvailableAmount,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 21] = [
        Self::Internal,
        Self::IllegalParameter,
        Self::IndexDup,
        Self::DegradeSwitch,
        Self::RateLimiter,
        Self::Hystrix,
        Self::GatewayError,
        Self::AppTokenError,
        Self::NotFound,
        Self::Unavailable,
        Self::StrategyRuleWeightIsNull,
        Self::UnAssembledStrategyArmory,
        Self::ActivityStateError,
        Self::ActivityDateError,
        Self::ActivitySkuStockError,
        Self::AccountQuotaError,
        Self::AccountMonthQuotaError,
        Self::AccountDayQuotaError,
        Self::ActivityOrderError,
        Self::AwardConfigError,
        Self::UserCreditAccountNoAvailableAmount,
    ];

    /// The code as it travels (`0002`, `ERR_BIZ_006`, `BM_NOT_FOUND`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Internal => "0001",
            Self::IllegalParameter => "0002",
            Self::IndexDup => "0003",
            Self::DegradeSwitch => "0004",
            Self::RateLimiter => "0005",
            Self::Hystrix => "0006",
            Self::GatewayError => "0007",
            Self::AppTokenError => "0008",
            Self::NotFound => "BM_NOT_FOUND",
            Self::Unavailable => "BM_UNAVAILABLE",
            Self::StrategyRuleWeightIsNull => "ERR_BIZ_001",
            Self::UnAssembledStrategyArmory => "ERR_BIZ_002",
            Self::ActivityStateError => "ERR_BIZ_003",
            Self::ActivityDateError => "ERR_BIZ_004",
            Self::ActivitySkuStockError => "ERR_BIZ_005",
            Self::AccountQuotaError => "ERR_BIZ_006",
            Self::AccountMonthQuotaError => "ERR_BIZ_007",
            Self::AccountDayQuotaError => "ERR_BIZ_008",
            Self::ActivityOrderError => "ERR_BIZ_009",
            Self::AwardConfigError => "ERR_CONFIG_001",
            Self::UserCreditAccountNoAvailableAmount => "ERR_CREDIT_001",
        }
    }

    /// The gRPC code of the business code (ARCHITECTURE.md §8.1).
    pub const fn grpc_code(self) -> Code {
        match self {
            Self::Internal => Code::Internal,
            Self::IllegalParameter => Code::InvalidArgument,
            Self::IndexDup => Code::AlreadyExists,
            Self::DegradeSwitch | Self::Hystrix | Self::Unavailable | Self::GatewayError => Code::Unavailable,
            Self::RateLimiter => Code::ResourceExhausted,
            Self::AppTokenError => Code::Unauthenticated,
            Self::NotFound => Code::NotFound,
            Self::StrategyRuleWeightIsNull
            | Self::UnAssembledStrategyArmory
            | Self::ActivityStateError
            | Self::ActivityDateError
            | Self::ActivitySkuStockError
            | Self::AccountQuotaError
            | Self::AccountMonthQuotaError
            | Self::AccountDayQuotaError
            | Self::ActivityOrderError
            | Self::AwardConfigError
            | Self::UserCreditAccountNoAvailableAmount => Code::FailedPrecondition,
        }
    }

    /// Parses a wire code back; `None` for anything that is not a big-market code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds the status of a business error: gRPC code by [`ErrorCode::grpc_code`],
/// `ErrorInfo{reason: code, domain: "bigmarket"}` in the details, `bm-code` metadata.
pub fn to_status(code: ErrorCode, message: impl Into<String>) -> Status {
    let details = ErrorDetails::with_error_info(code.as_str(), DOMAIN, []);
    with_code_metadata(Status::with_error_details(code.grpc_code(), message, details), code)
}

/// Like [`to_status`] with another gRPC code than the code's own (e.g. `PERMISSION_DENIED`
/// for a known caller refused a method, still `0008`).
pub fn to_status_with(code: ErrorCode, grpc: Code, message: impl Into<String>) -> Status {
    let details = ErrorDetails::with_error_info(code.as_str(), DOMAIN, []);
    with_code_metadata(Status::with_error_details(grpc, message, details), code)
}

/// An `INVALID_ARGUMENT` / `0002` status naming the bad field, with a
/// `google.rpc.BadRequest` field violation next to the ErrorInfo.
pub fn invalid_argument(field: &str, problem: impl fmt::Display) -> Status {
    let code = ErrorCode::IllegalParameter;
    let description = problem.to_string();
    let mut details = ErrorDetails::with_error_info(code.as_str(), DOMAIN, []);
    details.add_bad_request_violation(field, description.clone());
    with_code_metadata(
        Status::with_error_details(code.grpc_code(), format!("invalid {field}: {description}"), details),
        code,
    )
}

/// The page size of a listing: `value` when it is 1..=`max`, `default` for 0, else an
/// `INVALID_ARGUMENT` / `0002` status naming `limit`.
pub fn page_limit(value: u32, default: u32, max: u32) -> Result<u32, Status> {
    match value {
        0 => Ok(default),
        n if n <= max => Ok(n),
        _ => Err(invalid_argument("limit", format!("must be 0 (= {default}) to {max}"))),
    }
}

/// An `INTERNAL` / `0001` status for a bug or an unexpected failure. The cause chain is
/// logged here, once; the wire gets a generic message.
pub fn internal(error: &(dyn Error + 'static)) -> Status {
    tracing::error!(error = %ErrorChain(error), "internal error");
    to_status(ErrorCode::Internal, "internal error")
}

/// An `UNAVAILABLE` / `BM_UNAVAILABLE` status for a dependency that is down. The cause is
/// logged; the message names the dependency only.
pub fn unavailable(dependency: &str, error: &(dyn Error + 'static)) -> Status {
    tracing::warn!(dependency, error = %ErrorChain(error), "dependency unavailable");
    to_status(ErrorCode::Unavailable, format!("{dependency} is unavailable, try again later"))
}

/// What a caller of another big-market service answers when that call failed: a business
/// error passes through unchanged (code, message, details, `bm-code`; transport headers of
/// the downstream answer are dropped); anything else means the dependency is unreachable or
/// broken, which is `UNAVAILABLE` / `BM_UNAVAILABLE` naming it.
pub fn pass_through(dependency: &str, status: &Status) -> Status {
    if let Some(code) = code_of(status) {
        return with_code_metadata(
            Status::with_details(status.code(), status.message(), status.details().to_vec().into()),
            code,
        );
    }
    tracing::warn!(dependency, code = ?status.code(), message = status.message(), "dependency call failed");
    to_status(
        ErrorCode::Unavailable,
        format!("{dependency} is unavailable ({}), try again later", status.code().description()),
    )
}

/// The big-market code of a status: the `bm-code` metadata, else the ErrorInfo reason.
pub fn code_of(status: &Status) -> Option<ErrorCode> {
    if let Some(code) = status.metadata().get(BM_CODE_KEY).and_then(|v| v.to_str().ok()).and_then(ErrorCode::parse) {
        return Some(code);
    }
    status.get_details_error_info().filter(|info| info.domain == DOMAIN).and_then(|info| ErrorCode::parse(&info.reason))
}

fn with_code_metadata(mut status: Status, code: ErrorCode) -> Status {
    status.metadata_mut().insert(BM_CODE_KEY, MetadataValue::from_static(code.as_str()));
    status
}

/// Formats an error with its whole `source()` chain: `outer: cause: root cause`.
#[derive(Debug)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_form() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("ERR_BIZ_010"), None);
    }

    #[test]
    fn grpc_codes_follow_architecture_8_1() {
        let table = [
            ("0001", Code::Internal),
            ("0002", Code::InvalidArgument),
            ("0003", Code::AlreadyExists),
            ("0004", Code::Unavailable),
            ("0005", Code::ResourceExhausted),
            ("0008", Code::Unauthenticated),
            ("BM_NOT_FOUND", Code::NotFound),
            ("BM_UNAVAILABLE", Code::Unavailable),
            ("ERR_BIZ_001", Code::FailedPrecondition),
            ("ERR_BIZ_006", Code::FailedPrecondition),
            ("ERR_BIZ_009", Code::FailedPrecondition),
            ("ERR_CONFIG_001", Code::FailedPrecondition),
            ("ERR_CREDIT_001", Code::FailedPrecondition),
        ];
        for (wire, grpc) in table {
            assert_eq!(ErrorCode::parse(wire).unwrap().grpc_code(), grpc, "{wire}");
        }
    }

    #[test]
    fn status_carries_code_in_metadata_and_error_info() {
        let status = to_status(ErrorCode::AccountQuotaError, "total quota used up");
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "total quota used up");
        assert_eq!(status.metadata().get(BM_CODE_KEY).unwrap(), "ERR_BIZ_006");
        let info = status.get_details_error_info().unwrap();
        assert_eq!((info.reason.as_str(), info.domain.as_str()), ("ERR_BIZ_006", "bigmarket"));
        assert_eq!(code_of(&status), Some(ErrorCode::AccountQuotaError));
    }

    #[test]
    fn invalid_argument_names_the_field() {
        let status = invalid_argument("user_id", "must not be empty");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("user_id"), "{}", status.message());
        assert_eq!(code_of(&status), Some(ErrorCode::IllegalParameter));
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "user_id");
    }

    #[test]
    fn code_survives_the_wire_without_metadata() {
        // A status rebuilt from details only (e.g. a proxy dropped custom metadata).
        let original = to_status(ErrorCode::IndexDup, "duplicate");
        let rebuilt = Status::with_details(original.code(), original.message(), original.details().to_vec().into());
        assert_eq!(code_of(&rebuilt), Some(ErrorCode::IndexDup));
    }

    #[test]
    fn pass_through_keeps_business_codes_and_names_a_dead_dependency() {
        let mut downstream = to_status(ErrorCode::AccountQuotaError, "no total quota left");
        downstream.metadata_mut().insert("content-type", MetadataValue::from_static("application/grpc"));
        let passed = pass_through("activity-quota", &downstream);
        assert_eq!((passed.code(), passed.message()), (Code::FailedPrecondition, "no total quota left"));
        assert_eq!(code_of(&passed), Some(ErrorCode::AccountQuotaError));
        assert_eq!(passed.get_details_error_info().unwrap().reason, "ERR_BIZ_006");
        assert!(passed.metadata().get("content-type").is_none(), "transport headers are not forwarded");
        let dead = pass_through("activity-quota", &Status::unavailable("tcp connect error"));
        assert_eq!((dead.code(), code_of(&dead)), (Code::Unavailable, Some(ErrorCode::Unavailable)));
        assert!(dead.message().contains("activity-quota"), "{}", dead.message());
    }

    #[test]
    fn internal_hides_the_cause() {
        let cause = std::io::Error::other("password=hunter2 at db:5432");
        let status = internal(&cause);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
        assert_eq!(code_of(&status), Some(ErrorCode::Internal));
    }

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(0, 100, 1000).unwrap(), 100);
        assert_eq!(page_limit(1, 100, 1000).unwrap(), 1);
        assert_eq!(page_limit(1000, 100, 1000).unwrap(), 1000);
        let refused = page_limit(1001, 100, 1000).unwrap_err();
        assert_eq!((refused.code(), code_of(&refused)), (Code::InvalidArgument, Some(ErrorCode::IllegalParameter)));
        assert!(refused.message().contains("0 (= 100) to 1000"), "{}", refused.message());
    }
}
