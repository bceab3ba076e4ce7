//! gRPC edge of `bigmarket.raffle.v1.RaffleService`: validation, protection, and the
//! composition of the three services (ARCHITECTURE.md §4).

use std::sync::Arc;

use bm_api::{
    activity as activity_pb, award as award_pb,
    raffle::{self as pb, raffle_service_server::RaffleService},
    strategy as strategy_pb,
};
use bm_kernel::{BusinessNo, Clock, OrderId, SystemClock, UserId, positive_id};
use bm_status::{ErrorCode, invalid_argument, to_status};
use tonic::{Request, Response, Status};

use crate::{
    downstream::{ACTIVITY, AWARD, Downstream, STRATEGY, call, idempotent, once},
    protection::{Protection, Refusal},
    rebate_apps::RebateApps,
    stage,
};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.raffle.v1.RaffleService";

/// The service implementation.
#[derive(Debug, Clone)]
pub struct RaffleHandler {
    downstream: Downstream,
    protection: Protection,
    clock: Arc<dyn Clock>,
    rebate_apps: Arc<RebateApps>,
}

impl RaffleHandler {
    /// A handler over the downstream clients.
    pub fn new(downstream: Downstream, protection: Protection) -> Self {
        Self { downstream, protection, clock: Arc::new(SystemClock), rebate_apps: Arc::default() }
    }

    /// The same handler letting `apps` call Rebate (none by default: every Rebate is `0008`).
    #[must_use]
    pub fn with_rebate_apps(self, apps: Arc<RebateApps>) -> Self {
        Self { rebate_apps: apps, ..self }
    }

    /// The same handler reading time from `clock` (whether an activity has ended).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// The activity, or NOT_FOUND.
    async fn activity(&self, activity_id: i64) -> Result<activity_pb::Activity, Status> {
        idempotent(ACTIVITY, || {
            call!(self.downstream.activity, get_activity, activity_pb::GetActivityRequest { activity_id })
        })
        .await?
        .activity
        .ok_or_else(|| to_status(ErrorCode::NotFound, format!("activity {activity_id} does not exist")))
    }

    /// The user's credit account (award's QueryUserCredit).
    async fn credit(&self, user_id: &UserId) -> Result<award_pb::QueryUserCreditResponse, Status> {
        idempotent(AWARD, || {
            call!(
                self.downstream.award,
                query_user_credit,
                award_pb::QueryUserCreditRequest { user_id: user_id.to_string() }
            )
        })
        .await
    }

    /// The activity's skus as the orchestrator lists them (ListSkus and ListSkuProducts).
    async fn sku_items(&self, activity_id: i64) -> Result<Vec<pb::SkuItem>, Status> {
        let skus = idempotent(ACTIVITY, || {
            call!(self.downstream.activity, list_skus, activity_pb::ListSkusRequest { activity_id })
        })
        .await?
        .skus;
        Ok(skus
            .into_iter()
            .map(|sku| {
                let count = sku.activity_count.unwrap_or_default();
                pb::SkuItem {
                    sku: sku.sku,
                    total_count: count.total_count,
                    month_count: count.month_count,
                    day_count: count.day_count,
                    product_amount: sku.product_amount,
                    stock_count: sku.stock_count,
                    stock_left: sku.stock_count_surplus,
                }
            })
            .collect())
    }

    /// The activity's strategy and the user's partake counts (lifetime, today).
    async fn strategy_and_counts(&self, user_id: &UserId, activity_id: i64) -> Result<(i64, i64, i64), Status> {
        let activity = self.activity(activity_id).await?;
        let account = idempotent(ACTIVITY, || {
            call!(
                self.downstream.activity,
                query_account,
                activity_pb::QueryAccountRequest { user_id: user_id.to_string(), activity_id }
            )
        })
        .await?;
        Ok((activity.strategy_id, account.total_partake_count, account.day_partake_count))
    }
}

