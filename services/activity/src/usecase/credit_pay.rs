//! Credit exchange on the activity side (spec §5.1 `credit_pay_trade`, §5.3, §7.2; design in
//! docs/activity.md "Credit exchange"): CreateCreditPayOrder hands an exchange a `wait_pay`
//! order to pay — the user's unpaid one of the sku when no other exchange holds it, else a new
//! one through the recharge path — and award's `credit_adjust_success` for a reverse trade
//! with the order's business number completes it and grants its quota, once.

use bm_kernel::UserId;
use chrono::{DateTime, Months, TimeDelta, Utc};
use rust_decimal::Decimal;

use super::{ActivityError, ActivityUseCases};
use crate::storage::{ClaimWindow, CreditPayOrder, PayOutcome, Payment, SkuRow};

/// How long an exchange holds the order it was handed: within it no other exchange reuses
/// the order (ARCHITECTURE decision of issue #14: a 30 s lease).
pub const CLAIM_LEASE: TimeDelta = TimeDelta::seconds(30);

/// The prefix of the business numbers of credit-paid orders (`award:` is award's own).
pub const BUSINESS_NO_PREFIX: &str = "credit_pay:";

/// The only trade type that pays an order.
pub const REVERSE: &str = "reverse";

/// What CreateCreditPayOrder handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditPayOutcome {
    /// The order to pay.
    pub order: CreditPayOrder,
    /// An unpaid order was reused: no stock was taken.
    pub reused: bool,
}

/// What a credit_adjust_success did to the recharge orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaidOutcome {
    /// The order was completed and its quota granted.
    Completed {
        /// The recharge order.
        order_id: String,
    },
    /// Nothing to do (why): a forward trade, a business number that is no order of the user
    /// (rebate or award credits), or an order paid before (a replay).
    Ignored(&'static str),
    /// The trade paid another amount than the order's price: nothing written.
    AmountMismatch {
        /// The recharge order.
        order_id: String,
        /// Its price.
        expected: Decimal,
        /// What the trade took.
        paid: Decimal,
    },
}

/// The unpaid orders an exchange at `now` may claim: made within the last month, not
/// claimed within [`CLAIM_LEASE`].
pub fn claim_window(now: DateTime<Utc>) -> ClaimWindow {
    ClaimWindow {
        made_after: now.checked_sub_months(Months::new(1)).unwrap_or(DateTime::<Utc>::MIN_UTC),
        claimed_before: now - CLAIM_LEASE,
    }
}

