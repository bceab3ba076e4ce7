//! gRPC edge of `bigmarket.strategy.v1.StrategyService`.

use bm_api::strategy::{self as pb, strategy_service_server::StrategyService};
use tonic::{Request, Response, Status};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.strategy.v1.StrategyService";

/// The service implementation.
#[derive(Debug, Default)]
pub struct StrategyHandler {}

impl StrategyHandler {
    /// A handler.
    pub fn new() -> Self {
        Self {}
    }
}

fn not_yet(method: &str) -> Status {
    Status::unimplemented(format!("StrategyService/{method} is delivered by issue #4"))
}

#[tonic::async_trait]
impl StrategyService for StrategyHandler {
    async fn armory_strategy(
        &self,
        _request: Request<pb::ArmoryStrategyRequest>,
    ) -> Result<Response<pb::ArmoryStrategyResponse>, Status> {
        Err(not_yet("ArmoryStrategy"))
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
}
