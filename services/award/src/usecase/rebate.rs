//! The award side of behaviour rebates (spec §7.1): an `integral` rebate order of a
//! `send_rebate` event becomes a forward credit trade named `行为返利`, booked once per
//! rebate (its out_business_no is the rebate's biz_id, so a redelivery or a re-driven copy
//! is a duplicate trade and changes nothing). `sku` rebates belong to activity-quota.

use bm_kernel::UserId;
use bm_server::events::{Envelope, HandleError};

use super::{AwardError, AwardUseCases, CreditTradeCommand};
use crate::{
    domain::{TradeType, caller_business_no, parse_trade_amount},
    events::SendRebate,
};

/// The trade name of a rebate credit (the original's `行为返利`).
pub const REBATE_TRADE_NAME: &str = "行为返利";

/// The rebate type award credits.
pub const INTEGRAL: &str = "integral";

/// What handling a send_rebate did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebateHandled {
    /// Credited now (the credit order id).
    Credited(String),
    /// Credited before: a redelivery or a re-driven copy; nothing changed.
    AlreadyCredited(String),
    /// Not an `integral` rebate: not award's.
    Ignored,
}

impl AwardUseCases {
    /// Credits an `integral` rebate once. A rebate that can never be booked (an amount that
    /// is not a positive decimal, a biz_id that is not a valid business number, a biz_id
    /// booked as another trade) is `AwardError::BadRebate` / `TradeConflict`: permanent.
    #[tracing::instrument(name = "award.rebate", skip_all, fields(
        user_id = %rebate.user_id, order_id = %rebate.order_id, biz_id = %rebate.biz_id, rebate_type = %rebate.rebate_type))]
    pub async fn credit_rebate(&self, rebate: &SendRebate) -> Result<RebateHandled, AwardError> {
        if rebate.rebate_type != INTEGRAL {
            tracing::debug!("not an integral rebate; activity-quota handles it");
            return Ok(RebateHandled::Ignored);
        }
        let bad = |what: String| AwardError::BadRebate { order_id: rebate.order_id.clone(), reason: what };
        let user_id = UserId::parse(rebate.user_id.clone()).map_err(|e| bad(format!("user_id: {e}")))?;
        let amount = parse_trade_amount(rebate.rebate_config.trim())
            .map_err(|e| bad(format!("rebate_config {:?} is not a credit amount: {e}", rebate.rebate_config)))?;
        let out_business_no = caller_business_no(rebate.biz_id.clone()).map_err(|e| bad(format!("biz_id: {e}")))?;
        let traded = self
            .credit_trade(CreditTradeCommand {
                user_id,
                out_business_no,
                trade_name: REBATE_TRADE_NAME.to_owned(),
                trade_type: TradeType::Forward,
                amount,
            })
            .await?;
        Ok(if traded.duplicate {
            RebateHandled::AlreadyCredited(traded.order_id)
        } else {
            RebateHandled::Credited(traded.order_id)
        })
    }

    /// Handles one send_rebate event for the consumer: done or ignored → ack; a permanent
    /// failure → parked at once; a transient one (database) → redelivered, parked after the
    /// last delivery.
    pub async fn handle_send_rebate(&self, envelope: Envelope<SendRebate>) -> Result<(), HandleError> {
        match self.credit_rebate(&envelope.data).await {
            Ok(handled) => {
                if handled != RebateHandled::Ignored {
                    tracing::info!(user_id = %envelope.data.user_id, biz_id = %envelope.data.biz_id, ?handled, "send_rebate handled");
                }
                Ok(())
            }
            Err(error) => {
                let reason = bm_status::ErrorChain(&error).to_string();
                if error.is_permanent() { Err(HandleError::Park(reason)) } else { Err(HandleError::Retry(reason)) }
            }
        }
    }
}
