//! The operations of activity-quota: armory, recharge, partake, complete, queries, the
//! activity stage.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bm_kernel::{BusinessNo, Clock, OrderId, UserId};
use bm_stock::Take;
use chrono_tz::Tz;

mod credit_pay;
mod error;
mod rebate;
mod stage;

pub use credit_pay::{CLAIM_LEASE, CreditPayOutcome, PaidOutcome};
pub use error::ActivityError;
pub use rebate::{RebateError, RebateUseCases, SignedIn};
pub use stage::MAX_STAGE_LIST;

use crate::{
    domain::{Account, Activity, Period, SubAccount},
    events::SkuEvents,
    storage::{
        ActivityStore, CompleteOutcome, NewRecharge, PartakeOutcome, Payment, RechargeOutcome, SkuRow, SkuStock,
    },
};

/// The quota view of QueryAccount (spec §5.4 `queryActivityAccountEntity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountView {
    /// Lifetime quota.
    pub total: (i32, i32),
    /// This month (count, surplus).
    pub month: (i32, i32),
    /// Today (count, surplus).
    pub day: (i32, i32),
    /// Lifetime partakes.
    pub total_partake_count: i64,
    /// Partakes today.
    pub day_partake_count: i64,
}

impl AccountView {
    /// No account → zeros; the day and month come from today's rows when they exist, else
    /// from the account's allowance, untouched.
    pub fn of(account: Option<Account>, month: Option<SubAccount>, day: Option<SubAccount>) -> Self {
        let Some(account) = account else { return Self::default() };
        let month = month.map_or((account.month_count, account.month_count), |m| (m.count, m.surplus));
        let day = day.map_or((account.day_count, account.day_count), |d| (d.count, d.surplus));
        Self {
            total: (account.total_count, account.total_count_surplus),
            month,
            day,
            total_partake_count: i64::from(account.total_count - account.total_count_surplus),
            day_partake_count: i64::from(day.0 - day.1),
        }
    }
}

/// Activities by id with the instant they were loaded.
type ActivityCache = HashMap<i64, (Instant, Arc<Activity>)>;

/// The activity service's use cases.
#[derive(Debug, Clone)]
pub struct ActivityUseCases {
    pub(crate) store: ActivityStore,
    pub(crate) stock: SkuStock,
    pub(crate) events: SkuEvents,
    clock: Arc<dyn Clock>,
    zone: Tz,
    cache_ttl: Duration,
    activities: Arc<Mutex<ActivityCache>>,
    armoried_skus: Arc<Mutex<Vec<i64>>>,
}

impl ActivityUseCases {
    /// Wires the use cases; activities are cached in process for `cache_ttl`.
    pub fn new(
        store: ActivityStore,
        stock: SkuStock,
        events: SkuEvents,
        clock: Arc<dyn Clock>,
        zone: Tz,
        cache_ttl: Duration,
    ) -> Self {
        Self { store, stock, events, clock, zone, cache_ttl, activities: Arc::default(), armoried_skus: Arc::default() }
    }

    /// The day and month of `now` in the activity time zone.
    fn period(&self, now: chrono::DateTime<chrono::Utc>) -> Period {
        Period::at(now, self.zone)
    }