/// Armories `activity_id` (its skus and counts) and then its strategy (rate tables, rules,
/// trees, award stock) from the databases; returns the strategy id.
pub(crate) async fn armory_activity(downstream: &Downstream, activity_id: i64) -> Result<i64, Status> {
    let armoried = idempotent(ACTIVITY, || {
        call!(downstream.activity, armory_activity, activity_pb::ArmoryActivityRequest { activity_id })
    })
    .await?;
    let strategy_id = armoried.strategy_id;
    idempotent(STRATEGY, || {
        call!(downstream.strategy, armory_strategy, strategy_pb::ArmoryStrategyRequest { strategy_id })
    })
    .await?;
    tracing::info!(activity_id, strategy_id, "activity armoried");
    Ok(strategy_id)
}

/// `value` when it is a valid user id, else INVALID_ARGUMENT.
pub(crate) fn user(value: String) -> Result<UserId, Status> {
    UserId::parse(value).map_err(|e| invalid_argument("user_id", e))
}

/// `value` when it is a valid activity id, else INVALID_ARGUMENT.
pub(crate) fn activity_id(value: i64) -> Result<i64, Status> {
    positive_id(value).map_err(|e| invalid_argument("activity_id", e))
}

#[tonic::async_trait]
impl RaffleService for RaffleHandler {
    async fn armory_activity(
        &self,
        request: Request<pb::ArmoryActivityRequest>,
    ) -> Result<Response<pb::ArmoryActivityResponse>, Status> {
        armory_activity(&self.downstream, activity_id(request.into_inner().activity_id)?).await?;
        Ok(Response::new(pb::ArmoryActivityResponse { ok: true }))
    }

