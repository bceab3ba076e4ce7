//! Behaviour rebates (spec §7.1, issue #14): CreateRebate, the daily sign-in and its query,
//! and the `send_rebate` consumer's `sku` side (a no-pay recharge).
//!
//! A rebate writes one order per open rebate of the behaviour and one outbox task each
//! (`send_rebate`), in one transaction; a repeat (a biz_id taken) writes nothing. After
//! commit each task is published at once (best effort); the outbox relay guarantees it.

use std::sync::Arc;

use bm_kernel::{BusinessNo, Clock, UserId};
use bm_server::{
    events::{Envelope, HandleError},
    outbox::Outbox,
};
use chrono_tz::Tz;
use futures_util::future::join_all;

use super::{ActivityError, ActivityUseCases};
use crate::{
    domain::rebate::{BehaviorType, RebateType, biz_id, rebate_sku, sign_date},
    send_rebate::SendRebate,
    storage::{RebateOrder, RebateWrite},
};

/// Why a rebate operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RebateError {
    /// The behaviour has no open rebate (`NOT_FOUND`).
    #[error("behaviour {0} has no open rebate")]
    NoOpenRebate(String),
    /// The behaviour was rebated before for this business number (`0003`).
    #[error("the rebates of {behavior_type} {out_business_no} were created before")]
    Duplicate {
        /// The behaviour.
        behavior_type: String,
        /// Its business number.
        out_business_no: String,
    },
    /// The activity store failed.
    #[error(transparent)]
    Activity(#[from] ActivityError),
    /// A value this service built is unusable (a bug).
    #[error("{0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for RebateError {
    fn from(error: sqlx::Error) -> Self {
        Self::Activity(ActivityError::Database(error))
    }
}

/// What the daily sign-in did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// Today, `yyyyMMdd` in the service's time zone.
    pub sign_date: String,
    /// The rebate orders written.
    pub orders: Vec<RebateOrder>,
}

/// The rebate use cases: the activity use cases (for the sku rebates' recharge), the
/// outbox, and where `send_rebate` is published.
#[derive(Debug, Clone)]
pub struct RebateUseCases {
    activity: ActivityUseCases,
    outbox: Outbox,
    subject: String,
    clock: Arc<dyn Clock>,
    zone: Tz,
}

impl RebateUseCases {
    /// Rebates over `activity`'s store, announced on `send_rebate_subject` through `outbox`;
    /// the sign-in day is today in `zone` by `clock`.
    pub fn new(
        activity: ActivityUseCases,
        outbox: Outbox,
        send_rebate_subject: String,
        clock: Arc<dyn Clock>,
        zone: Tz,
    ) -> Self {
        Self { activity, outbox, subject: send_rebate_subject, clock, zone }
    }

    /// The outbox (for the relay worker).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Today, `yyyyMMdd` in the service's time zone.
    pub fn today(&self) -> String {
        sign_date(self.clock.now(), self.zone)
    }

