//! gRPC edge of `bigmarket.award.v1.AwardService`: validate once, call the use case,
//! convert back.

mod convert;
mod status;

use bm_api::award::{self as pb, award_service_server::AwardService};
use tonic::{Request, Response, Status};

use crate::usecase::{AwardUseCases, CreditTradeCommand, RecordAwardCommand};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.award.v1.AwardService";

/// The service implementation.
#[derive(Debug, Clone)]
pub struct AwardHandler {
    use_cases: AwardUseCases,
}

impl AwardHandler {
    /// A handler over the use cases.
    pub fn new(use_cases: AwardUseCases) -> Self {
        Self { use_cases }
    }
}

#[tonic::async_trait]
impl AwardService for AwardHandler {
    async fn record_award(
        &self,
        request: Request<pb::RecordAwardRequest>,
    ) -> Result<Response<pb::RecordAwardResponse>, Status> {
        let command = RecordAwardCommand::try_from(request.into_inner())?;
        let recorded = self.use_cases.record_award(command).await?;
        Ok(Response::new(pb::RecordAwardResponse { duplicate: recorded.duplicate }))
    }

    async fn list_user_awards(
        &self,
        request: Request<pb::ListUserAwardsRequest>,
    ) -> Result<Response<pb::ListUserAwardsResponse>, Status> {
        let request = request.into_inner();
        let user_id = convert::user_id(request.user_id)?;
        let activity_id = convert::id("activity_id", request.activity_id)?;
        let records = self.use_cases.list_user_awards(&user_id, activity_id).await?;
        Ok(Response::new(pb::ListUserAwardsResponse { records: records.into_iter().map(Into::into).collect() }))
    }

    async fn query_user_credit(
        &self,
        request: Request<pb::QueryUserCreditRequest>,
    ) -> Result<Response<pb::QueryUserCreditResponse>, Status> {
        let user_id = convert::user_id(request.into_inner().user_id)?;
        let account = self.use_cases.query_user_credit(&user_id).await?;
        Ok(Response::new(account.into()))
    }

    async fn credit_trade(
        &self,
        request: Request<pb::CreditTradeRequest>,
    ) -> Result<Response<pb::CreditTradeResponse>, Status> {
        let command = CreditTradeCommand::try_from(request.into_inner())?;
        let traded = self.use_cases.credit_trade(command).await?;
        Ok(Response::new(traded.into()))
    }
}
