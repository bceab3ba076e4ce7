//! `bigmarket.admin.v1.AdminService`: the operators' console on the orchestrator's port
//! (issue #15; docs/operations.md "Operating").

use std::time::Duration;

use bm_api::{
    activity as activity_pb,
    admin::{self as pb, admin_service_server::AdminService},
    award as award_pb, ops as ops_pb,
};
use bm_kernel::Clock;
use bm_server::auth::Caller;
use bm_status::{invalid_argument, unavailable};
use tonic::{Request, Response, Status};

use crate::{
    downstream::{Downstream, call, idempotent, once},
    stage,
    switches::{Board, Change, DEFINITIONS, Definition, SwitchStore},
};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.admin.v1.AdminService";

/// How long SetSwitch waits to see its change applied on this replica.
const APPLY_WAIT: Duration = Duration::from_secs(3);

/// The service implementation.
#[derive(Debug, Clone)]
pub struct AdminHandler {
    board: Board,
    store: SwitchStore,
    downstream: Downstream,
    clock: std::sync::Arc<dyn Clock>,
}

impl AdminHandler {
    /// A console over the switch `board` and its `store`, and the services of `downstream`.
    pub fn new(board: Board, store: SwitchStore, downstream: Downstream, clock: std::sync::Arc<dyn Clock>) -> Self {
        Self { board, store, downstream, clock }
    }

    /// The ops clients of `service` (one name), or of every service (empty).
    fn ops(&self, service: &str) -> Result<Vec<(&'static str, OpsClient)>, Status> {
        if service.is_empty() {
            return Ok(self.downstream.ops.to_vec());
        }
        self.downstream
            .ops
            .iter()
            .find(|(name, _)| *name == service)
            .map(|one| vec![one.clone()])
            .ok_or_else(|| invalid_argument("service", format!("{service:?} is not strategy, activity or award")))
    }
}

type OpsClient = ops_pb::ops_service_client::OpsServiceClient<crate::downstream::AuthChannel>;

/// What a retry or discard is about: one message of one service, or all (of one or every
/// service).
fn parked_target(service: &str, id: i64, all: bool) -> Result<(i64, bool), Status> {
    match (id, all) {
        (id, false) if id > 0 && !service.is_empty() => Ok((id, false)),
        (0, true) => Ok((0, true)),
        _ => Err(invalid_argument("id", "give service and id > 0, or all = true (service empty = every service)")),
    }
}

fn timestamp(at_ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at_ms.div_euclid(1000),
        nanos: i32::try_from(at_ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

fn description(name: &str) -> &'static str {
    DEFINITIONS.iter().find(|d| d.name == name).map_or("", |d| d.description)
}

fn to_pb(definition: Definition, value: String, change: Option<&Change>) -> pb::Switch {
    pb::Switch {
        name: definition.name.to_owned(),
        value,
        description: definition.description.to_owned(),
        updated_by: change.map(|c| c.by.clone()).unwrap_or_default(),
        updated_at: change.map(|c| timestamp(c.at_ms)),
        reason: change.map(|c| c.reason.clone()).unwrap_or_default(),
    }
}

fn change_to_pb(change: Change) -> pb::Switch {
    pb::Switch {
        description: description(&change.name).to_owned(),
        updated_at: Some(timestamp(change.at_ms)),
        name: change.name,
        value: change.value,
        updated_by: change.by,
        reason: change.reason,
    }
}

fn switch_name(name: &str) -> Result<&'static str, Status> {
    DEFINITIONS.iter().find(|d| d.name == name).map(|d| d.name).ok_or_else(|| {
        let names: Vec<&str> = DEFINITIONS.iter().map(|d| d.name).collect();
        invalid_argument("name", format!("unknown switch {name:?}; the switches are {}", names.join(", ")))
    })
}

#[tonic::async_trait]
impl AdminService for AdminHandler {
    async fn get_switches(
        &self,
        _request: Request<pb::GetSwitchesRequest>,
    ) -> Result<Response<pb::GetSwitchesResponse>, Status> {
        let switches =
            self.board.list().into_iter().map(|(d, value, change)| to_pb(d, value, change.as_ref())).collect();
        Ok(Response::new(pb::GetSwitchesResponse { switches }))
    }

