//! Proto ↔ domain: validation of requests (INVALID_ARGUMENT / `0002`) and responses.

use bm_api::award as pb;
use bm_kernel::{OrderId, UserId};
use bm_status::invalid_argument;
use tonic::Status;

use crate::{
    domain::{TradeType, caller_business_no, parse_trade_amount},
    storage::{AwardRecordView, CreditAccount},
    usecase::{CreditTradeCommand, CreditTraded, RecordAwardCommand},
};

/// The longest award key and title stored (the column widths).
const MAX_AWARD_KEY_LEN: usize = 64;
const MAX_AWARD_TITLE_LEN: usize = 128;
const MAX_AWARD_CONFIG_LEN: usize = 128;
/// The longest trade name stored (`user_credit_order.trade_name`).
const MAX_TRADE_NAME_LEN: usize = 32;

pub(super) fn user_id(value: String) -> Result<UserId, Status> {
    UserId::parse(value).map_err(|e| invalid_argument("user_id", e))
}

pub(super) fn id(field: &str, value: i64) -> Result<i64, Status> {
    bm_kernel::positive_id(value).map_err(|e| invalid_argument(field, e))
}

fn text(field: &str, value: String, max: usize, required: bool) -> Result<String, Status> {
    let len = value.chars().count();
    if required && value.trim().is_empty() {
        return Err(invalid_argument(field, "must not be empty"));
    }
    if len > max {
        return Err(invalid_argument(field, format!("must be at most {max} characters, got {len}")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid_argument(field, "must not contain control characters"));
    }
    Ok(value)
}

impl TryFrom<pb::RecordAwardRequest> for RecordAwardCommand {
    type Error = Status;

    fn try_from(request: pb::RecordAwardRequest) -> Result<Self, Status> {
        let award_id =
            i32::try_from(id("award_id", i64::from(request.award_id))?).map_err(|e| invalid_argument("award_id", e))?;
        Ok(Self {
            user_id: user_id(request.user_id)?,
            activity_id: id("activity_id", request.activity_id)?,
            strategy_id: id("strategy_id", request.strategy_id)?,
            order_id: OrderId::parse(request.order_id).map_err(|e| invalid_argument("order_id", e))?,
            award_id,
            award_key: text("award_key", request.award_key, MAX_AWARD_KEY_LEN, true)?,
            award_title: text("award_title", request.award_title, MAX_AWARD_TITLE_LEN, true)?,
            award_config: text("award_config", request.award_config, MAX_AWARD_CONFIG_LEN, false)?,
        })
    }
}

impl TryFrom<pb::CreditTradeRequest> for CreditTradeCommand {
    type Error = Status;

    fn try_from(request: pb::CreditTradeRequest) -> Result<Self, Status> {
        let user_id = user_id(request.user_id)?;
        let out_business_no =
            caller_business_no(request.out_business_no).map_err(|e| invalid_argument("out_business_no", e))?;
        Ok(Self {
            user_id,
            out_business_no,
            trade_name: text("trade_name", request.trade_name, MAX_TRADE_NAME_LEN, true)?,
            trade_type: request.trade_type.parse::<TradeType>().map_err(|e| invalid_argument("trade_type", e))?,
            amount: parse_trade_amount(&request.amount).map_err(|e| invalid_argument("amount", e))?,
        })
    }
}

impl From<CreditTraded> for pb::CreditTradeResponse {
    fn from(traded: CreditTraded) -> Self {
        Self {
            order_id: traded.order_id,
            duplicate: traded.duplicate,
            available_amount: traded.account.available_amount.normalize().to_string(),
            total_amount: traded.account.total_amount.normalize().to_string(),
        }
    }
}

impl From<AwardRecordView> for pb::UserAwardRecord {
    fn from(record: AwardRecordView) -> Self {
        Self {
            order_id: record.order_id,
            award_id: record.award_id,
            award_title: record.award_title,
            award_state: record.award_state,
            award_time: Some(prost_types::Timestamp {
                seconds: record.award_time.timestamp(),
                nanos: i32::try_from(record.award_time.timestamp_subsec_nanos()).unwrap_or(0),
            }),
            parked_reason: record.parked_reason.unwrap_or_default(),
        }
    }
}

impl From<CreditAccount> for pb::QueryUserCreditResponse {
    fn from(account: CreditAccount) -> Self {
        Self {
            total_amount: account.total_amount.normalize().to_string(),
            available_amount: account.available_amount.normalize().to_string(),
        }
    }
}
