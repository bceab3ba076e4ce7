//! gRPC edge of `bigmarket.award.v1.AwardService`.

use bm_api::award::{self as pb, award_service_server::AwardService};
use tonic::{Request, Response, Status};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.award.v1.AwardService";

/// The service implementation.
#[derive(Debug, Default)]
pub struct AwardHandler {}

impl AwardHandler {
    /// A handler.
    pub fn new() -> Self {
        Self {}
    }
}

fn not_yet(method: &str) -> Status {
    Status::unimplemented(format!("AwardService/{method} is delivered by issue #6"))
}

#[tonic::async_trait]
impl AwardService for AwardHandler {
    async fn record_award(
        &self,
        _request: Request<pb::RecordAwardRequest>,
    ) -> Result<Response<pb::RecordAwardResponse>, Status> {
        Err(not_yet("RecordAward"))
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
