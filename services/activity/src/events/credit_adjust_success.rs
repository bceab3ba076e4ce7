//! The consumer of award's `credit_adjust_success` (`<subject_prefix>.award.credit_adjust_success`
//! on `<stream_prefix>_AWARD`, durable `<stream_prefix>_activity_credit_adjust_success`): a
//! reverse trade that paid a `wait_pay` recharge order completes it and grants its quota
//! (spec §5.3). Every other trade — forward ones, rebate and award credits, replays — is
//! acknowledged and changes nothing.

use bm_server::events::{Envelope, HandleError};

use crate::usecase::{ActivityError, ActivityUseCases, PaidOutcome};

pub use bm_server::payloads::CreditAdjustSuccess;

/// Handles one credit_adjust_success: database failures are retried; a trade that paid
/// another amount than the order's price is parked (an operator looks at it); everything
/// else is acknowledged.
pub async fn on_credit_adjust_success(
    use_cases: &ActivityUseCases,
    event: Envelope<CreditAdjustSuccess>,
) -> Result<(), HandleError> {
    let trade = event.data;
    let outcome = use_cases
        .pay_credit_order(&trade.user_id, &trade.out_business_no, &trade.trade_type, trade.amount)
        .await
        .map_err(|e| match e {
            ActivityError::Database(_) | ActivityError::Redis(_) => {
                HandleError::Retry(bm_status::ErrorChain(&e).to_string())
            }
            other => HandleError::Park(other.to_string()),
        })?;
    match outcome {
        PaidOutcome::Completed { order_id } => {
            tracing::info!(user_id = %trade.user_id, %order_id, credit_order_id = %trade.order_id, "credit exchange delivered");
            Ok(())
        }
        PaidOutcome::Ignored(why) => {
            tracing::debug!(user_id = %trade.user_id, out_business_no = %trade.out_business_no, why, "credit trade ignored");
            Ok(())
        }
        PaidOutcome::AmountMismatch { order_id, expected, paid } => Err(HandleError::Park(format!(
            "credit trade {} of user {} paid {paid} for recharge order {order_id} priced {expected}: not completed",
            trade.order_id, trade.user_id
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_payload_award_publishes() {
        let json = r#"{"id":"credit_adjust_success:7","timestamp":1,"data":{"user_id":"u","order_id":"123",
            "out_business_no":"credit_pay:ab","trade_type":"reverse","amount":"200.00"}}"#;
        let event: Envelope<CreditAdjustSuccess> = serde_json::from_str(json).unwrap();
        assert_eq!(event.data.amount, rust_decimal::Decimal::new(20_000, 2));
        assert_eq!((event.data.trade_type.as_str(), event.data.out_business_no.as_str()), ("reverse", "credit_pay:ab"));
    }
}
