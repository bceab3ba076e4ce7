//! The fault suite (issue #10; `make chaos`, and a short run in `make test`).
//!
//! A whole big-market runs on its own Redis and NATS servers (private ports, never the
//! shared 6379 / 4222) and reaches Postgres through a [`TcpProxy`] that can refuse
//! connections. Drawers keep calling `RaffleService/Draw` the way a careful client does: one
//! request id per draw, retried with that same id while the answer is `UNAVAILABLE` (or a
//! transport error). In turn each fault strikes in the middle of the load:
//!
//! - `kill -9` of strategy-draw, activity-quota, award and the orchestrator, each started
//!   again after an outage;
//! - NATS stopped and started again (its JetStream store survives, as on a real restart);
//! - Redis killed and started again empty (stock counters and armory copies are gone and
//!   must be rebuilt from the databases without overselling);
//! - Postgres unreachable: every connection cut and new ones refused for the outage.
//!
//! After each fault the load stops, and once things settle the books are checked: every
//! successful draw has its award record, `completed`, with the award the caller was told
//! (else it is *lost*); no request id was answered with two orders or awards (else it is
//! *duplicated*); and the invariant checker ([`bm_invariants`]) holds.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bm_api::raffle::{
    ArmoryActivityRequest, DrawRequest, RechargeSkuRequest, raffle_service_client::RaffleServiceClient,
};
use bm_invariants::{Report, Sources};
use bm_status::{ErrorCode, code_of};
use bm_testkit::{NatsServer, RedisServer, TcpProxy};
use serde::Serialize;
use tonic::{Code, Status, transport::Endpoint};

use crate::{Backends, Cluster};

/// The demo activity the load draws on (strategy 100006, small award stocks that run out).
const ACTIVITY: i64 = 100_301;
/// 150 draws per recharge.
const SKU: i64 = 9011;
/// How long one call may take before the client gives up on it (and retries).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` of a service, started again after the outage.
    Kill(Service),
    /// NATS stopped (SIGTERM) and started again on the same store.
    RestartNats,
    /// Redis killed and started again empty.
    RestartRedis,
    /// Postgres connections cut and refused for the outage.
    PostgresRefuses,
}

/// A service of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// strategy-draw.
    Strategy,
    /// activity-quota.
    Activity,
    /// award.
    Award,
    /// The orchestrator.
    Raffle,
}

impl Fault {
    /// Every fault, in the order the suite runs them.
    pub const ALL: [Self; 7] = [
        Self::Kill(Service::Strategy),
        Self::Kill(Service::Activity),
        Self::Kill(Service::Award),
        Self::Kill(Service::Raffle),
        Self::RestartNats,
        Self::RestartRedis,
        Self::PostgresRefuses,
    ];

    /// A short name (`kill-strategy`, `restart-nats`, …), also what `--faults` takes.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Kill(Service::Strategy) => "kill-strategy",
            Self::Kill(Service::Activity) => "kill-activity",
            Self::Kill(Service::Award) => "kill-award",
            Self::Kill(Service::Raffle) => "kill-raffle",
            Self::RestartNats => "restart-nats",
            Self::RestartRedis => "restart-redis",
            Self::PostgresRefuses => "postgres-refuses",
        }
    }

    /// The fault of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// How hard and how long.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Concurrent drawers (each with its own users, so a user never draws twice at once).
    pub workers: usize,
    /// Users per drawer.
    pub users_per_worker: usize,
    /// Load per fault; the fault strikes after a third of it.
    pub load: Duration,
    /// How long a service, NATS or Redis stays down.
    pub outage: Duration,
    /// How long Postgres refuses connections (longer than the services' 3 s pool acquire
    /// timeout, or they ride it out without an error anyone sees).
    pub database_outage: Duration,
    /// How long a request id is retried before the client gives up on it.
    pub give_up_after: Duration,
    /// How long the books may take to settle after the load.
    pub settle_within: Duration,
    /// The faults to run.
    pub faults: Vec<Fault>,
}

impl Settings {
    /// The short run of `make test`.
    pub fn quick() -> Self {
        Self {
            workers: 4,
            users_per_worker: 2,
            load: Duration::from_secs(4),
            outage: Duration::from_millis(1500),
            database_outage: Duration::from_secs(5),
            give_up_after: Duration::from_secs(30),
            settle_within: Duration::from_secs(90),
            faults: Fault::ALL.to_vec(),
        }
    }
}

