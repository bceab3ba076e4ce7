//! gRPC edge of `bigmarket.activity.v1.ActivityService`: validate once, call the use
//! case, convert back.

mod convert;
mod status;

use bm_api::activity::{self as pb, activity_service_server::ActivityService};
use bm_kernel::{BusinessNo, OrderId, UserId, positive_id};
use bm_status::invalid_argument;
use tonic::{Request, Response, Status};

use crate::usecase::ActivityUseCases;

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.activity.v1.ActivityService";

/// The service implementation.
#[derive(Debug, Clone)]
pub struct ActivityHandler {
    use_cases: ActivityUseCases,
}

impl ActivityHandler {
    /// A handler over the use cases.
    pub fn new(use_cases: ActivityUseCases) -> Self {
        Self { use_cases }
    }
}

fn id(field: &str, value: i64) -> Result<i64, Status> {
    positive_id(value).map_err(|e| invalid_argument(field, e))
}

fn user(value: String) -> Result<UserId, Status> {
    UserId::parse(value).map_err(|e| invalid_argument("user_id", e))
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

    async fn list_skus(&self, request: Request<pb::ListSkusRequest>) -> Result<Response<pb::ListSkusResponse>, Status> {
        let activity_id = id("activity_id", request.into_inner().activity_id)?;
        let skus = self.use_cases.list_skus(activity_id).await?;
        Ok(Response::new(pb::ListSkusResponse { skus: skus.iter().map(convert::sku).collect() }))
    }
}
