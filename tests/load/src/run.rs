//! The virtual users: each one its own user id, topped up with quota before it runs out
//! (untimed), calling its mode's operation in a loop — flat out, or paced to a share of
//! `--rate` with latency measured from the intended start (no coordinated omission).

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bm_api::{
    activity::{self as activity_pb, activity_service_client::ActivityServiceClient},
    award::{self as award_pb, award_service_client::AwardServiceClient},
    raffle::{self as raffle_pb, raffle_service_client::RaffleServiceClient},
    strategy::{self as strategy_pb, strategy_service_client::StrategyServiceClient},
};
use bm_status::ErrorCode;
use tokio::time::Instant;
use tonic::{
    Status,
    transport::{Channel, Endpoint},
};

use crate::{
    args::{Mode, OrderIds, RunArgs, Stop},
    cpu::{CpuTimes, ProcessTimes, ticks_per_second},
    histogram::Histogram,
    report::{Report, error_bucket},
};

/// No call may hang a run: a call that takes this long is an error (`DeadlineExceeded`).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// A counted run stops here whatever it reached.
const COUNT_RUN_LIMIT: Duration = Duration::from_mins(10);

/// When operation `k` of user `user` should start under a total `rate` shared by `users`:
/// every user sends every `users / rate` seconds, users staggered evenly across one
/// interval. `None` when not paced.
#[expect(clippy::cast_precision_loss, reason = "k stays far below 2^52 in a bounded run")]
pub fn intended_offset(rate: u32, users: u32, user: u32, k: u64) -> Option<Duration> {
    if rate == 0 {
        return None;
    }
    let interval = Duration::from_secs_f64(f64::from(users) / f64::from(rate));
    let stagger = interval.mul_f64(f64::from(user) / f64::from(users));
    Some(stagger + interval.mul_f64(k as f64))
}

/// Quota a user holds, so it recharges before it runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    left: u64,
    per_recharge: u64,
}

impl Quota {
    /// Nothing yet; each recharge grants `per_recharge`.
    pub fn new(per_recharge: u32) -> Self {
        Self { left: 0, per_recharge: u64::from(per_recharge) }
    }

    /// Whether the next draw needs a recharge first.
    pub fn needs_recharge(&self) -> bool {
        self.left == 0
    }

    /// A recharge landed.
    pub fn recharged(&mut self) {
        self.left += self.per_recharge;
    }

    /// A draw finished: a success spent one unit; a quota refusal means the service sees
    /// none left (e.g. a recharge of another run): recharge next time.
    pub fn after(&mut self, result: &Result<(), Status>) {
        match result {
            Ok(()) => self.left = self.left.saturating_sub(1),
            Err(status)
                if matches!(
                    bm_status::code_of(status),
                    Some(
                        ErrorCode::AccountQuotaError
                            | ErrorCode::AccountMonthQuotaError
                            | ErrorCode::AccountDayQuotaError
                    )
                ) =>
            {
                self.left = 0;
            }
            Err(_) => {}
        }
    }
}

/// The client of a user, by mode.
#[derive(Debug, Clone)]
enum Client {
    Raffle(RaffleServiceClient<Channel>),
    Strategy(StrategyServiceClient<Channel>),
    Activity(ActivityServiceClient<Channel>),
    Award(AwardServiceClient<Channel>),
}

/// One virtual user.
#[derive(Debug)]
struct User {
    index: u32,
    id: String,
    client: Client,
    seq: u64,
    recharges: u64,
    quota: Quota,
}

impl User {
    fn next_id(&mut self, run_id: &str) -> String {
        self.seq += 1;
        format!("{run_id}-{}-{}", self.index, self.seq)
    }

    /// Tops the user's quota up (draw and partake modes only; untimed).
    async fn recharge(&mut self, args: &RunArgs) -> Result<(), Status> {
        self.recharges += 1;
        let out_business_no = format!("{}-r{}-{}", args.run_id, self.index, self.recharges);
        let (user_id, sku) = (self.id.clone(), args.sku);
        match &mut self.client {
            Client::Raffle(c) => {
                c.recharge_sku(raffle_pb::RechargeSkuRequest { user_id, sku, out_business_no }).await?;
            }
            Client::Activity(c) => {
                c.recharge_sku(activity_pb::RechargeSkuRequest { user_id, sku, out_business_no }).await?;
            }
            Client::Strategy(_) | Client::Award(_) => return Ok(()),
        }
        self.quota.recharged();
        Ok(())
    }

