//! The three downstream services: one lazily connected channel each, a deadline per call,
//! bounded retries for idempotent calls, and errors turned into what the orchestrator
//! answers (business codes pass through; an unreachable service is UNAVAILABLE naming it).

use std::{future::Future, time::Duration};

use bm_api::{
    activity::activity_service_client::ActivityServiceClient, award::award_service_client::AwardServiceClient,
    ops::ops_service_client::OpsServiceClient, strategy::strategy_service_client::StrategyServiceClient,
};
use tonic::{
    Code, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::DownstreamSettings;

/// strategy-draw, as errors and logs name it.
pub const STRATEGY: &str = "strategy-draw";
/// activity-quota, as errors and logs name it.
pub const ACTIVITY: &str = "activity-quota";
/// award, as errors and logs name it.
pub const AWARD: &str = "award";

/// A call on a clone of a client, as an owned future (so it can be retried), carrying the
/// current span's trace context.
macro_rules! call {
    ($client:expr, $method:ident, $request:expr) => {{
        let mut client = $client.clone();
        let request = $request;
        async move { client.$method(bm_server::trace_context::traced(request)).await }
    }};
}
pub(crate) use call;

/// Attempts of an idempotent call when the downstream is unreachable.
const ATTEMPTS: u32 = 3;

/// A channel whose every call carries the internal token (when one is configured).
pub type AuthChannel = InterceptedService<Channel, InternalToken>;

/// Adds `authorization: Bearer <internal token>` to every downstream call.
#[derive(Clone)]
pub struct InternalToken(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for InternalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "InternalToken(<redacted>)" } else { "InternalToken(none)" })
    }
}

impl Interceptor for InternalToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert(bm_server::auth::AUTHORIZATION, token.clone());
        }
        Ok(request)
    }
}

/// Clients of strategy-draw, activity-quota and award.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// strategy-draw.
    pub strategy: StrategyServiceClient<AuthChannel>,
    /// activity-quota.
    pub activity: ActivityServiceClient<AuthChannel>,
    /// award.
    pub award: AwardServiceClient<AuthChannel>,
    /// The operators' calls of each stateful service, by name (`strategy`, `activity`, `award`).
    pub ops: [(&'static str, OpsServiceClient<AuthChannel>); 3],
}

fn channel(url: &str, timeout: Duration) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(1))
        .timeout(timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

impl Downstream {
    /// Lazily connected clients (nothing is dialled until the first call), each call
    /// carrying `internal_token` (`None` = internal authentication off).
    pub fn new(
        settings: &DownstreamSettings,
        internal_token: Option<MetadataValue<Ascii>>,
    ) -> Result<Self, tonic::transport::Error> {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let token = InternalToken(internal_token);
        let [strategy, activity, award] = [&settings.strategy_url, &settings.activity_url, &settings.award_url]
            .map(|url| channel(url, timeout).map(|c| InterceptedService::new(c, token.clone())));
        let (strategy, activity, award) = (strategy?, activity?, award?);
        Ok(Self {
            ops: [
                ("strategy", OpsServiceClient::new(strategy.clone())),
                ("activity", OpsServiceClient::new(activity.clone())),
                ("award", OpsServiceClient::new(award.clone())),
            ],
            strategy: StrategyServiceClient::new(strategy),
            activity: ActivityServiceClient::new(activity),
            award: AwardServiceClient::new(award),
        })
    }
}

/// Whether a failure is the transport's (the call may not have reached the service), as
/// opposed to an answer of the service.
fn unreachable(status: &Status) -> bool {
    bm_status::code_of(status).is_none() && matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled)
}

/// What the orchestrator answers for a failed call of `dependency`. A dependency refusing
/// the orchestrator's own credentials is a deployment fault, not the caller's: it is logged
/// and answered as the dependency being unavailable, never as the caller's `0008`.
fn answer(dependency: &str, status: &Status) -> Status {
    if bm_status::code_of(status) == Some(bm_status::ErrorCode::AppTokenError) {
        tracing::error!(
            dependency,
            message = status.message(),
            "the dependency refused the orchestrator's internal token: check auth.internal_token on both"
        );
        return bm_status::to_status(
            bm_status::ErrorCode::Unavailable,
            format!("{dependency} is unavailable (misconfigured), try again later"),
        );
    }
    bm_status::pass_through(dependency, status)
}

/// Calls `dependency` once; errors as the orchestrator answers them.
pub async fn once<T, F>(dependency: &str, call: F) -> Result<T, Status>
where
    F: Future<Output = Result<tonic::Response<T>, Status>>,
{
    call.await.map(tonic::Response::into_inner).map_err(|status| answer(dependency, &status))
}

/// Calls an idempotent method of `dependency`, retrying (with a short backoff) while the
/// service is unreachable; a business answer is never retried.
pub async fn idempotent<T, F, Fut>(dependency: &str, mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) if attempt < ATTEMPTS && unreachable(&status) => {
                tracing::debug!(dependency, attempt, message = status.message(), "retrying an idempotent call");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt * attempt))).await;
                attempt += 1;
            }
            Err(status) => return Err(answer(dependency, &status)),
        }
    }
}