    /// Creates the rebates of `behavior` for (user, out_business_no): one order and one
    /// `send_rebate` task per open rebate, in one transaction, then publishes the tasks.
    #[tracing::instrument(name = "activity.rebate.create", skip_all,
        fields(user_id = %user_id, behavior_type = behavior.as_str(), out_business_no = %out_business_no))]
    pub async fn create_rebate(
        &self,
        user_id: &UserId,
        behavior: BehaviorType,
        out_business_no: &BusinessNo,
    ) -> Result<Vec<RebateOrder>, RebateError> {
        let configs = self.activity.store.open_rebates(behavior.as_str()).await?;
        if configs.is_empty() {
            return Err(RebateError::NoOpenRebate(behavior.as_str().to_owned()));
        }
        let timestamp = self.clock.now().timestamp_millis();
        let mut orders = Vec::with_capacity(configs.len());
        let mut tasks = Vec::with_capacity(configs.len());
        for config in configs {
            let order = RebateOrder {
                user_id: user_id.to_string(),
                order_id: uuid::Uuid::new_v4().simple().to_string(),
                behavior_type: behavior.as_str().to_owned(),
                biz_id: biz_id(user_id.as_str(), &config.rebate_type, out_business_no.as_str()),
                rebate_desc: config.rebate_desc,
                rebate_type: config.rebate_type,
                rebate_config: config.rebate_config,
                out_business_no: out_business_no.to_string(),
            };
            let envelope =
                Envelope { id: uuid::Uuid::new_v4().simple().to_string(), timestamp, data: SendRebate::from(&order) };
            let payload = serde_json::to_string(&envelope)
                .map_err(|e| RebateError::Corrupt(format!("send_rebate payload: {e}")))?;
            tasks.push(self.outbox.task(envelope.id, order.user_id.clone(), self.subject.clone(), payload));
            orders.push(order);
        }
        if self.activity.store.create_rebate_orders(&orders, &tasks).await? == RebateWrite::Duplicate {
            return Err(RebateError::Duplicate {
                behavior_type: behavior.as_str().to_owned(),
                out_business_no: out_business_no.to_string(),
            });
        }
        // Side by side: a broker outage costs one publish timeout, not one per order.
        let published = join_all(tasks.iter().map(|task| self.outbox.publish_committed(task)))
            .await
            .into_iter()
            .filter(|published| *published)
            .count();
        tracing::info!(orders = orders.len(), published, "rebates created");
        Ok(orders)
    }

    /// The daily sign-in: the `sign` rebates with out_business_no = today.
    #[tracing::instrument(name = "activity.sign_in", skip_all, fields(user_id = %user_id))]
    pub async fn sign_in(&self, user_id: &UserId) -> Result<SignedIn, RebateError> {
        let sign_date = self.today();
        let day = BusinessNo::parse(sign_date.clone())
            .map_err(|e| RebateError::Corrupt(format!("the sign date {sign_date:?} is not a business number: {e}")))?;
        let orders = self.create_rebate(user_id, BehaviorType::Sign, &day).await?;
        Ok(SignedIn { sign_date, orders })
    }

    /// Whether the user signed in today, and today.
    #[tracing::instrument(name = "activity.is_signed_today", skip_all, fields(user_id = %user_id))]
    pub async fn is_signed_today(&self, user_id: &UserId) -> Result<(bool, String), RebateError> {
        let today = self.today();
        let signed = self.activity.store.has_rebate(user_id.as_str(), BehaviorType::Sign.as_str(), &today).await?;
        Ok((signed, today))
    }

    /// Handles one `send_rebate`: a `sku` rebate becomes a no-pay recharge of the sku with
    /// out_business_no = biz_id (a repeat is done already); an `integral` rebate is the award
    /// service's. What can never succeed is parked; what may is retried.
    #[tracing::instrument(name = "activity.rebate.send_rebate", skip_all,
        fields(user_id = %event.data.user_id, order_id = %event.data.order_id, biz_id = %event.data.biz_id))]
    pub async fn on_send_rebate(&self, event: Envelope<SendRebate>) -> Result<(), HandleError> {
        let rebate = event.data;
        match RebateType::parse(&rebate.rebate_type) {
            Some(RebateType::Integral) => return Ok(()),
            Some(RebateType::Sku) => {}
            None => return Err(HandleError::Park(format!("unknown rebate_type {:?}", rebate.rebate_type))),
        }
        let sku = rebate_sku(&rebate.rebate_config)
            .ok_or_else(|| HandleError::Park(format!("rebate_config {:?} is not a sku", rebate.rebate_config)))?;
        let user_id =
            UserId::parse(rebate.user_id).map_err(|e| HandleError::Park(format!("user_id is not valid: {e}")))?;
        let business_no =
            BusinessNo::parse(rebate.biz_id).map_err(|e| HandleError::Park(format!("biz_id is not valid: {e}")))?;
        match self.activity.recharge(&user_id, sku, &business_no).await {
            Ok(order_id) => {
                tracing::info!(sku, recharge_order_id = %order_id, "sku rebate recharged");
                Ok(())
            }
            Err(ActivityError::DuplicateRecharge(_)) => {
                tracing::info!(sku, "sku rebate recharged before");
                Ok(())
            }
            Err(error) => Err(send_rebate_failure(error)),
        }
    }
}

/// How a failed sku rebate recharge is handled: a failing dependency is retried; a
/// business refusal that will never succeed (unknown sku or activity, activity closed or
/// ended ERR_BIZ_003/004, sku sold out ERR_BIZ_005) is parked, visible and re-drivable, with
/// its big-market code in the reason.
fn send_rebate_failure(error: ActivityError) -> HandleError {
    if matches!(error, ActivityError::Database(_) | ActivityError::Redis(_)) {
        return HandleError::Retry(bm_status::ErrorChain(&error).to_string());
    }
    let status = tonic::Status::from(error);
    let code = bm_status::code_of(&status).map_or("", bm_status::ErrorCode::as_str);
    HandleError::Park(format!("{code}: {}", status.message()))
}
