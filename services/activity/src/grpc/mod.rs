//! gRPC edge of `bigmarket.activity.v1.ActivityService`: validate once, call the use
//! case, convert back.

mod convert;
mod rebate;
mod status;

use bm_api::activity::{self as pb, activity_service_server::ActivityService};
use bm_kernel::{BusinessNo, OrderId, StageCode, UserId, positive_id};
use bm_status::invalid_argument;
use tonic::{Request, Response, Status};

use crate::{
    domain::{StageKey, StageState},
    usecase::{ActivityUseCases, MAX_STAGE_LIST, RebateUseCases},
};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.activity.v1.ActivityService";

/// The service implementation.
#[derive(Debug, Clone)]
pub struct ActivityHandler {
    use_cases: ActivityUseCases,
    rebates: RebateUseCases,
}

impl ActivityHandler {
    /// A handler over the use cases.
    pub fn new(use_cases: ActivityUseCases, rebates: RebateUseCases) -> Self {
        Self { use_cases, rebates }
    }
}

fn id(field: &str, value: i64) -> Result<i64, Status> {
    positive_id(value).map_err(|e| invalid_argument(field, e))
}

fn user(value: String) -> Result<UserId, Status> {
    UserId::parse(value).map_err(|e| invalid_argument("user_id", e))
}

fn stage_key(channel: String, source: String) -> Result<StageKey, Status> {
    Ok(StageKey {
        channel: StageCode::parse(channel).map_err(|e| invalid_argument("channel", e))?,
        source: StageCode::parse(source).map_err(|e| invalid_argument("source", e))?,
    })
}

/// The state filter of ListActivityStages: empty = every state.
fn stage_state(value: &str) -> Result<Option<StageState>, Status> {
    if value.is_empty() {
        return Ok(None);
    }
    StageState::parse(value)
        .map(Some)
        .ok_or_else(|| invalid_argument("state", format!("{value:?} is not one of create, active, expire (or empty)")))
}

#[tonic::async_trait]
impl ActivityService for ActivityHandler {
    async fn armory_activity(
        &self,
        request: Request<pb::ArmoryActivityRequest>,
    ) -> Result<Response<pb::ArmoryActivityResponse>, Status> {
        let activity_id = id("activity_id", request.into_inner().activity_id)?;
        let strategy_id = self.use_cases.armory(activity_id).await?;
        Ok(Response::new(pb::ArmoryActivityResponse { ok: true, strategy_id }))
    }

    async fn get_activity(
        &self,
        request: Request<pb::GetActivityRequest>,
    ) -> Result<Response<pb::GetActivityResponse>, Status> {
        let activity_id = id("activity_id", request.into_inner().activity_id)?;
        let activity = self.use_cases.activity(activity_id).await?;
        Ok(Response::new(pb::GetActivityResponse { activity: Some(convert::activity(&activity)) }))
    }