    /// The draw flow: Partake → Draw → RecordAward → CompleteOrder, every step idempotent
    /// per raffle order, so a retry after a failure at any step converges to one award.
    #[tracing::instrument(name = "raffle.draw", skip_all, fields(user_id, activity_id, order_id = tracing::field::Empty))]
    async fn draw(&self, request: Request<pb::DrawRequest>) -> Result<Response<pb::DrawResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let activity_id = activity_id(request.activity_id)?;
        let request_id = if request.request_id.is_empty() {
            String::new()
        } else {
            BusinessNo::parse(request.request_id).map_err(|e| invalid_argument("request_id", e))?.into_inner()
        };
        let span = tracing::Span::current();
        span.record("user_id", user_id.as_str());
        span.record("activity_id", activity_id);
        match self.protection.admit(user_id.as_str()).await {
            Ok(()) => {}
            Err(Refusal::Degraded) => {
                return Err(to_status(ErrorCode::DegradeSwitch, "draws are switched off (degraded)"));
            }
            Err(Refusal::RateLimited) => {
                return Err(to_status(ErrorCode::RateLimiter, "too many draws for this user, slow down"));
            }
            Err(Refusal::Blocked) => {
                return Err(to_status(
                    ErrorCode::RateLimiter,
                    "this user is blocked for a while after drawing too fast too often",
                ));
            }
        }
        // 1. Partake: deducts quota or returns the unused order (safe to retry: a repeat
        //    finds the order it created).
        let order = idempotent(ACTIVITY, || {
            call!(
                self.downstream.activity,
                partake,
                activity_pb::PartakeRequest {
                    user_id: user_id.to_string(),
                    activity_id,
                    request_id: request_id.clone(),
                }
            )
        })
        .await?;
        span.record("order_id", order.order_id.as_str());
        // 2. Draw, exactly once per order.
        // A fresh order's first call cannot find a recorded result: tell strategy to skip the
        // lookup (a retry, or a reused order, might).
        let mut first_attempt = !order.reused;
        let drawn = idempotent(STRATEGY, || {
            call!(
                self.downstream.strategy,
                draw,
                strategy_pb::DrawRequest {
                    user_id: user_id.to_string(),
                    strategy_id: order.strategy_id,
                    order_id: order.order_id.clone(),
                    user_total_partake_count: order.total_partake_count,
                    user_day_partake_count: order.day_partake_count,
                    first_attempt: std::mem::take(&mut first_attempt),
                }
            )
        })
        .await?;
        // 3. Record the award (and its send_award outbox row), once per order.
        idempotent(AWARD, || {
            call!(
                self.downstream.award,
                record_award,
                award_pb::RecordAwardRequest {
                    user_id: user_id.to_string(),
                    activity_id,
                    strategy_id: order.strategy_id,
                    order_id: order.order_id.clone(),
                    award_id: drawn.award_id,
                    award_key: drawn.award_key.clone(),
                    award_title: drawn.award_title.clone(),
                    award_config: drawn.award_config.clone(),
                }
            )
        })
        .await?;
        // 4. The order is used: the next draw gets a new one.
        idempotent(ACTIVITY, || {
            call!(
                self.downstream.activity,
                complete_order,
                activity_pb::CompleteOrderRequest { user_id: user_id.to_string(), order_id: order.order_id.clone() }
            )
        })
        .await?;
        tracing::info!(award_id = drawn.award_id, rule_model = %drawn.rule_model, reused = order.reused, "drawn");
        Ok(Response::new(pb::DrawResponse {
            award_id: drawn.award_id,
            award_title: drawn.award_title,
            award_index: drawn.sort,
            order_id: order.order_id,
        }))
    }

    async fn query_award_list(
        &self,
        request: Request<pb::QueryAwardListRequest>,
    ) -> Result<Response<pb::QueryAwardListResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let activity_id = activity_id(request.activity_id)?;
        let (strategy_id, _, day) = self.strategy_and_counts(&user_id, activity_id).await?;
        let awards = idempotent(STRATEGY, || {
            call!(
                self.downstream.strategy,
                query_award_list,
                strategy_pb::QueryAwardListRequest { strategy_id, user_day_partake_count: day }
            )
        })
        .await?
        .awards;
        Ok(Response::new(pb::QueryAwardListResponse {
            awards: awards
                .into_iter()
                .map(|a| pb::AwardItem {
                    award_id: a.award_id,
                    award_title: a.award_title,
                    award_subtitle: a.award_subtitle,
                    sort: a.sort,
                    award_rule_lock_count: a.award_rule_lock_count,
                    is_award_unlock: a.is_award_unlock,
                    wait_unlock_count: a.wait_unlock_count,
                })
                .collect(),
        }))
    }

    async fn query_rule_weight(
        &self,
        request: Request<pb::QueryRuleWeightRequest>,
    ) -> Result<Response<pb::QueryRuleWeightResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let activity_id = activity_id(request.activity_id)?;
        let (strategy_id, total, _) = self.strategy_and_counts(&user_id, activity_id).await?;
        let weights = idempotent(STRATEGY, || {
            call!(
                self.downstream.strategy,
                query_rule_weight,
                strategy_pb::QueryRuleWeightRequest { strategy_id, user_total_partake_count: total }
            )
        })
        .await?
        .weights;
        Ok(Response::new(pb::QueryRuleWeightResponse {
            weights: weights
                .into_iter()
                .map(|w| pb::RuleWeight {
                    rule_weight_count: w.rule_weight_count,
                    user_activity_account_total_use_count: w.user_activity_account_total_use_count,
                    awards: w
                        .awards
                        .into_iter()
                        .map(|a| pb::RuleWeightAward { award_id: a.award_id, award_title: a.award_title })
                        .collect(),
                })
                .collect(),
        }))
    }

    async fn query_user_activity_account(
        &self,
        request: Request<pb::QueryUserActivityAccountRequest>,
    ) -> Result<Response<pb::QueryUserActivityAccountResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let activity_id = activity_id(request.activity_id)?;
        let account = idempotent(ACTIVITY, || {
            call!(
                self.downstream.activity,
                query_account,
                activity_pb::QueryAccountRequest { user_id: user_id.to_string(), activity_id }
            )
        })
        .await?;
        Ok(Response::new(pb::QueryUserActivityAccountResponse {
            total_count: account.total_count,
            total_count_surplus: account.total_count_surplus,
            month_count: account.month_count,
            month_count_surplus: account.month_count_surplus,
            day_count: account.day_count,
            day_count_surplus: account.day_count_surplus,
        }))
    }

    /// Not retried: a retry after a lost answer would say ALREADY_EXISTS; the caller
    /// repeats with the same out_business_no and reads that as done.
    async fn recharge_sku(
        &self,
        request: Request<pb::RechargeSkuRequest>,
    ) -> Result<Response<pb::RechargeSkuResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let sku = positive_id(request.sku).map_err(|e| invalid_argument("sku", e))?;
        let out_business_no =
            BusinessNo::parse(request.out_business_no).map_err(|e| invalid_argument("out_business_no", e))?;
        let recharged = once(
            ACTIVITY,
            call!(
                self.downstream.activity,
                recharge_sku,
                activity_pb::RechargeSkuRequest {
                    user_id: user_id.to_string(),
                    sku,
                    out_business_no: out_business_no.to_string(),
                }
            ),
        )
        .await?;
        Ok(Response::new(pb::RechargeSkuResponse { order_id: recharged.order_id }))
    }

    async fn list_user_awards(
        &self,
        request: Request<pb::ListUserAwardsRequest>,
    ) -> Result<Response<pb::ListUserAwardsResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let activity_id = activity_id(request.activity_id)?;
        let records = idempotent(AWARD, || {
            call!(
                self.downstream.award,
                list_user_awards,
                award_pb::ListUserAwardsRequest { user_id: user_id.to_string(), activity_id }
            )
        })
        .await?
        .records;
        Ok(Response::new(pb::ListUserAwardsResponse {
            records: records
                .into_iter()
                .map(|r| pb::UserAwardRecord {
                    order_id: r.order_id,
                    award_id: r.award_id,
                    award_title: r.award_title,
                    award_state: r.award_state,
                    award_time: r.award_time,
                })
                .collect(),
        }))
    }

    async fn query_user_credit(
        &self,
        request: Request<pb::QueryUserCreditRequest>,
    ) -> Result<Response<pb::QueryUserCreditResponse>, Status> {
        let user_id = user(request.into_inner().user_id)?;
        let credit = self.credit(&user_id).await?;
        Ok(Response::new(pb::QueryUserCreditResponse {
            total_amount: credit.total_amount,
            available_amount: credit.available_amount,
        }))
    }

    async fn get_fairness(
        &self,
        request: Request<pb::GetFairnessRequest>,
    ) -> Result<Response<pb::GetFairnessResponse>, Status> {
        let activity_id = activity_id(request.into_inner().activity_id)?;
        let activity = self.activity(activity_id).await?;
        let strategy_id = activity.strategy_id;
        let ended = activity.end_time.is_some_and(|end| end.seconds <= self.clock.now().timestamp());
        if ended {
            // No draw can happen any more: retire the last epoch so its seed is revealed.
            let rotated = idempotent(STRATEGY, || {
                call!(
                    self.downstream.strategy,
                    rotate_seed,
                    strategy_pb::RotateSeedRequest { strategy_id, close: true }
                )
            })
            .await?;
            if rotated.revealed_epoch > 0 {
                tracing::info!(
                    activity_id,
                    strategy_id,
                    epoch = rotated.revealed_epoch,
                    "activity ended: seed revealed"
                );
            }
        }
        let fairness = idempotent(STRATEGY, || {
            call!(
                self.downstream.strategy,
                get_fairness,
                strategy_pb::GetFairnessRequest { strategy_id, active_only: false }
            )
        })
        .await?;
        Ok(Response::new(pb::GetFairnessResponse {
            activity_id,
            strategy_id,
            epochs: fairness
                .epochs
                .into_iter()
                .map(|e| pb::FairnessEpoch {
                    epoch: e.epoch,
                    commitment: e.commitment,
                    seed: e.seed,
                    state: e.state,
                    sheet: e.sheet,
                    sheet_sha256: e.sheet_sha256,
                    created_at: e.created_at,
                    retired_at: e.retired_at,
                })
                .collect(),
        }))
    }

    async fn get_draw_receipt(
        &self,
        request: Request<pb::GetDrawReceiptRequest>,
    ) -> Result<Response<pb::GetDrawReceiptResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let activity_id = activity_id(request.activity_id)?;
        let order_id = OrderId::parse(request.order_id).map_err(|e| invalid_argument("order_id", e))?;
        let strategy_id = self.activity(activity_id).await?.strategy_id;
        let r = idempotent(STRATEGY, || {
            call!(
                self.downstream.strategy,
                get_draw_receipt,
                strategy_pb::GetDrawReceiptRequest {
                    strategy_id,
                    order_id: order_id.to_string(),
                    user_id: user_id.to_string()
                }
            )
        })
        .await?;
        Ok(Response::new(pb::GetDrawReceiptResponse {
            strategy_id: r.strategy_id,
            order_id: r.order_id,
            user_id: r.user_id,
            epoch: r.epoch,
            user_total_partake_count: r.user_total_partake_count,
            user_day_partake_count: r.user_day_partake_count,
            chain_model: r.chain_model,
            chain_award_id: r.chain_award_id,
            stock_outcome: r.stock_outcome,
            award_id: r.award_id,
            award_config: r.award_config,
            rule_model: r.rule_model,
        }))
    }

    async fn get_activity(
        &self,
        request: Request<pb::GetActivityRequest>,
    ) -> Result<Response<pb::GetActivityResponse>, Status> {
        let activity_id = activity_id(request.into_inner().activity_id)?;
        let activity = self.activity(activity_id).await?;
        let strategy_id = activity.strategy_id;
        let fairness = idempotent(STRATEGY, || {
            call!(
                self.downstream.strategy,
                get_fairness,
                strategy_pb::GetFairnessRequest { strategy_id, active_only: true }
            )
        })
        .await?;
        let active = fairness.epochs.into_iter().next();
        Ok(Response::new(pb::GetActivityResponse {
            activity_id: activity.activity_id,
            activity_name: activity.activity_name,
            activity_desc: activity.activity_desc,
            begin_time: activity.begin_time,
            end_time: activity.end_time,
            strategy_id,
            state: activity.state,
            epoch: active.as_ref().map_or(0, |e| e.epoch),
            commitment: active.map(|e| e.commitment).unwrap_or_default(),
        }))
    }

    async fn list_skus(&self, request: Request<pb::ListSkusRequest>) -> Result<Response<pb::ListSkusResponse>, Status> {
        let activity_id = activity_id(request.into_inner().activity_id)?;
        Ok(Response::new(pb::ListSkusResponse { skus: self.sku_items(activity_id).await? }))
    }

    async fn get_stage_activity(
        &self,
        request: Request<pb::GetStageActivityRequest>,
    ) -> Result<Response<pb::GetStageActivityResponse>, Status> {
        let request = request.into_inner();
        let activity_id = stage::stage_activity(&self.downstream, request.channel, request.source).await?;
        Ok(Response::new(pb::GetStageActivityResponse { activity_id }))
    }

    /// Not retried: a retry after a lost answer would say ALREADY_EXISTS (already signed).
    #[tracing::instrument(name = "raffle.sign_in", skip_all, fields(user_id))]
    async fn sign_in(&self, request: Request<pb::SignInRequest>) -> Result<Response<pb::SignInResponse>, Status> {
        let user_id = user(request.into_inner().user_id)?;
        tracing::Span::current().record("user_id", user_id.as_str());
        let signed = once(
            ACTIVITY,
            call!(self.downstream.activity, sign_in, activity_pb::SignInRequest { user_id: user_id.to_string() }),
        )
        .await?;
        tracing::info!(sign_date = %signed.sign_date, orders = signed.orders.len(), "signed in");
        Ok(Response::new(pb::SignInResponse {
            sign_date: signed.sign_date,
            orders: signed.orders.into_iter().map(rebate_order).collect(),
        }))
    }

    #[tracing::instrument(name = "raffle.is_signed_today", skip_all, fields(user_id))]
    async fn is_signed_today(
        &self,
        request: Request<pb::IsSignedTodayRequest>,
    ) -> Result<Response<pb::IsSignedTodayResponse>, Status> {
        let user_id = user(request.into_inner().user_id)?;
        tracing::Span::current().record("user_id", user_id.as_str());
        let answer = idempotent(ACTIVITY, || {
            call!(
                self.downstream.activity,
                is_signed_today,
                activity_pb::IsSignedTodayRequest { user_id: user_id.to_string() }
            )
        })
        .await?;
        Ok(Response::new(pb::IsSignedTodayResponse { signed: answer.signed, sign_date: answer.sign_date }))
    }

    /// Credit exchange (spec §7.2): the user's balance (too little → ERR_CREDIT_001 from
    /// activity-quota, no order made), a `wait_pay` order from activity-quota (new, or an
    /// unpaid one no exchange has claimed for 30 s), then the reverse credit trade of its price
    /// under the order's out_business_no; award's `credit_adjust_success` completes the order
    /// and grants the quota. Every call may be retried: the trade is idempotent by
    /// out_business_no (a retry never debits twice) and a retried order request at worst
    /// leaves an unpaid order that a later exchange reuses. A trade refused with
    /// ERR_CREDIT_001 (the credit went to a concurrent exchange) leaves the order `wait_pay`
    /// for the next exchange.
    #[tracing::instrument(name = "raffle.credit_exchange_sku", skip_all, fields(user_id, sku, order_id = tracing::field::Empty))]
    async fn credit_exchange_sku(
        &self,
        request: Request<pb::CreditExchangeSkuRequest>,
    ) -> Result<Response<pb::CreditExchangeSkuResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let sku = positive_id(request.sku).map_err(|e| invalid_argument("sku", e))?;
        let span = tracing::Span::current();
        span.record("user_id", user_id.as_str());
        span.record("sku", sku);
        // The original's pre-check (spec §5.1 step 4): without the credit, no order is made
        // and no sku unit is tied up. The reverse trade below is the real guard.
        let credit = self.credit(&user_id).await?;
        let order = idempotent(ACTIVITY, || {
            call!(
                self.downstream.activity,
                create_credit_pay_order,
                activity_pb::CreateCreditPayOrderRequest {
                    user_id: user_id.to_string(),
                    sku,
                    available_credit: credit.available_amount.clone(),
                }
            )
        })
        .await?;
        span.record("order_id", order.order_id.as_str());
        let traded = idempotent(AWARD, || {
            call!(
                self.downstream.award,
                credit_trade,
                award_pb::CreditTradeRequest {
                    user_id: user_id.to_string(),
                    out_business_no: order.out_business_no.clone(),
                    trade_name: CREDIT_EXCHANGE_TRADE_NAME.to_owned(),
                    trade_type: TRADE_REVERSE.to_owned(),
                    amount: order.pay_amount.clone(),
                }
            )
        })
        .await
        .inspect_err(|status| {
            if bm_status::code_of(status) == Some(ErrorCode::UserCreditAccountNoAvailableAmount) {
                tracing::info!(pay_amount = %order.pay_amount, "not enough credit; the order stays wait_pay");
            }
        })?;
        tracing::info!(pay_amount = %order.pay_amount, reused = order.reused, duplicate = traded.duplicate, "credit exchange paid");
        Ok(Response::new(pb::CreditExchangeSkuResponse {
            order_id: order.order_id,
            pay_amount: order.pay_amount,
            reused: order.reused,
        }))
    }

    async fn list_sku_products(
        &self,
        request: Request<pb::ListSkuProductsRequest>,
    ) -> Result<Response<pb::ListSkuProductsResponse>, Status> {
        let activity_id = activity_id(request.into_inner().activity_id)?;
        Ok(Response::new(pb::ListSkuProductsResponse { products: self.sku_items(activity_id).await? }))
    }

    /// An external system's rebate: every field present, then the app (app_id + app_token of
    /// `rebate.apps_file`, and the behaviour it may rebate) before anything is called; a
    /// repeat is ALREADY_EXISTS `0003`. Not retried, like RechargeSku.
    #[tracing::instrument(name = "raffle.rebate", skip_all, fields(user_id, app_id, behavior_type))]
    async fn rebate(&self, request: Request<pb::RebateRequest>) -> Result<Response<pb::RebateResponse>, Status> {
        let request = rebate_request(request.into_inner())?;
        let span = tracing::Span::current();
        span.record("user_id", request.user_id.as_str());
        span.record("app_id", request.app_id.as_str());
        span.record("behavior_type", request.behavior_type.as_str());
        if let Err(refusal) = self.rebate_apps.authorize(&request.app_id, &request.app_token, &request.behavior_type) {
            tracing::warn!(reason = refusal.reason(), "rebate refused: app authentication");
            metrics::counter!("bm_auth_refused_total", "reason" => refusal.reason()).increment(1);
            return Err(refusal.status());
        }
        let rebated = once(
            ACTIVITY,
            call!(
                self.downstream.activity,
                create_rebate,
                activity_pb::CreateRebateRequest {
                    user_id: request.user_id.to_string(),
                    behavior_type: request.behavior_type.clone(),
                    out_business_no: request.out_business_no.to_string(),
                }
            ),
        )
        .await?;
        tracing::info!(orders = rebated.orders.len(), "rebate created");
        Ok(Response::new(pb::RebateResponse { orders: rebated.orders.into_iter().map(rebate_order).collect() }))
    }
}

