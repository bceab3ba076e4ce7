//! gRPC edge of `bigmarket.strategy.v1.StrategyService`: validate once, call the use
//! case, convert back.

mod convert;
mod status;

use bm_api::strategy::{self as pb, strategy_service_server::StrategyService};
use bm_status::invalid_argument;
use tonic::{Request, Response, Status};

use crate::usecase::{DrawCommand, StrategyUseCases};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.strategy.v1.StrategyService";

/// The service implementation.
#[derive(Debug, Clone)]
pub struct StrategyHandler {
    use_cases: StrategyUseCases,
}

impl StrategyHandler {
    /// A handler over the use cases.
    pub fn new(use_cases: StrategyUseCases) -> Self {
        Self { use_cases }
    }
}

fn strategy_id(value: i64) -> Result<i64, Status> {
    bm_kernel::positive_id(value).map_err(|e| invalid_argument("strategy_id", e))
}

fn count(field: &str, value: i64) -> Result<i64, Status> {
    if value < 0 { Err(invalid_argument(field, format!("must be >= 0, got {value}"))) } else { Ok(value) }
}

#[tonic::async_trait]
impl StrategyService for StrategyHandler {
    async fn armory_strategy(
        &self,
        request: Request<pb::ArmoryStrategyRequest>,
    ) -> Result<Response<pb::ArmoryStrategyResponse>, Status> {
        let strategy_id = strategy_id(request.into_inner().strategy_id)?;
        self.use_cases.armory_strategy(strategy_id).await?;
        Ok(Response::new(pb::ArmoryStrategyResponse { ok: true }))
    }

    async fn draw(&self, request: Request<pb::DrawRequest>) -> Result<Response<pb::DrawResponse>, Status> {
        let command = DrawCommand::try_from(request.into_inner())?;
        let (drawn, strategy) = self.use_cases.draw(command).await?;
        Ok(Response::new(convert::draw_response(&drawn, &strategy)))
    }

    async fn query_award_list(
        &self,
        request: Request<pb::QueryAwardListRequest>,
    ) -> Result<Response<pb::QueryAwardListResponse>, Status> {
        let request = request.into_inner();
        let strategy_id = strategy_id(request.strategy_id)?;
        let day = count("user_day_partake_count", request.user_day_partake_count)?;
        let awards = self.use_cases.query_award_list(strategy_id, day).await?;
        Ok(Response::new(pb::QueryAwardListResponse { awards: awards.into_iter().map(Into::into).collect() }))
    }

    async fn query_rule_weight(
        &self,
        request: Request<pb::QueryRuleWeightRequest>,
    ) -> Result<Response<pb::QueryRuleWeightResponse>, Status> {
        let request = request.into_inner();
        let strategy_id = strategy_id(request.strategy_id)?;
        let total = count("user_total_partake_count", request.user_total_partake_count)?;
        let tiers = self.use_cases.query_rule_weight(strategy_id).await?;
        Ok(Response::new(pb::QueryRuleWeightResponse {
            weights: tiers.into_iter().map(|tier| convert::rule_weight(tier, total)).collect(),
        }))
    }

    async fn get_fairness(
        &self,
        request: Request<pb::GetFairnessRequest>,
    ) -> Result<Response<pb::GetFairnessResponse>, Status> {
        let request = request.into_inner();
        let strategy_id = strategy_id(request.strategy_id)?;
        let epochs = self.use_cases.epochs(strategy_id, request.active_only).await?;
        Ok(Response::new(pb::GetFairnessResponse { strategy_id, epochs: epochs.into_iter().map(Into::into).collect() }))
    }

    async fn rotate_seed(
        &self,
        request: Request<pb::RotateSeedRequest>,
    ) -> Result<Response<pb::RotateSeedResponse>, Status> {
        let request = request.into_inner();
        let strategy_id = strategy_id(request.strategy_id)?;
        let revealed = self.use_cases.rotate_seed(strategy_id, request.close).await?;
        Ok(Response::new(pb::RotateSeedResponse { revealed_epoch: revealed.unwrap_or(0) }))
    }

    async fn get_draw_receipt(
        &self,
        request: Request<pb::GetDrawReceiptRequest>,
    ) -> Result<Response<pb::GetDrawReceiptResponse>, Status> {
        let request = request.into_inner();
        let strategy_id = strategy_id(request.strategy_id)?;
        let order_id = bm_kernel::OrderId::parse(request.order_id).map_err(|e| invalid_argument("order_id", e))?;
        let user_id = if request.user_id.is_empty() {
            None
        } else {
            Some(bm_kernel::UserId::parse(request.user_id).map_err(|e| invalid_argument("user_id", e))?)
        };
        let receipt = self
            .use_cases
            .receipt(strategy_id, order_id.as_str(), user_id.as_ref().map(bm_kernel::UserId::as_str))
            .await?;
        Ok(Response::new(receipt.into()))
    }
}

impl TryFrom<pb::DrawRequest> for DrawCommand {
    type Error = Status;

    fn try_from(request: pb::DrawRequest) -> Result<Self, Status> {
        Ok(Self {
            user_id: bm_kernel::UserId::parse(request.user_id).map_err(|e| invalid_argument("user_id", e))?,
            strategy_id: strategy_id(request.strategy_id)?,
            order_id: if request.order_id.is_empty() {
                None
            } else {
                Some(bm_kernel::OrderId::parse(request.order_id).map_err(|e| invalid_argument("order_id", e))?)
            },
            total_partake_count: count("user_total_partake_count", request.user_total_partake_count)?,
            day_partake_count: count("user_day_partake_count", request.user_day_partake_count)?,
            first_attempt: request.first_attempt,
        })
    }
}