    /// One timed operation.
    async fn operate(&mut self, args: &RunArgs) -> Result<(), Status> {
        let user_id = self.id.clone();
        let order_id = self.next_id(&args.run_id);
        let count = i64::try_from(self.seq).unwrap_or(i64::MAX);
        match &mut self.client {
            Client::Raffle(c) => {
                c.draw(raffle_pb::DrawRequest { user_id, activity_id: args.activity_id, request_id: String::new() })
                    .await?;
            }
            Client::Strategy(c) => {
                let order_id = if args.order_ids == OrderIds::Empty { String::new() } else { order_id };
                c.draw(strategy_pb::DrawRequest {
                    user_id,
                    strategy_id: args.strategy_id,
                    order_id,
                    user_total_partake_count: count,
                    user_day_partake_count: count,
                    // Each request carries a fresh order id, as the orchestrator's first call does.
                    first_attempt: true,
                })
                .await?;
            }
            Client::Activity(c) => {
                let order = c
                    .partake(activity_pb::PartakeRequest {
                        user_id: user_id.clone(),
                        activity_id: args.activity_id,
                        request_id: String::new(),
                    })
                    .await?
                    .into_inner();
                c.complete_order(activity_pb::CompleteOrderRequest { user_id, order_id: order.order_id }).await?;
            }
            Client::Award(c) => {
                c.record_award(award_pb::RecordAwardRequest {
                    user_id,
                    activity_id: args.activity_id,
                    strategy_id: args.strategy_id,
                    order_id,
                    award_id: 101,
                    award_key: "user_credit_random".to_owned(),
                    award_title: "随机积分".to_owned(),
                    award_config: "1,100".to_owned(),
                })
                .await?;
            }
        }
        Ok(())
    }
}

/// Counters the progress line reads.
#[derive(Debug, Default)]
struct Progress {
    ok: AtomicU64,
    errors: AtomicU64,
    issued: AtomicU64,
    done: AtomicBool,
}

/// What one user measured.
#[derive(Debug, Default)]
struct Measured {
    histogram: Histogram,
    /// Paced runs: how late the timers of users that waited for their start fired (µs).
    timer_late: Histogram,
    errors: BTreeMap<String, u64>,
    setup_error: Option<String>,
}

async fn connect(args: &RunArgs) -> Result<Vec<Channel>, String> {
    let mut channels = Vec::new();
    for _ in 0..args.connections {
        let channel = Endpoint::from_shared(format!("http://{}", args.target))
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(2))
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", args.target))?;
        channels.push(channel);
    }
    Ok(channels)
}