    async fn recharge_sku(
        &self,
        request: Request<pb::RechargeSkuRequest>,
    ) -> Result<Response<pb::RechargeSkuResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let sku = id("sku", request.sku)?;
        let out_business_no =
            BusinessNo::parse(request.out_business_no).map_err(|e| invalid_argument("out_business_no", e))?;
        let order_id = self.use_cases.recharge(&user_id, sku, &out_business_no).await?;
        Ok(Response::new(pb::RechargeSkuResponse { order_id }))
    }

    async fn partake(&self, request: Request<pb::PartakeRequest>) -> Result<Response<pb::PartakeResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let activity_id = id("activity_id", request.activity_id)?;
        let request_id = if request.request_id.is_empty() {
            None
        } else {
            Some(BusinessNo::parse(request.request_id).map_err(|e| invalid_argument("request_id", e))?)
        };
        let outcome = self.use_cases.partake(&user_id, activity_id, request_id.as_ref()).await?;
        Ok(Response::new(convert::partake(outcome)))
    }

    async fn complete_order(
        &self,
        request: Request<pb::CompleteOrderRequest>,
    ) -> Result<Response<pb::CompleteOrderResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let order_id = OrderId::parse(request.order_id).map_err(|e| invalid_argument("order_id", e))?;
        let changed = self.use_cases.complete_order(&user_id, &order_id).await?;
        Ok(Response::new(pb::CompleteOrderResponse { changed }))
    }

    async fn query_account(
        &self,
        request: Request<pb::QueryAccountRequest>,
    ) -> Result<Response<pb::QueryAccountResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let activity_id = id("activity_id", request.activity_id)?;
        let view = self.use_cases.query_account(&user_id, activity_id).await?;
        Ok(Response::new(convert::account(view)))
    }

    async fn list_user_orders(
        &self,
        request: Request<pb::ListUserOrdersRequest>,
    ) -> Result<Response<pb::ListUserOrdersResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let activity_id = if request.activity_id == 0 { None } else { Some(id("activity_id", request.activity_id)?) };
        let limit = i64::from(bm_status::page_limit(request.limit, 100, 1000)?);
        let orders = self.use_cases.user_orders(&user_id, activity_id, limit).await?;
        Ok(Response::new(pb::ListUserOrdersResponse { orders: orders.into_iter().map(convert::order).collect() }))
    }

    async fn list_skus(&self, request: Request<pb::ListSkusRequest>) -> Result<Response<pb::ListSkusResponse>, Status> {
        let activity_id = id("activity_id", request.into_inner().activity_id)?;
        let skus = self.use_cases.list_skus(activity_id).await?;
        Ok(Response::new(pb::ListSkusResponse { skus: skus.iter().map(convert::sku).collect() }))
    }

    async fn put_activity_on_stage(
        &self,
        request: Request<pb::PutActivityOnStageRequest>,
    ) -> Result<Response<pb::PutActivityOnStageResponse>, Status> {
        let request = request.into_inner();
        let key = stage_key(request.channel, request.source)?;
        let activity_id = id("activity_id", request.activity_id)?;
        let (put, strategy_id) = self.use_cases.put_on_stage(&key, activity_id).await?;
        Ok(Response::new(pb::PutActivityOnStageResponse {
            replaced_activity_id: put.replaced.map_or(0, |r| r.activity_id),
            changed: put.changed,
            stage: Some(convert::stage(put.stage)),
            strategy_id,
        }))
    }

    async fn list_activity_stages(
        &self,
        request: Request<pb::ListActivityStagesRequest>,
    ) -> Result<Response<pb::ListActivityStagesResponse>, Status> {
        let request = request.into_inner();
        let state = stage_state(&request.state)?;
        let limit = bm_status::page_limit(request.limit, 100, MAX_STAGE_LIST)?;
        let stages = self.use_cases.list_stages(state, limit).await?;
        Ok(Response::new(pb::ListActivityStagesResponse { stages: stages.into_iter().map(convert::stage).collect() }))
    }

    async fn get_stage_activity(
        &self,
        request: Request<pb::GetStageActivityRequest>,
    ) -> Result<Response<pb::GetStageActivityResponse>, Status> {
        let request = request.into_inner();
        let key = stage_key(request.channel, request.source)?;
        let activity_id = self.use_cases.stage_activity(&key).await?;
        Ok(Response::new(pb::GetStageActivityResponse { activity_id }))
    }

    async fn create_rebate(
        &self,
        request: Request<pb::CreateRebateRequest>,
    ) -> Result<Response<pb::CreateRebateResponse>, Status> {
        let (user_id, behavior, out_business_no) = rebate::create_request(request.into_inner())?;
        let orders = self.rebates.create_rebate(&user_id, behavior, &out_business_no).await?;
        Ok(Response::new(pb::CreateRebateResponse { orders: orders.into_iter().map(rebate::order).collect() }))
    }

    async fn sign_in(&self, request: Request<pb::SignInRequest>) -> Result<Response<pb::SignInResponse>, Status> {
        let user_id = rebate::sign_in_user(request.into_inner().user_id)?;
        let signed = self.rebates.sign_in(&user_id).await?;
        Ok(Response::new(pb::SignInResponse {
            sign_date: signed.sign_date,
            orders: signed.orders.into_iter().map(rebate::order).collect(),
        }))
    }

    async fn is_signed_today(
        &self,
        request: Request<pb::IsSignedTodayRequest>,
    ) -> Result<Response<pb::IsSignedTodayResponse>, Status> {
        let user_id = rebate::sign_in_user(request.into_inner().user_id)?;
        let (signed, sign_date) = self.rebates.is_signed_today(&user_id).await?;
        Ok(Response::new(pb::IsSignedTodayResponse { signed, sign_date }))
    }

    async fn create_credit_pay_order(
        &self,
        request: Request<pb::CreateCreditPayOrderRequest>,
    ) -> Result<Response<pb::CreateCreditPayOrderResponse>, Status> {
        let request = request.into_inner();
        let user_id = user(request.user_id)?;
        let sku = id("sku", request.sku)?;
        let available_credit = if request.available_credit.is_empty() {
            None
        } else {
            Some(
                request
                    .available_credit
                    .parse::<rust_decimal::Decimal>()
                    .ok()
                    .filter(|amount| !amount.is_sign_negative())
                    .ok_or_else(|| invalid_argument("available_credit", "must be empty or a decimal ≥ 0"))?,
            )
        };
        let outcome = self.use_cases.create_credit_pay_order(&user_id, sku, available_credit).await?;
        Ok(Response::new(pb::CreateCreditPayOrderResponse {
            order_id: outcome.order.order_id,
            out_business_no: outcome.order.out_business_no,
            pay_amount: outcome.order.pay_amount.to_string(),
            reused: outcome.reused,
        }))
    }
}
