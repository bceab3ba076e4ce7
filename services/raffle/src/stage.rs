//! The activity stage (活动展台) on the orchestrator: AdminService PutActivityOnStage and
//! ListActivityStages for operators, RaffleService GetStageActivity for callers. activity-quota
//! owns the stage; the orchestrator validates at the edge, proxies, and armories the staged
//! activity's strategy so the activity can be drawn at once.

use bm_api::{activity as activity_pb, admin as pb, strategy as strategy_pb};
use bm_kernel::{StageCode, positive_id};
use bm_status::invalid_argument;
use tonic::Status;

use crate::downstream::{ACTIVITY, Downstream, STRATEGY, call, idempotent};

/// The most stages one ListActivityStages returns (activity-quota's limit).
const MAX_LIST: u32 = 1000;

fn code(field: &str, value: String) -> Result<String, Status> {
    StageCode::parse(value).map(|code| code.as_str().to_owned()).map_err(|e| invalid_argument(field, e))
}

fn stage_to_pb(stage: activity_pb::ActivityStage) -> pb::ActivityStage {
    pb::ActivityStage {
        id: stage.id,
        channel: stage.channel,
        source: stage.source,
        activity_id: stage.activity_id,
        state: stage.state,
        created_at: stage.created_at,
        updated_at: stage.updated_at,
    }
}

/// Puts the activity on the stage (activity-quota validates it, armories its sku stock and
/// expires the activity shown there before), then armories its strategy. Both steps are
/// idempotent, so they are retried while a service is unreachable, and an operator who saw
/// a failure repeats the call: a repeat changes nothing on the stage and armories again.
#[tracing::instrument(name = "admin.put_activity_on_stage", skip_all, fields(channel, source, activity_id, strategy_id = tracing::field::Empty, caller = %caller))]
pub async fn put_activity_on_stage(
    downstream: &Downstream,
    request: pb::PutActivityOnStageRequest,
    caller: &str,
) -> Result<pb::PutActivityOnStageResponse, Status> {
    let channel = code("channel", request.channel)?;
    let source = code("source", request.source)?;
    let activity_id = positive_id(request.activity_id).map_err(|e| invalid_argument("activity_id", e))?;
    let span = tracing::Span::current();
    span.record("channel", channel.as_str()).record("source", source.as_str()).record("activity_id", activity_id);
    let put = idempotent(ACTIVITY, || {
        call!(
            downstream.activity,
            put_activity_on_stage,
            activity_pb::PutActivityOnStageRequest { channel: channel.clone(), source: source.clone(), activity_id }
        )
    })
    .await?;
    let strategy_id = put.strategy_id;
    span.record("strategy_id", strategy_id);
    idempotent(STRATEGY, || {
        call!(downstream.strategy, armory_strategy, strategy_pb::ArmoryStrategyRequest { strategy_id })
    })
    .await?;
    if put.changed {
        tracing::warn!(
            stage_id = put.stage.as_ref().map_or(0, |s| s.id),
            replaced_activity_id = put.replaced_activity_id,
            "activity put on stage"
        );
    }
    Ok(pb::PutActivityOnStageResponse {
        stage: put.stage.map(stage_to_pb),
        replaced_activity_id: put.replaced_activity_id,
        changed: put.changed,
        strategy_id,
    })
}

/// The stages, newest first, optionally in one state.
pub async fn list_activity_stages(
    downstream: &Downstream,
    request: pb::ListActivityStagesRequest,
) -> Result<pb::ListActivityStagesResponse, Status> {
    if !matches!(request.state.as_str(), "" | "create" | "active" | "expire") {
        return Err(invalid_argument(
            "state",
            format!("{:?} is not one of create, active, expire (or empty)", request.state),
        ));
    }
    if request.limit > MAX_LIST {
        return Err(invalid_argument("limit", format!("must be 0 (= 100) to {MAX_LIST}")));
    }
    let listed = idempotent(ACTIVITY, || {
        call!(
            downstream.activity,
            list_activity_stages,
            activity_pb::ListActivityStagesRequest { state: request.state.clone(), limit: request.limit }
        )
    })
    .await?;
    Ok(pb::ListActivityStagesResponse { stages: listed.stages.into_iter().map(stage_to_pb).collect() })
}

/// The activity shown on the channel and source; NOT_FOUND when none is.
#[tracing::instrument(name = "raffle.get_stage_activity", skip_all, fields(channel, source))]
pub async fn stage_activity(downstream: &Downstream, channel: String, source: String) -> Result<i64, Status> {
    let channel = code("channel", channel)?;
    let source = code("source", source)?;
    tracing::Span::current().record("channel", channel.as_str()).record("source", source.as_str());
    let shown = idempotent(ACTIVITY, || {
        call!(
            downstream.activity,
            get_stage_activity,
            activity_pb::GetStageActivityRequest { channel: channel.clone(), source: source.clone() }
        )
    })
    .await?;
    Ok(shown.activity_id)
}
