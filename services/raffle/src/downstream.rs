//! The three downstream services: one lazily connected channel each, a deadline per call,
//! bounded retries for idempotent calls, and errors turned into what the orchestrator
//! answers (business codes pass through; an unreachable service is UNAVAILABLE naming it).

use std::{future::Future, time::Duration};

use bm_api::{
    activity::activity_service_client::ActivityServiceClient, award::award_service_client::AwardServiceClient,
    strategy::strategy_service_client::StrategyServiceClient,
};
use tonic::{
    Code, Status,
    transport::{Channel, Endpoint},
};

use crate::DownstreamSettings;

/// Attempts of an idempotent call when the downstream is unreachable.
const ATTEMPTS: u32 = 3;

/// Clients of strategy-draw, activity-quota and award.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// strategy-draw.
    pub strategy: StrategyServiceClient<Channel>,
    /// activity-quota.
    pub activity: ActivityServiceClient<Channel>,
    /// award.
    pub award: AwardServiceClient<Channel>,
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
    /// Lazily connected clients (nothing is dialled until the first call).
    pub fn new(settings: &DownstreamSettings) -> Result<Self, tonic::transport::Error> {
        let timeout = Duration::from_millis(settings.timeout_ms);
        Ok(Self {
            strategy: StrategyServiceClient::new(channel(&settings.strategy_url, timeout)?),
            activity: ActivityServiceClient::new(channel(&settings.activity_url, timeout)?),
            award: AwardServiceClient::new(channel(&settings.award_url, timeout)?),
        })
    }
}

/// Whether a failure is the transport's (the call may not have reached the service), as
/// opposed to an answer of the service.
fn unreachable(status: &Status) -> bool {
    bm_status::code_of(status).is_none() && matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled)
}

/// Calls `dependency` once; errors as the orchestrator answers them.
pub async fn once<T, F>(dependency: &str, call: F) -> Result<T, Status>
where
    F: Future<Output = Result<tonic::Response<T>, Status>>,
{
    call.await.map(tonic::Response::into_inner).map_err(|status| bm_status::pass_through(dependency, &status))
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
            Err(status) => return Err(bm_status::pass_through(dependency, &status)),
        }
    }
}