/// A fresh business number for a new credit-paid order.
pub fn new_business_no() -> String {
    format!("{BUSINESS_NO_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

/// The sku's price in credit; a free sku cannot be bought with credit.
pub fn price(sku: &SkuRow) -> Result<Decimal, ActivityError> {
    if sku.product_amount > Decimal::ZERO { Ok(sku.product_amount) } else { Err(ActivityError::FreeSku(sku.sku)) }
}

impl ActivityUseCases {
    /// CreateCreditPayOrder: the sku must exist and have a price, its activity be open and
    /// in date; then the user's unpaid order of the sku is claimed if one is younger than a
    /// month and unclaimed for [`CLAIM_LEASE`] (reused, no stock taken), else a new `wait_pay`
    /// order is placed through the recharge path (stock taken; ERR_BIZ_005 when sold out).
    #[tracing::instrument(name = "activity.create_credit_pay_order", skip_all, fields(user_id = %user_id, sku, order_id = tracing::field::Empty, reused = tracing::field::Empty))]
    pub async fn create_credit_pay_order(
        &self,
        user_id: &UserId,
        sku: i64,
        available_credit: Option<Decimal>,
    ) -> Result<CreditPayOutcome, ActivityError> {
        let sku_row = self.store.find_sku(sku).await?.ok_or(ActivityError::SkuNotFound(sku))?;
        let pay_amount = price(&sku_row)?;
        if let Some(available) = available_credit.filter(|available| *available < pay_amount) {
            return Err(ActivityError::NotEnoughCredit { sku, price: pay_amount, available });
        }
        let activity = self.activity(sku_row.activity_id).await?;
        let now = self.clock.now();
        activity.check_open(now)?;
        let span = tracing::Span::current();
        if let Some(order) = self.store.claim_unpaid(user_id.as_str(), sku, claim_window(now), now).await? {
            span.record("order_id", order.order_id.as_str()).record("reused", true);
            tracing::info!(out_business_no = %order.out_business_no, "unpaid credit-pay order reused");
            return Ok(CreditPayOutcome { order, reused: true });
        }
        let out_business_no = new_business_no();
        let order_id = self.place_recharge(user_id, &sku_row, &out_business_no, Payment::Credit(pay_amount)).await?;
        span.record("reused", false);
        Ok(CreditPayOutcome { order: CreditPayOrder { order_id, out_business_no, pay_amount }, reused: false })
    }

    /// Handles a booked credit trade (spec §5.3): a reverse trade whose business number is a
    /// `wait_pay` order of the user completes it and grants its quota, in one transaction;
    /// anything else changes nothing. Idempotent: a replay finds the order completed.
    #[tracing::instrument(name = "activity.pay_credit_order", skip_all, fields(user_id = %user_id, out_business_no = %out_business_no, order_id = tracing::field::Empty))]
    pub async fn pay_credit_order(
        &self,
        user_id: &str,
        out_business_no: &str,
        trade_type: &str,
        amount: Decimal,
    ) -> Result<PaidOutcome, ActivityError> {
        if trade_type != REVERSE {
            return Ok(PaidOutcome::Ignored("not a reverse trade"));
        }
        let Some(order) = self.store.find_recharge_order(user_id, out_business_no).await? else {
            return Ok(PaidOutcome::Ignored("no recharge order has this business number"));
        };
        tracing::Span::current().record("order_id", order.order_id.as_str());
        if order.state != "wait_pay" {
            return Ok(PaidOutcome::Ignored("the order is not waiting for payment"));
        }
        if order.pay_amount != amount {
            return Ok(PaidOutcome::AmountMismatch {
                order_id: order.order_id,
                expected: order.pay_amount,
                paid: amount,
            });
        }
        let period = self.period(self.clock.now());
        Ok(match self.store.complete_credit_pay(user_id, out_business_no, &period).await? {
            PayOutcome::Completed => {
                tracing::info!(sku = order.sku, %amount, "credit-pay order paid; quota granted");
                PaidOutcome::Completed { order_id: order.order_id }
            }
            PayOutcome::AlreadyCompleted => PaidOutcome::Ignored("the order is not waiting for payment"),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn sku(product_amount: Decimal) -> SkuRow {
        SkuRow {
            sku: 9011,
            activity_id: 100_301,
            activity_count_id: 11101,
            stock_count: 10,
            stock_count_surplus: 10,
            product_amount,
            total_count: 1,
            day_count: 1,
            month_count: 1,
        }
    }

    #[test]
    fn the_claim_window_is_one_calendar_month_and_the_lease() {
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
        let window = claim_window(now);
        assert_eq!(window.made_after, Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap(), "clamped to February");
        assert_eq!(window.claimed_before, Utc.with_ymd_and_hms(2026, 3, 31, 11, 59, 30).unwrap());
    }

    #[test]
    fn business_numbers_are_fresh_and_never_award_ones() {
        let (a, b) = (new_business_no(), new_business_no());
        assert_ne!(a, b);
        assert!(a.starts_with("credit_pay:") && !a.starts_with("award:"));
        assert!(a.len() <= bm_kernel::id::MAX_TEXT_ID_LEN, "fits out_business_no VARCHAR(64): {a}");
    }

    #[test]
    fn only_a_priced_sku_can_be_bought_with_credit() {
        assert_eq!(price(&sku(Decimal::new(20_000, 2))).unwrap(), Decimal::new(200, 0));
        assert!(matches!(price(&sku(Decimal::ZERO)), Err(ActivityError::FreeSku(9011))));
        assert!(matches!(price(&sku(Decimal::new(-1, 0))), Err(ActivityError::FreeSku(9011))));
    }
}