/// The trade name of a credit exchange's debit (the original's `兑换抽奖`).
pub const CREDIT_EXCHANGE_TRADE_NAME: &str = "兑换抽奖";
/// The trade type of a debit. Every call states its trade type itself: there is no default
/// to lose (spec §14 bug 14, docs/differences.md).
const TRADE_REVERSE: &str = "reverse";

/// A validated Rebate request.
pub(crate) struct RebateCall {
    pub(crate) app_id: String,
    pub(crate) app_token: String,
    pub(crate) user_id: UserId,
    pub(crate) behavior_type: String,
    pub(crate) out_business_no: BusinessNo,
}

impl std::fmt::Debug for RebateCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RebateCall")
            .field("app_id", &self.app_id)
            .field("app_token", &"<redacted>")
            .field("user_id", &self.user_id)
            .field("behavior_type", &self.behavior_type)
            .field("out_business_no", &self.out_business_no)
            .finish()
    }
}

/// Every field of a Rebate present (`0002` naming the first blank one) and well formed.
pub(crate) fn rebate_request(request: pb::RebateRequest) -> Result<RebateCall, Status> {
    for (field, value) in [
        ("app_id", &request.app_id),
        ("app_token", &request.app_token),
        ("user_id", &request.user_id),
        ("behavior_type", &request.behavior_type),
        ("out_business_no", &request.out_business_no),
    ] {
        if value.trim().is_empty() {
            return Err(invalid_argument(field, "must not be blank"));
        }
    }
    for (field, value) in [("app_id", &request.app_id), ("behavior_type", &request.behavior_type)] {
        bm_kernel::id::text_id(value).map_err(|e| invalid_argument(field, e))?;
    }
    Ok(RebateCall {
        user_id: user(request.user_id)?,
        out_business_no: BusinessNo::parse(request.out_business_no)
            .map_err(|e| invalid_argument("out_business_no", e))?,
        app_id: request.app_id,
        app_token: request.app_token,
        behavior_type: request.behavior_type,
    })
}

fn rebate_order(order: activity_pb::RebateOrder) -> pb::RebateOrder {
    pb::RebateOrder {
        order_id: order.order_id,
        rebate_type: order.rebate_type,
        rebate_config: order.rebate_config,
        rebate_desc: order.rebate_desc,
        biz_id: order.biz_id,
    }
}