    /// The activity (cached for `cache_ttl`, so a state change applies within it).
    pub async fn activity(&self, activity_id: i64) -> Result<Arc<Activity>, ActivityError> {
        if let Some((at, activity)) =
            self.activities.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&activity_id)
            && at.elapsed() < self.cache_ttl
        {
            return Ok(activity.clone());
        }
        let activity =
            Arc::new(self.store.find_activity(activity_id).await?.ok_or(ActivityError::ActivityNotFound(activity_id))?);
        self.activities
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(activity_id, (Instant::now(), activity.clone()));
        Ok(activity)
    }

    /// Warms the sku stock counters of an activity (only where absent) and the activity
    /// cache; returns the activity's strategy.
    #[tracing::instrument(name = "activity.armory", skip(self))]
    pub async fn armory(&self, activity_id: i64) -> Result<i64, ActivityError> {
        self.forget_activity(activity_id);
        let activity = self.activity(activity_id).await?;
        self.warm_skus(activity_id).await?;
        Ok(activity.strategy_id)
    }

    /// Drops the cached copy of an activity, so the next read loads it.
    fn forget_activity(&self, activity_id: i64) {
        self.activities.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&activity_id);
    }

    /// Sets the sku stock counters of an activity where absent and puts its skus in this
    /// process's batch sync.
    async fn warm_skus(&self, activity_id: i64) -> Result<(), ActivityError> {
        let skus = self.store.list_skus(activity_id).await?;
        for sku in &skus {
            self.stock.ensure_counter(&self.store, sku.sku).await?;
        }
        for sku in &skus {
            self.track_sku(sku.sku);
        }
        tracing::info!(skus = skus.len(), "armoried");
        Ok(())
    }

    /// Puts `sku` in the batch sync of this process. Armory does it, and so does every
    /// stock take: a process started after the armory (a restart, a new replica) still
    /// syncs the counters it moves.
    fn track_sku(&self, sku: i64) {
        let mut tracked = self.armoried_skus.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !tracked.contains(&sku) {
            tracked.push(sku);
        }
    }

    /// The skus whose counters this process warmed or moved (for the batch sync).
    pub fn armoried_skus(&self) -> Vec<i64> {
        self.armoried_skus.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Recharges quota from a sku (spec §5.1, trade type rebate_no_pay: completed at once).
    /// A repeat of (user, out_business_no) is `DuplicateRecharge` and takes no stock; a
    /// recharge that fails after taking a unit gives it back (spec §14 bug 10).
    #[tracing::instrument(name = "activity.recharge_sku", skip_all, fields(user_id = %user_id, sku, out_business_no = %out_business_no, order_id = tracing::field::Empty))]
    pub async fn recharge(
        &self,
        user_id: &UserId,
        sku: i64,
        out_business_no: &BusinessNo,
    ) -> Result<String, ActivityError> {
        let sku_row = self.store.find_sku(sku).await?.ok_or(ActivityError::SkuNotFound(sku))?;
        self.place_recharge(user_id, &sku_row, out_business_no.as_str(), Payment::None).await
    }

    /// The recharge path shared by every trade type (spec §5.1 steps 3–7): the activity must
    /// be open and in date, a repeat of (user, out_business_no) is `DuplicateRecharge` and
    /// takes no stock, one sku unit is taken, then the order is written as `payment` says; a
    /// write that fails gives the unit back (spec §14 bug 10). Records `order_id` on the
    /// current span.
    pub(crate) async fn place_recharge(
        &self,
        user_id: &UserId,
        sku_row: &SkuRow,
        out_business_no: &str,
        payment: Payment,
    ) -> Result<String, ActivityError> {
        let sku = sku_row.sku;
        let activity = self.activity(sku_row.activity_id).await?;
        if self.store.recharge_exists(user_id.as_str(), out_business_no).await? {
            return Err(ActivityError::DuplicateRecharge(out_business_no.to_owned()));
        }
        let now = self.clock.now();
        activity.check_open(now)?;
        self.track_sku(sku);
        let left = match self.stock.take(&self.store, sku, user_id.as_str(), out_business_no).await? {
            Take::Taken { left } => Some(left),
            // A retry of a recharge whose earlier attempt took the unit: it is ours.
            Take::Held { .. } => None,
            Take::Empty | Take::Missing => return Err(ActivityError::SkuStockEmpty(sku)),
        };
        let order_id = uuid::Uuid::new_v4().simple().to_string();
        tracing::Span::current().record("order_id", order_id.as_str());
        let period = self.period(now);
        let recharge = NewRecharge {
            user_id: user_id.as_str(),
            order_id: &order_id,
            out_business_no,
            sku: sku_row,
            activity: &activity,
            now,
            period: &period,
        };
        match self.store.write_recharge(&recharge, payment).await {
            Ok(RechargeOutcome::Created) => {}
            // A concurrent attempt with the same key wrote the order: the unit is its.
            Ok(RechargeOutcome::Duplicate) => {
                return Err(ActivityError::DuplicateRecharge(out_business_no.to_owned()));
            }
            Err(error) => {
                if let Err(release) = self.stock.release(sku, user_id.as_str(), out_business_no).await {
                    tracing::error!(error = %release, "cannot give the sku unit back; the counter is rebuilt from orders if lost");
                }
                return Err(error);
            }
        }
        if left == Some(0) {
            self.events.sku_stock_zero(sku).await;
        }
        tracing::info!(total = sku_row.total_count, ?payment, "recharged");
        Ok(order_id)
    }

    /// Partake (spec §5.5, ch.18).
    #[tracing::instrument(name = "activity.partake", skip_all, fields(user_id = %user_id, activity_id, order_id = tracing::field::Empty))]
    pub async fn partake(
        &self,
        user_id: &UserId,
        activity_id: i64,
        request_id: Option<&BusinessNo>,
    ) -> Result<PartakeOutcome, ActivityError> {
        let activity = self.activity(activity_id).await?;
        let now = self.clock.now();
        activity.check_open(now)?;
        let new_order_id = uuid::Uuid::new_v4().simple().to_string();
        let outcome = self
            .store
            .partake(
                user_id.as_str(),
                &activity,
                request_id.map(BusinessNo::as_str),
                &new_order_id,
                now,
                &self.period(now),
            )
            .await
            .inspect_err(|error| {
                if let ActivityError::Quota(quota) = error {
                    metrics::counter!("bm_quota_rejections_total", "quota" => quota.period()).increment(1);
                }
            })?;
        metrics::counter!("bm_partakes_total", "reused" => outcome.reused.to_string()).increment(1);
        tracing::Span::current().record("order_id", outcome.order.order_id.as_str());
        tracing::info!(
            reused = outcome.reused,
            total = outcome.total_partake_count,
            day = outcome.day_partake_count,
            "partake"
        );
        Ok(outcome)
    }

    /// `create → used`; true if it changed.
    #[tracing::instrument(name = "activity.complete_order", skip_all, fields(user_id = %user_id, order_id = %order_id))]
    pub async fn complete_order(&self, user_id: &UserId, order_id: &OrderId) -> Result<bool, ActivityError> {
        match self.store.complete_order(user_id.as_str(), order_id.as_str()).await? {
            CompleteOutcome::Changed => Ok(true),
            CompleteOutcome::AlreadyUsed => Ok(false),
            CompleteOutcome::NotFound => Err(ActivityError::OrderNotFound(order_id.to_string())),
        }
    }

    /// The user's quota view on an activity.
    pub async fn query_account(&self, user_id: &UserId, activity_id: i64) -> Result<AccountView, ActivityError> {
        self.activity(activity_id).await?;
        let (account, month, day) =
            self.store.account_view(user_id.as_str(), activity_id, &self.period(self.clock.now())).await?;
        Ok(AccountView::of(account, month, day))
    }

    /// The user's raffle orders (of one activity, or all), newest first, at most `limit`.
    pub async fn user_orders(
        &self,
        user_id: &UserId,
        activity_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<crate::storage::OrderRow>, ActivityError> {
        if let Some(activity_id) = activity_id {
            self.activity(activity_id).await?;
        }
        self.store.user_orders(user_id.as_str(), activity_id, limit).await
    }

    /// The skus of an activity.
    pub async fn list_skus(&self, activity_id: i64) -> Result<Vec<SkuRow>, ActivityError> {
        self.activity(activity_id).await?;
        self.store.list_skus(activity_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_view_follows_spec_5_4() {
        assert_eq!(AccountView::of(None, None, None), AccountView::default());
        let account = Account {
            total_count: 150,
            total_count_surplus: 140,
            day_count: 150,
            day_count_surplus: 145,
            month_count: 150,
            month_count_surplus: 140,
        };
        let fresh_day = AccountView::of(Some(account), Some(SubAccount { count: 150, surplus: 140 }), None);
        assert_eq!(fresh_day.day, (150, 150), "no row today: the allowance, untouched");
        assert_eq!(fresh_day.day_partake_count, 0);
        assert_eq!(fresh_day.total_partake_count, 10);
        let today = AccountView::of(Some(account), None, Some(SubAccount { count: 150, surplus: 147 }));
        assert_eq!((today.day, today.day_partake_count, today.month), ((150, 147), 3, (150, 150)));
    }
}
