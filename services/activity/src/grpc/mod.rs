//! gRPC edge of `bigmarket.activity.v1.ActivityService`.

use bm_api::activity::{self as pb, activity_service_server::ActivityService};
use tonic::{Request, Response, Status};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.activity.v1.ActivityService";

/// The service implementation.
#[derive(Debug, Default)]
pub struct ActivityHandler {}

impl ActivityHandler {
    /// A handler.
    pub fn new() -> Self {
        Self {}
    }
}

fn not_yet(method: &str) -> Status {
    Status::unimplemented(format!("ActivityService/{method} is delivered by issue #5"))
}

#[tonic::async_trait]
impl ActivityService for ActivityHandler {
    async fn armory_activity(
        &self,
        _request: Request<pb::ArmoryActivityRequest>,
    ) -> Result<Response<pb::ArmoryActivityResponse>, Status> {
        Err(not_yet("ArmoryActivity"))
    }
    async fn get_activity(
        &self,
        _request: Request<pb::GetActivityRequest>,
    ) -> Result<Response<pb::GetActivityResponse>, Status> {
        Err(not_yet("GetActivity"))
    }
    async fn recharge_sku(
        &self,
        _request: Request<pb::RechargeSkuRequest>,
    ) -> Result<Response<pb::RechargeSkuResponse>, Status> {
        Err(not_yet("RechargeSku"))
    }
    async fn partake(&self, _request: Request<pb::PartakeRequest>) -> Result<Response<pb::PartakeResponse>, Status> {
        Err(not_yet("Partake"))
    }
    async fn complete_order(
        &self,
        _request: Request<pb::CompleteOrderRequest>,
    ) -> Result<Response<pb::CompleteOrderResponse>, Status> {
        Err(not_yet("CompleteOrder"))
    }
    async fn query_account(
        &self,
        _request: Request<pb::QueryAccountRequest>,
    ) -> Result<Response<pb::QueryAccountResponse>, Status> {
        Err(not_yet("QueryAccount"))
    }
    async fn list_skus(
        &self,
        _request: Request<pb::ListSkusRequest>,
    ) -> Result<Response<pb::ListSkusResponse>, Status> {
        Err(not_yet("ListSkus"))
    }
}
