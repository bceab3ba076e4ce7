//! Behaviour rebates: the configuration (`daily_behavior_rebate`) and the users' rebate
//! orders (`user_behavior_rebate_order`), written with their outbox tasks.

use bm_server::outbox::{NewTask, OutboxStore};

use super::ActivityStore;
use crate::usecase::ActivityError;

/// An open rebate of a behaviour.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RebateConfig {
    /// The description.
    pub rebate_desc: String,
    /// `sku` or `integral`.
    pub rebate_type: String,
    /// A sku id or a credit amount.
    pub rebate_config: String,
}

/// One rebate granted to a user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RebateOrder {
    /// The user.
    pub user_id: String,
    /// The rebate order id.
    pub order_id: String,
    /// `sign` or `openai_pay`.
    pub behavior_type: String,
    /// The description (from the configuration).
    pub rebate_desc: String,
    /// `sku` or `integral`.
    pub rebate_type: String,
    /// A sku id or a credit amount.
    pub rebate_config: String,
    /// The behaviour's business number.
    pub out_business_no: String,
    /// `<user_id>_<rebate_type>_<out_business_no>`, unique.
    pub biz_id: String,
}

/// What writing a behaviour's rebate orders did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebateWrite {
    /// Every order and its outbox task were written.
    Created,
    /// A biz_id exists already: nothing was written.
    Duplicate,
}

impl ActivityStore {
    /// The open rebates of `behavior_type`, in configuration order.
    pub async fn open_rebates(&self, behavior_type: &str) -> Result<Vec<RebateConfig>, ActivityError> {
        Ok(sqlx::query_as(
            "SELECT rebate_desc, rebate_type, rebate_config FROM daily_behavior_rebate \
             WHERE behavior_type = $1 AND state = 'open' ORDER BY id",
        )
        .bind(behavior_type)
        .fetch_all(self.pool())
        .await?)
    }

    /// Writes `orders` and `tasks` in one transaction; a biz_id that exists already rolls
    /// everything back (`Duplicate`).
    #[tracing::instrument(name = "db.rebate.create", skip_all, fields(user_id = orders.first().map(|o| o.user_id.as_str())))]
    pub async fn create_rebate_orders(
        &self,
        orders: &[RebateOrder],
        tasks: &[NewTask],
    ) -> Result<RebateWrite, ActivityError> {
        let mut tx = self.pool().begin().await?;
        for order in orders {
            let inserted = sqlx::query(
                "INSERT INTO user_behavior_rebate_order (user_id, order_id, behavior_type, rebate_desc, rebate_type, \
                                                         rebate_config, out_business_no, biz_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (biz_id) DO NOTHING",
            )
            .bind(&order.user_id)
            .bind(&order.order_id)
            .bind(&order.behavior_type)
            .bind(&order.rebate_desc)
            .bind(&order.rebate_type)
            .bind(&order.rebate_config)
            .bind(&order.out_business_no)
            .bind(&order.biz_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                // Dropping the transaction rolls back the orders written before this one.
                return Ok(RebateWrite::Duplicate);
            }
        }
        for task in tasks {
            OutboxStore::enqueue_in(&mut tx, task).await?;
        }
        tx.commit().await?;
        Ok(RebateWrite::Created)
    }

    /// Whether the user has a rebate order of `behavior_type` with `out_business_no`.
    pub async fn has_rebate(
        &self,
        user_id: &str,
        behavior_type: &str,
        out_business_no: &str,
    ) -> Result<bool, ActivityError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM user_behavior_rebate_order \
                            WHERE user_id = $1 AND out_business_no = $2 AND behavior_type = $3)",
        )
        .bind(user_id)
        .bind(out_business_no)
        .bind(behavior_type)
        .fetch_one(self.pool())
        .await?)
    }
}
