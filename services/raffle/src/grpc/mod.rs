//! gRPC edge of `bigmarket.raffle.v1.RaffleService`.

use bm_api::raffle::{self as pb, raffle_service_server::RaffleService};
use tonic::{Request, Response, Status};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.raffle.v1.RaffleService";

/// The service implementation.
#[derive(Debug, Default)]
pub struct RaffleHandler {}

impl RaffleHandler {
    /// A handler.
    pub fn new() -> Self {
        Self {}
    }
}

fn not_yet(method: &str) -> Status {
    Status::unimplemented(format!("RaffleService/{method} is delivered by issue #7"))
}

#[tonic::async_trait]
impl RaffleService for RaffleHandler {
    async fn armory_activity(
        &self,
        _request: Request<pb::ArmoryActivityRequest>,
    ) -> Result<Response<pb::ArmoryActivityResponse>, Status> {
        Err(not_yet("ArmoryActivity"))
    }
    async fn draw(&self, _request: Request<pb::DrawRequest>) -> Result<Response<pb::DrawResponse>, Status> {
        Err(not_yet("Draw"))
    }
    async fn query_award_list(
        &self,
        _request: Request<pb::QueryAwardListRequest>,
    ) -> Result<Response<pb::QueryAwardListResponse>, Status> {
        Err(not_yet("QueryAwardList"))
    }
    async fn query_rule_weight(
        &self,
        _request: Request<pb::QueryRuleWeightRequest>,
    ) -> Result<Response<pb::QueryRuleWeightResponse>, Status> {
        Err(not_yet("QueryRuleWeight"))
    }
    async fn query_user_activity_account(
        &self,
        _request: Request<pb::QueryUserActivityAccountRequest>,
    ) -> Result<Response<pb::QueryUserActivityAccountResponse>, Status> {
        Err(not_yet("QueryUserActivityAccount"))
    }
    async fn recharge_sku(
        &self,
        _request: Request<pb::RechargeSkuRequest>,
    ) -> Result<Response<pb::RechargeSkuResponse>, Status> {
        Err(not_yet("RechargeSku"))
    }
    async fn list_user_awards(
        &self,
        _request: Request<pb::ListUserAwardsRequest>,
    ) -> Result<Response<pb::ListUserAwardsResponse>, Status> {
        Err(not_yet("ListUserAwards"))
    }
    async fn query_user_credit(
        &self,
        _request: Request<pb::QueryUserCreditRequest>,
    ) -> Result<Response<pb::QueryUserCreditResponse>, Status> {
        Err(not_yet("QueryUserCredit"))
    }
}