/// Waits until the orchestrator answers (the services may still be starting), then
/// armories `activity_id` through it.
pub async fn armory(target: std::net::SocketAddr, activity_id: i64, wait: Duration) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    let endpoint = Endpoint::from_shared(format!("http://{target}")).map_err(|e| e.to_string())?.timeout(CALL_TIMEOUT);
    loop {
        let attempt = async {
            let mut client = RaffleServiceClient::new(endpoint.connect().await.map_err(|e| e.to_string())?);
            client
                .armory_activity(raffle_pb::ArmoryActivityRequest { activity_id })
                .await
                .map_err(|s| format!("{}: {}", error_bucket(&s), s.message()))
        };
        match attempt.await {
            Ok(_) => {
                eprintln!("[bm-bench] activity {activity_id} armoried through {target}");
                return Ok(());
            }
            Err(e) if Instant::now() >= deadline => return Err(format!("armory through {target}: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn client(mode: Mode, channel: Channel) -> Client {
    match mode {
        Mode::Draw => Client::Raffle(RaffleServiceClient::new(channel)),
        Mode::StrategyDraw => Client::Strategy(StrategyServiceClient::new(channel)),
        Mode::Partake => Client::Activity(ActivityServiceClient::new(channel)),
        Mode::RecordAward => Client::Award(AwardServiceClient::new(channel)),
    }
}

/// Runs the load and returns its report.
pub async fn run(args: Arc<RunArgs>) -> Result<Report, String> {
    let channels = connect(&args).await?;
    let needs_quota = matches!(args.mode, Mode::Draw | Mode::Partake);
    // Set-up: every user gets its first quota before the clock starts.
    let mut users = Vec::new();
    for index in 0..args.users {
        let channel = channels[index as usize % channels.len()].clone();
        users.push(User {
            index,
            id: format!("{}-u{index}", args.run_id),
            client: client(args.mode, channel),
            seq: 0,
            recharges: 0,
            quota: Quota::new(args.draws_per_recharge),
        });
    }
    if needs_quota {
        let recharges = users.into_iter().map(|mut user| {
            let args = args.clone();
            tokio::spawn(async move { user.recharge(&args).await.map(|()| user) })
        });
        let mut ready = Vec::new();
        for handle in recharges {
            let user = handle
                .await
                .map_err(|e| e.to_string())?
                .map_err(|s| format!("set-up recharge failed: {} {}: {}", error_bucket(&s), s.code(), s.message()))?;
            ready.push(user);
        }
        users = ready;
    }

    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = match args.stop {
        Stop::Duration(d) => measure_from + d,
        Stop::Count(_) => start + COUNT_RUN_LIMIT,
    };
    let ticker = tokio::spawn(report_progress(args.clone(), progress.clone(), start));
    let handles: Vec<_> = users
        .into_iter()
        .map(|user| tokio::spawn(drive(user, args.clone(), progress.clone(), start, measure_from, end)))
        .collect();
    // The machine's CPU time over the measured window (the users run meanwhile).
    tokio::time::sleep_until(measure_from).await;
    let cpu_from = CpuTimes::now();
    let processes_from = ProcessTimes::now(&args.cpu_of);
    let (mut histogram, mut timer_late) = (Histogram::new(), Histogram::new());
    let mut errors = BTreeMap::new();
    for handle in handles {
        let measured = handle.await.map_err(|e| e.to_string())?;
        if let Some(e) = measured.setup_error {
            tracing_free_warn(&e);
        }
        histogram.merge(&measured.histogram);
        timer_late.merge(&measured.timer_late);
        for (code, n) in measured.errors {
            *errors.entry(code).or_insert(0) += n;
        }
    }
    let finished = Instant::now();
    let cpu_busy = cpu_from.zip(CpuTimes::now()).and_then(|(from, to)| from.busy_until(&to));
    let processes_to = ProcessTimes::now(&args.cpu_of);
    progress.done.store(true, Ordering::Relaxed);
    drop(ticker.await);
    let window = finished.saturating_duration_since(measure_from);
    let report = Report::new(
        &args.label,
        args.mode.as_str(),
        &args.target.to_string(),
        (args.users, args.connections, args.rate),
        window,
        &histogram,
        errors,
        args.baseline.clone(),
    );
    let cpu_per_op = processes_from
        .zip(processes_to)
        .map(|(from, to)| from.ms_per_op(&to, histogram.count(), ticks_per_second()))
        .unwrap_or_default();
    let report = report.with_cpu_busy(cpu_busy).with_cpu_per_op(cpu_per_op);
    Ok(if args.rate > 0 { report.with_timer_lateness(&timer_late) } else { report })
}

fn tracing_free_warn(message: &str) {
    eprintln!("[bm-bench] warning: {message}");
}

async fn drive(
    mut user: User,
    args: Arc<RunArgs>,
    progress: Arc<Progress>,
    start: Instant,
    measure_from: Instant,
    end: Instant,
) -> Measured {
    let mut measured = Measured::default();
    let mut k = 0u64;
    loop {
        let intended = intended_offset(args.rate, args.users, user.index, k).map(|offset| start + offset);
        k += 1;
        if Instant::now() >= end || intended.is_some_and(|at| at >= end) {
            break;
        }
        if let Stop::Count(total) = args.stop
            && progress.issued.fetch_add(1, Ordering::Relaxed) >= total
        {
            break;
        }
        if user.quota.needs_recharge()
            && matches!(user.client, Client::Raffle(_) | Client::Activity(_))
            && let Err(status) = user.recharge(&args).await
        {
            measured.setup_error = Some(format!("recharge failed: {}", error_bucket(&status)));
            break;
        }
        let (began, late) = start_clock(intended).await;
        if let Some(late) = late
            && began >= measure_from
        {
            measured.timer_late.record(micros(late));
        }
        let result = user.operate(&args).await;
        let took = began.elapsed();
        user.quota.after(&result);
        let counted = began >= measure_from;
        match result {
            Ok(()) => {
                progress.ok.fetch_add(1, Ordering::Relaxed);
                if counted {
                    measured.histogram.record(micros(took));
                }
            }
            Err(status) => {
                progress.errors.fetch_add(1, Ordering::Relaxed);
                if counted {
                    *measured.errors.entry(error_bucket(&status)).or_insert(0) += 1;
                }
            }
        }
    }
    measured
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Waits for an operation's intended start and says where its latency starts (and, if the
/// user waited, how late its timer fired). A user behind its schedule — its previous call ran
/// past this one's intended start — counts from the intended start, so a stalled service is
/// not hidden by users that stop sending (no coordinated omission). A user that waited counts
/// from when its timer fired: Tokio's timer wheel has 1 ms ticks and fires up to a tick late,
/// which is the load tool's own delay, not the service's; the report shows it apart
/// (`timer_late_ms`). Not paced: from now, no wait.
async fn start_clock(intended: Option<Instant>) -> (Instant, Option<Duration>) {
    match intended {
        Some(at) if Instant::now() < at => {
            tokio::time::sleep_until(at).await;
            let fired = Instant::now();
            (fired, Some(fired.saturating_duration_since(at)))
        }
        Some(at) => (at, None),
        None => (Instant::now(), None),
    }
}

async fn report_progress(args: Arc<RunArgs>, progress: Arc<Progress>, start: Instant) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let mut last = 0;
    while !progress.done.load(Ordering::Relaxed) {
        tick.tick().await;
        if progress.done.load(Ordering::Relaxed) {
            break;
        }
        let ok = progress.ok.load(Ordering::Relaxed);
        let errors = progress.errors.load(Ordering::Relaxed);
        let phase = if start.elapsed() < args.warmup { " (warm-up)" } else { "" };
        eprintln!(
            "[bm-bench {}] {:>4.0}s  {:>7} ok  {:>6}/s  {} errors{phase}",
            args.label,
            start.elapsed().as_secs_f64(),
            ok,
            ok - last,
            errors
        );
        last = ok;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_spreads_users_over_the_interval() {
        assert_eq!(intended_offset(0, 10, 3, 7), None, "flat out");
        // 100 ops/s over 10 users: each user every 100 ms, user 5 starts 50 ms in.
        assert_eq!(intended_offset(100, 10, 0, 0), Some(Duration::ZERO));
        assert_eq!(intended_offset(100, 10, 5, 0), Some(Duration::from_millis(50)));
        assert_eq!(intended_offset(100, 10, 5, 3), Some(Duration::from_millis(350)));
        // Over one second, the users together start exactly `rate` operations.
        let started = (0..10u32)
            .flat_map(|u| (0..20u64).map(move |k| intended_offset(100, 10, u, k).unwrap()))
            .filter(|at| *at < Duration::from_secs(1))
            .count();
        assert_eq!(started, 100);
    }

    #[tokio::test]
    async fn latency_starts_at_the_intended_start_unless_the_user_waited_for_it() {
        let now = Instant::now();
        let behind = now.checked_sub(Duration::from_millis(30)).unwrap();
        assert_eq!(start_clock(Some(behind)).await, (behind, None), "behind schedule: from the intended start");
        let ahead = Instant::now() + Duration::from_millis(5);
        let (began, late) = start_clock(Some(ahead)).await;
        assert!(began >= ahead, "never before the intended start");
        assert_eq!(late, Some(began - ahead), "how late the timer fired is reported");
        let (began, late) = start_clock(None).await;
        assert!(began >= now && late.is_none(), "flat out: from now, no wait");
    }

    #[test]
    fn quota_recharges_before_running_out() {
        let mut q = Quota::new(2);
        assert!(q.needs_recharge(), "nothing before the first recharge");
        q.recharged();
        q.after(&Ok(()));
        assert!(!q.needs_recharge());
        q.after(&Err(Status::unavailable("down")));
        assert!(!q.needs_recharge(), "a transport error spends nothing");
        q.after(&Ok(()));
        assert!(q.needs_recharge());
        q.recharged();
        q.after(&Err(bm_status::to_status(ErrorCode::AccountDayQuotaError, "day")));
        assert!(q.needs_recharge(), "the service says there is none: recharge");
    }
}