/// What one fault did to the load.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// The fault.
    pub fault: String,
    /// Draws attempted (request ids).
    pub attempted: u64,
    /// Draws answered with an award.
    pub succeeded: u64,
    /// Draws given up, by final code (gRPC code / big-market code).
    pub failed: BTreeMap<String, u64>,
    /// Calls retried with the same request id, by code.
    pub retried: BTreeMap<String, u64>,
    /// Successful draws without their award record, `completed`, with the award answered.
    pub lost: u64,
    /// Request ids answered with two different orders or awards.
    pub duplicated: u64,
    /// Milliseconds from the end of the load until the books settled.
    pub settle_ms: u64,
    /// Whether the invariant checker held.
    pub invariants_hold: bool,
    /// What broke, when something did.
    pub problems: Vec<String>,
}

impl Figures {
    /// Nothing lost, nothing duplicated, invariants hold, and some draws went through.
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.invariants_hold && self.succeeded > 0
    }
}

/// A draw's final outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Won { order_id: String, award_id: i32 },
    GaveUp(String),
}

#[derive(Debug, Default)]
struct Tally {
    outcomes: Vec<(String, Outcome)>,
    retried: BTreeMap<String, u64>,
    duplicated: u64,
}

/// The label of a failed call: the gRPC code and, when present, the big-market code.
fn label(status: &Status) -> String {
    match code_of(status) {
        Some(code) => format!("{:?}/{}", status.code(), code.as_str()),
        None => format!("{:?}", status.code()),
    }
}

/// Whether a careful client retries this answer with the same request id.
fn retryable(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded)
        || code_of(status) == Some(ErrorCode::Unavailable)
}

fn quota_exhausted(status: &Status) -> bool {
    matches!(
        code_of(status),
        Some(ErrorCode::AccountQuotaError | ErrorCode::AccountMonthQuotaError | ErrorCode::AccountDayQuotaError)
    )
}

/// The whole suite's environment.
#[derive(Debug)]
pub struct Chaos {
    cluster: Cluster,
    redis: RedisServer,
    nats: NatsServer,
    postgres: TcpProxy,
    settings: Settings,
    users: Vec<String>,
    recharges: Arc<Mutex<HashMap<String, u32>>>,
}

impl Chaos {
    /// Starts private Redis and NATS, the Postgres proxy and the cluster on them; armories
    /// the demo activity.
    pub async fn start(settings: Settings) -> Self {
        let redis = RedisServer::start().await;
        let nats = NatsServer::start().await;
        let postgres_target = postgres_address();
        let postgres = TcpProxy::start(postgres_target);
        let backends = Backends {
            redis_url: Some(redis.url()),
            nats_url: Some(nats.url()),
            postgres_port: Some(postgres.port),
            env: Vec::new(),
        };
        let cluster = Cluster::start_on(&backends, &[("BM_DOWNSTREAM__TIMEOUT_MS", "3000")]).await;
        cluster
            .client
            .clone()
            .armory_activity(ArmoryActivityRequest { activity_id: ACTIVITY })
            .await
            .expect("armory the demo activity");
        let run = uuid::Uuid::new_v4().simple().to_string();
        let users =
            (0..settings.workers * settings.users_per_worker).map(|n| format!("chaos{}-{n}", &run[..8])).collect();
        Self { cluster, redis, nats, postgres, settings, users, recharges: Arc::default() }
    }

    /// Runs every fault of the settings in turn.
    pub async fn run(&mut self) -> Vec<Figures> {
        let mut all = Vec::new();
        for fault in self.settings.faults.clone() {
            eprintln!("[chaos] {} …", fault.name());
            let figures = self.run_fault(fault).await;
            eprintln!(
                "[chaos] {}: attempted {} succeeded {} lost {} duplicated {} invariants {} (settled in {} ms)",
                figures.fault,
                figures.attempted,
                figures.succeeded,
                figures.lost,
                figures.duplicated,
                if figures.invariants_hold { "hold" } else { "VIOLATED" },
                figures.settle_ms
            );
            all.push(figures);
        }
        all
    }

    fn sources(&self) -> Sources {
        self.cluster.invariant_sources(self.redis.url(), 0)
    }