    #[tracing::instrument(name = "admin.set_switch", skip_all, fields(switch, caller))]
    async fn set_switch(
        &self,
        request: Request<pb::SetSwitchRequest>,
    ) -> Result<Response<pb::SetSwitchResponse>, Status> {
        let by = Caller::of(&request);
        let request = request.into_inner();
        let name = switch_name(&request.name)?;
        tracing::Span::current().record("switch", name).record("caller", by.as_str());
        let reason = request.reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
            return Err(invalid_argument("reason", "must be 1-200 printable characters (why the switch changes)"));
        }
        // Validate against the values in force: a bad value is refused before anything is recorded.
        let mut switches = self.board.switches();
        switches.set(name, &request.value).map_err(|e| invalid_argument("value", e))?;
        let change = Change {
            name: name.to_owned(),
            value: switches.get(name),
            by,
            at_ms: self.clock.now().timestamp_millis(),
            reason: reason.to_owned(),
        };
        let sequence = self.store.publish(&change).await.map_err(|e| unavailable("nats", &e))?;
        if !self.board.wait_applied(sequence, APPLY_WAIT).await {
            // Recorded, so every replica will apply it; this one has not caught up yet.
            tracing::warn!(sequence, "switch change recorded but not applied here yet");
        }
        tracing::warn!(switch = name, value = %change.value, by = %change.by, reason = %change.reason, "switch set");
        let current = self
            .board
            .list()
            .into_iter()
            .find(|(d, _, _)| d.name == name)
            .map(|(d, value, last)| to_pb(d, value, last.as_ref()));
        Ok(Response::new(pb::SetSwitchResponse { current }))
    }

    async fn list_switch_changes(
        &self,
        request: Request<pb::ListSwitchChangesRequest>,
    ) -> Result<Response<pb::ListSwitchChangesResponse>, Status> {
        let request = request.into_inner();
        let name = if request.name.is_empty() { None } else { Some(switch_name(&request.name)?) };
        let limit = usize::try_from(bm_status::page_limit(request.limit, 50, 500)?).unwrap_or(500);
        let changes = self.store.history(name, limit).await.map_err(|e| unavailable("nats", &e))?;
        Ok(Response::new(pb::ListSwitchChangesResponse { changes: changes.into_iter().map(change_to_pb).collect() }))
    }

    async fn list_parked_messages(
        &self,
        request: Request<pb::ListParkedMessagesRequest>,
    ) -> Result<Response<pb::ListParkedMessagesResponse>, Status> {
        let request = request.into_inner();
        let (mut messages, mut total) = (Vec::new(), 0);
        for (service, client) in self.ops(&request.service)? {
            let listed = idempotent(service, || {
                call!(client, list_parked_messages, ops_pb::ListParkedMessagesRequest { limit: request.limit })
            })
            .await?;
            total += listed.total;
            messages.extend(listed.messages.into_iter().map(|m| pb::ParkedMessage {
                service: service.to_owned(),
                id: m.id,
                subject: m.subject,
                payload: m.payload,
                error: m.error,
                deliveries: m.deliveries,
                parked_at: m.parked_at,
            }));
        }
        Ok(Response::new(pb::ListParkedMessagesResponse { messages, total }))
    }

    #[tracing::instrument(name = "admin.retry_parked", skip_all, fields(caller))]
    async fn retry_parked_messages(
        &self,
        request: Request<pb::RetryParkedMessagesRequest>,
    ) -> Result<Response<pb::RetryParkedMessagesResponse>, Status> {
        tracing::Span::current().record("caller", Caller::of(&request));
        let request = request.into_inner();
        let (id, all) = parked_target(&request.service, request.id, request.all)?;
        let mut retried = 0;
        for (service, client) in self.ops(&request.service)? {
            // Not retried automatically: a re-drive is done once, by the operator's word.
            retried +=
                once(service, call!(client, retry_parked_messages, ops_pb::RetryParkedMessagesRequest { id, all }))
                    .await?
                    .retried;
        }
        tracing::warn!(service = %request.service, id, all, retried, "parked messages re-driven");
        Ok(Response::new(pb::RetryParkedMessagesResponse { retried }))
    }

    #[tracing::instrument(name = "admin.discard_parked", skip_all, fields(caller))]
    async fn discard_parked_messages(
        &self,
        request: Request<pb::DiscardParkedMessagesRequest>,
    ) -> Result<Response<pb::DiscardParkedMessagesResponse>, Status> {
        tracing::Span::current().record("caller", Caller::of(&request));
        let request = request.into_inner();
        let (id, all) = parked_target(&request.service, request.id, request.all)?;
        let mut discarded = 0;
        for (service, client) in self.ops(&request.service)? {
            discarded +=
                once(service, call!(client, discard_parked_messages, ops_pb::DiscardParkedMessagesRequest { id, all }))
                    .await?
                    .discarded;
        }
        tracing::warn!(service = %request.service, id, all, discarded, "parked messages discarded");
        Ok(Response::new(pb::DiscardParkedMessagesResponse { discarded }))
    }

    async fn get_outbox_backlog(
        &self,
        _request: Request<pb::GetOutboxBacklogRequest>,
    ) -> Result<Response<pb::GetOutboxBacklogResponse>, Status> {
        let mut backlogs = Vec::new();
        for (service, client) in self.ops("")? {
            let backlog =
                idempotent(service, || call!(client, get_outbox_backlog, ops_pb::GetOutboxBacklogRequest {})).await?;
            if backlog.has_outbox {
                backlogs.push(pb::OutboxBacklog {
                    service: service.to_owned(),
                    pending: backlog.pending,
                    oldest_pending_seconds: backlog.oldest_pending_seconds,
                });
            }
        }
        Ok(Response::new(pb::GetOutboxBacklogResponse { backlogs }))
    }

    #[tracing::instrument(name = "admin.armory_activity", skip_all, fields(activity_id, caller))]
    async fn armory_activity(
        &self,
        request: Request<pb::ArmoryActivityRequest>,
    ) -> Result<Response<pb::ArmoryActivityResponse>, Status> {
        tracing::Span::current().record("caller", Caller::of(&request));
        let activity_id = crate::grpc::activity_id(request.into_inner().activity_id)?;
        tracing::Span::current().record("activity_id", activity_id);
        let strategy_id = crate::grpc::armory_activity(&self.downstream, activity_id).await?;
        Ok(Response::new(pb::ArmoryActivityResponse { activity_id, strategy_id }))
    }

    async fn put_activity_on_stage(
        &self,
        request: Request<pb::PutActivityOnStageRequest>,
    ) -> Result<Response<pb::PutActivityOnStageResponse>, Status> {
        let caller = Caller::of(&request);
        stage::put_activity_on_stage(&self.downstream, request.into_inner(), caller.as_str()).await.map(Response::new)
    }

    async fn list_activity_stages(
        &self,
        request: Request<pb::ListActivityStagesRequest>,
    ) -> Result<Response<pb::ListActivityStagesResponse>, Status> {
        stage::list_activity_stages(&self.downstream, request.into_inner()).await.map(Response::new)
    }

    #[tracing::instrument(name = "admin.list_user_orders", skip_all, fields(user_id, activity_id))]
    async fn list_user_orders(
        &self,
        request: Request<pb::ListUserOrdersRequest>,
    ) -> Result<Response<pb::ListUserOrdersResponse>, Status> {
        let request = request.into_inner();
        let user_id = crate::grpc::user(request.user_id)?;
        let activity_id = crate::grpc::activity_id(request.activity_id)?;
        tracing::Span::current().record("user_id", user_id.as_str()).record("activity_id", activity_id);
        let orders_request =
            activity_pb::ListUserOrdersRequest { user_id: user_id.to_string(), activity_id, limit: request.limit };
        let (orders, records) = tokio::try_join!(
            idempotent(crate::downstream::ACTIVITY, || call!(
                self.downstream.activity,
                list_user_orders,
                orders_request.clone()
            )),
            idempotent(crate::downstream::AWARD, || call!(
                self.downstream.award,
                list_user_awards,
                award_pb::ListUserAwardsRequest { user_id: user_id.to_string(), activity_id }
            )),
        )?;
        Ok(Response::new(pb::ListUserOrdersResponse {
            orders: orders
                .orders
                .into_iter()
                .map(|o| pb::UserRaffleOrder {
                    order_id: o.order_id,
                    activity_name: o.activity_name,
                    strategy_id: o.strategy_id,
                    order_time: o.order_time,
                    order_state: o.order_state,
                })
                .collect(),
            records: records
                .records
                .into_iter()
                .map(|r| pb::UserAwardRecord {
                    order_id: r.order_id,
                    award_id: r.award_id,
                    award_title: r.award_title,
                    award_state: r.award_state,
                    award_time: r.award_time,
                    parked_reason: r.parked_reason,
                })
                .collect(),
        }))
    }
}
