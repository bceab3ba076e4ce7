//! `bigmarket.admin.v1.AdminService`: the operators' console on the orchestrator's port
//! (issue #15; docs/operations.md "Operating").

use std::time::Duration;

use bm_api::admin::{self as pb, admin_service_server::AdminService};
use bm_kernel::Clock;
use bm_server::auth::Caller;
use bm_status::{invalid_argument, unavailable};
use tonic::{Request, Response, Status};

use crate::{
    downstream::Downstream,
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
    clock: std::sync::Arc<dyn Clock>,
    downstream: Downstream,
}

impl AdminHandler {
    /// A console over the switch `board` and its `store`, and over the services behind
    /// `downstream` (the activity stage).
    pub fn new(board: Board, store: SwitchStore, clock: std::sync::Arc<dyn Clock>, downstream: Downstream) -> Self {
        Self { board, store, clock, downstream }
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
        let limit = match request.limit {
            0 => 50,
            n @ 1..=500 => usize::try_from(n).unwrap_or(500),
            _ => return Err(invalid_argument("limit", "must be 0 (= 50) to 500")),
        };
        let changes = self.store.history(name, limit).await.map_err(|e| unavailable("nats", &e))?;
        Ok(Response::new(pb::ListSwitchChangesResponse { changes: changes.into_iter().map(change_to_pb).collect() }))
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
}
