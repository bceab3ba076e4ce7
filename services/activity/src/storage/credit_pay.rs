//! Credit-paid recharge orders (spec §5.1 `credit_pay_trade`, §5.3): claiming an unpaid
//! order for another exchange, finding an order by its business number, and completing a paid
//! one with its quota. Writing a new `wait_pay` order is [`ActivityStore::write_recharge`].

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{
    ActivityStore,
    postgres::{QuotaGrant, grant_quota},
};
use crate::{domain::Period, usecase::ActivityError};

/// A credit-paid order handed to an exchange.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CreditPayOrder {
    /// The recharge order id.
    pub order_id: String,
    /// The business number to book the reverse credit trade with.
    pub out_business_no: String,
    /// The credit to pay.
    pub pay_amount: Decimal,
}

/// A recharge order as the credit_adjust_success consumer reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RechargeOrderRow {
    /// The order id.
    pub order_id: String,
    /// Its sku.
    pub sku: i64,
    /// `wait_pay` or `completed`.
    pub state: String,
    /// The credit it costs (0 for a no-pay recharge).
    pub pay_amount: Decimal,
}

/// What paying an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayOutcome {
    /// `wait_pay → completed`, quota granted.
    Completed,
    /// It was no longer `wait_pay` (a concurrent delivery paid it): nothing written.
    AlreadyCompleted,
}

/// Which unpaid orders an exchange may claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimWindow {
    /// Orders made before this are too old to reuse.
    pub made_after: DateTime<Utc>,
    /// Orders claimed after this are being paid by another exchange.
    pub claimed_before: DateTime<Utc>,
}

impl ActivityStore {
    /// Claims the user's oldest unpaid order of `sku` inside `window` for an exchange, in one
    /// statement: the pick is `FOR UPDATE SKIP LOCKED` and re-checked after the lock, so two
    /// concurrent exchanges never claim the same order. The claim is `claimed_at = now`.
    pub async fn claim_unpaid(
        &self,
        user_id: &str,
        sku: i64,
        window: ClaimWindow,
        now: DateTime<Utc>,
    ) -> Result<Option<CreditPayOrder>, ActivityError> {
        Ok(sqlx::query_as(
            "UPDATE raffle_activity_order o SET claimed_at = $5, updated_at = now() \
             FROM (SELECT user_id, order_id FROM raffle_activity_order \
                   WHERE user_id = $1 AND sku = $2 AND state = 'wait_pay' AND order_time >= $3 AND claimed_at <= $4 \
                   ORDER BY order_time, order_id LIMIT 1 FOR UPDATE SKIP LOCKED) picked \
             WHERE o.user_id = picked.user_id AND o.order_id = picked.order_id \
             RETURNING o.order_id, o.out_business_no, o.pay_amount",
        )
        .bind(user_id)
        .bind(sku)
        .bind(window.made_after)
        .bind(window.claimed_before)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The user's recharge order with this business number.
    pub async fn find_recharge_order(
        &self,
        user_id: &str,
        out_business_no: &str,
    ) -> Result<Option<RechargeOrderRow>, ActivityError> {
        Ok(sqlx::query_as(
            "SELECT order_id, sku, state, pay_amount FROM raffle_activity_order WHERE user_id = $1 AND out_business_no = $2",
        )
        .bind(user_id)
        .bind(out_business_no)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Pays a `wait_pay` order (spec §5.3) in one transaction: the guarded
    /// `wait_pay → completed`, then the order's quota granted as a recharge grants it. A
    /// second delivery finds it completed and writes nothing.
    pub async fn complete_credit_pay(
        &self,
        user_id: &str,
        out_business_no: &str,
        period: &Period,
    ) -> Result<PayOutcome, ActivityError> {
        let mut tx = self.pool().begin().await?;
        let paid: Option<(i64, i32, i32, i32)> = sqlx::query_as(
            "UPDATE raffle_activity_order SET state = 'completed', updated_at = now() \
             WHERE user_id = $1 AND out_business_no = $2 AND state = 'wait_pay' \
             RETURNING activity_id, total_count, day_count, month_count",
        )
        .bind(user_id)
        .bind(out_business_no)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((activity_id, total, day, month)) = paid else { return Ok(PayOutcome::AlreadyCompleted) };
        grant_quota(&mut tx, user_id, activity_id, QuotaGrant { total, day, month }, period).await?;
        tx.commit().await?;
        Ok(PayOutcome::Completed)
    }
}