    async fn run_fault(&mut self, fault: Fault) -> Figures {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let endpoint = self.cluster.raffle.endpoint();
        let workers: Vec<_> = self
            .users
            .chunks(self.settings.users_per_worker)
            .map(|users| {
                let drawer = Drawer {
                    client: RaffleServiceClient::new(
                        Endpoint::from_shared(endpoint.clone()).expect("endpoint").timeout(CALL_TIMEOUT).connect_lazy(),
                    ),
                    users: users.to_vec(),
                    give_up_after: self.settings.give_up_after,
                    recharges: Arc::clone(&self.recharges),
                    tally: Arc::clone(&tally),
                };
                tokio::spawn(drawer.run(Arc::clone(&stop)))
            })
            .collect();
        let started = Instant::now();
        tokio::time::sleep(self.settings.load / 3).await;
        self.inject(fault).await;
        let rest = self.settings.load.saturating_sub(started.elapsed()).max(self.settings.load / 3);
        tokio::time::sleep(rest).await;
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.await.expect("drawer task");
        }
        let load_done = Instant::now();
        let tally = std::mem::take(&mut *tally.lock().expect("tally"));
        let mut figures = Figures {
            fault: fault.name().to_owned(),
            attempted: tally.outcomes.len() as u64,
            retried: tally.retried,
            duplicated: tally.duplicated,
            ..Figures::default()
        };
        let mut won = HashMap::new();
        for (_, outcome) in &tally.outcomes {
            match outcome {
                Outcome::Won { order_id, award_id } => {
                    figures.succeeded += 1;
                    won.insert(order_id.clone(), *award_id);
                }
                Outcome::GaveUp(code) => *figures.failed.entry(code.clone()).or_default() += 1,
            }
        }
        let (lost, report) = self.settle(&won).await;
        figures.settle_ms = u64::try_from(load_done.elapsed().as_millis()).unwrap_or(u64::MAX);
        figures.lost = lost.len() as u64;
        figures.problems.extend(lost.into_iter().take(10));
        match report {
            Ok(report) => {
                figures.invariants_hold = report.holds();
                figures.problems.extend(violations(&report));
            }
            Err(error) => figures.problems.push(format!("the invariant checker could not run: {error}")),
        }
        figures
    }

    /// Strikes, waits out the outage, and recovers.
    async fn inject(&mut self, fault: Fault) {
        let outage = self.settings.outage;
        match fault {
            Fault::Kill(service) => {
                let node = match service {
                    Service::Strategy => &mut self.cluster.strategy,
                    Service::Activity => &mut self.cluster.activity,
                    Service::Award => &mut self.cluster.award,
                    Service::Raffle => {
                        self.cluster.raffle.kill();
                        tokio::time::sleep(outage).await;
                        self.cluster.restart_raffle().await;
                        return;
                    }
                };
                node.kill();
                tokio::time::sleep(outage).await;
                node.restart().await;
            }
            Fault::RestartNats => {
                self.nats.stop();
                tokio::time::sleep(outage).await;
                self.nats.resume().await;
            }
            Fault::RestartRedis => {
                self.redis.kill();
                tokio::time::sleep(outage).await;
                self.redis.resume().await;
            }
            Fault::PostgresRefuses => {
                self.postgres.refuse().await;
                tokio::time::sleep(self.settings.database_outage).await;
                self.postgres.resume();
            }
        }
    }

    /// Waits until every won draw has its completed record and the invariants hold (or the
    /// settle time is up); returns the lost draws and the last report.
    async fn settle(&self, won: &HashMap<String, i32>) -> (Vec<String>, Result<Report, String>) {
        let started = Instant::now();
        let award_db = self.cluster.award.infra.pool().await;
        loop {
            let lost = lost(&award_db, &self.users, won).await;
            let report = bm_invariants::check(&self.sources()).await.map_err(|e| e.to_string());
            let settled = matches!((&lost, &report), (Ok(lost), Ok(report)) if lost.is_empty() && report.holds());
            if settled || started.elapsed() > self.settings.settle_within {
                let lost = lost.unwrap_or_else(|error| vec![format!("cannot read award records: {error}")]);
                award_db.close().await;
                return (lost, report);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The won draws of `users` whose award record is missing, names another award, or is not
/// `completed`.
async fn lost(award_db: &sqlx::PgPool, users: &[String], won: &HashMap<String, i32>) -> Result<Vec<String>, String> {
    let records: Vec<(String, i32, String)> =
        sqlx::query_as("SELECT order_id, award_id, award_state FROM user_award_record WHERE user_id = ANY($1)")
            .bind(users)
            .fetch_all(award_db)
            .await
            .map_err(|e| e.to_string())?;
    let records: HashMap<String, (i32, String)> =
        records.into_iter().map(|(order, award, state)| (order, (award, state))).collect();
    let mut lost = Vec::new();
    for (order_id, award_id) in won {
        match records.get(order_id) {
            Some((recorded, state)) if recorded == award_id && state == "completed" => {}
            Some((recorded, state)) => {
                lost.push(format!("order {order_id}: answered award {award_id}, recorded {recorded} ({state})"));
            }
            None => lost.push(format!("order {order_id}: answered award {award_id}, no award record")),
        }
    }
    lost.sort();
    Ok(lost)
}

fn postgres_address() -> std::net::SocketAddr {
    let admin = bm_testkit::admin_url();
    let authority =
        admin.split_once('@').and_then(|(_, rest)| rest.split_once('/')).map_or("127.0.0.1:5432", |(a, _)| a);
    let authority = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:5432") };
    std::net::ToSocketAddrs::to_socket_addrs(&authority)
        .ok()
        .and_then(|mut addresses| addresses.next())
        .unwrap_or_else(|| panic!("cannot resolve the Postgres address {authority}"))
}

fn violations(report: &Report) -> Vec<String> {
    report
        .checks
        .iter()
        .flat_map(|check| check.violations.iter().take(5).map(move |v| format!("{}: {v}", check.name)))
        .collect()
}

/// One concurrent client with its own users.
struct Drawer {
    client: RaffleServiceClient<tonic::transport::Channel>,
    users: Vec<String>,
    give_up_after: Duration,
    recharges: Arc<Mutex<HashMap<String, u32>>>,
    tally: Arc<Mutex<Tally>>,
}

impl Drawer {
    async fn run(mut self, stop: Arc<AtomicBool>) {
        let mut turn = 0_usize;
        while !stop.load(Ordering::Relaxed) {
            let user = self.users[turn % self.users.len()].clone();
            turn += 1;
            let request_id = uuid::Uuid::new_v4().simple().to_string();
            let outcome = self.draw(&user, &request_id).await;
            self.tally.lock().expect("tally").outcomes.push((request_id, outcome));
        }
    }

    /// One draw, retried with the same request id until it is answered or given up.
    async fn draw(&mut self, user: &str, request_id: &str) -> Outcome {
        let started = Instant::now();
        let mut first: Option<(String, i32)> = None;
        loop {
            let request =
                DrawRequest { user_id: user.to_owned(), activity_id: ACTIVITY, request_id: request_id.to_owned() };
            let status = match self.client.draw(request).await {
                Ok(response) => {
                    let response = response.into_inner();
                    let answer = (response.order_id, response.award_id);
                    // Ask once more with the same id: the answer must not change.
                    if first.is_none() && rand_once(request_id) {
                        first = Some(answer);
                        continue;
                    }
                    if let Some(earlier) = first
                        && earlier != answer
                    {
                        self.tally.lock().expect("tally").duplicated += 1;
                    }
                    return Outcome::Won { order_id: answer.0, award_id: answer.1 };
                }
                Err(status) => status,
            };
            if quota_exhausted(&status) {
                if let Err(status) = self.recharge(user).await {
                    return Outcome::GaveUp(format!("recharge {}", label(&status)));
                }
                continue;
            }
            if !retryable(&status) || started.elapsed() > self.give_up_after {
                return Outcome::GaveUp(label(&status));
            }
            *self.tally.lock().expect("tally").retried.entry(label(&status)).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn recharge(&mut self, user: &str) -> Result<(), Status> {
        let number = {
            let mut recharges = self.recharges.lock().expect("recharges");
            let number = recharges.entry(user.to_owned()).or_default();
            *number += 1;
            *number
        };
        let started = Instant::now();
        loop {
            let request =
                RechargeSkuRequest { user_id: user.to_owned(), sku: SKU, out_business_no: format!("{user}-r{number}") };
            match self.client.recharge_sku(request).await {
                // A retried recharge that already went through is a duplicate: quota is there.
                Ok(_) => return Ok(()),
                Err(status) if status.code() == Code::AlreadyExists => return Ok(()),
                Err(status) if retryable(&status) && started.elapsed() < self.give_up_after => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(status) => return Err(status),
            }
        }
    }
}

/// About one draw in eight is asked twice with the same request id (chosen by the id's last
/// hex digit, so it needs no random source).
fn rand_once(request_id: &str) -> bool {
    request_id.bytes().last().is_some_and(|b| b % 10 == 0)
}

/// A markdown table of the figures.
pub fn table(figures: &[Figures]) -> String {
    let mut out = String::from(
        "| fault | attempted | succeeded | failed (final code) | retried calls (code) | lost | duplicated | settled in | invariants |\n\
         |---|---:|---:|---|---|---:|---:|---:|---|\n",
    );
    for f in figures {
        let codes = |map: &BTreeMap<String, u64>| {
            if map.is_empty() {
                "0".to_owned()
            } else {
                map.iter().map(|(code, n)| format!("{n} {code}")).collect::<Vec<_>>().join(", ")
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {}.{} s | {} |",
            f.fault,
            f.attempted,
            f.succeeded,
            codes(&f.failed),
            codes(&f.retried),
            f.lost,
            f.duplicated,
            f.settle_ms / 1000,
            f.settle_ms % 1000 / 100,
            if f.invariants_hold { "hold" } else { "VIOLATED" }
        );
    }
    out
}
