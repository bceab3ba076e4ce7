//! A whole big-market on free ports for end-to-end tests: strategy-draw, activity-quota and
//! award, each on its own fresh database with the demo data, and the raffle orchestrator in
//! front. Binaries come from `target/<profile>/` (`make test` builds them first).

#![expect(clippy::expect_used, reason = "test harness: a panic is a failed test")]

pub mod chaos;

use bm_api::{
    activity::activity_service_client::ActivityServiceClient, award::award_service_client::AwardServiceClient,
    raffle::raffle_service_client::RaffleServiceClient, strategy::strategy_service_client::StrategyServiceClient,
};
use bm_testkit::{ServiceProcess, TestInfra, lifecycle::with_env, workspace_binary};
use tonic::transport::Channel;

/// One running service with its infrastructure slice.
#[derive(Debug)]
pub struct Node {
    /// Its database, Redis prefix and NATS prefixes.
    pub infra: TestInfra,
    /// The process.
    pub process: ServiceProcess,
    env: Vec<(String, String)>,
    binary: String,
}

/// Where the services find their infrastructure. The default is the shared local Postgres,
/// Redis and NATS; fault tests point them at private servers and a proxy they can break.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    /// Redis instead of the shared one.
    pub redis_url: Option<String>,
    /// NATS instead of the shared one.
    pub nats_url: Option<String>,
    /// A loopback port that forwards to Postgres (a [`bm_testkit::TcpProxy`]): the services
    /// reach their databases through it; the test itself and the checker go direct.
    pub postgres_port: Option<u16>,
    /// More settings for strategy-draw, activity-quota and award (e.g. an OTLP endpoint).
    pub env: Vec<(String, String)>,
}

impl Backends {
    fn apply(&self, mut env: Vec<(String, String)>) -> Vec<(String, String)> {
        if let Some(url) = &self.redis_url {
            env = with_env(&env, "BM_REDIS__URL", url);
        }
        if let Some(url) = &self.nats_url {
            env = with_env(&env, "BM_NATS__URL", url);
        }
        for (key, value) in &self.env {
            env = with_env(&env, key, value);
        }
        if let Some(port) = self.postgres_port {
            let direct =
                env.iter().find(|(k, _)| k == "BM_DATABASE__URL").map(|(_, v)| v.clone()).expect("database url");
            env = with_env(&env, "BM_DATABASE__URL", &through_port(&direct, port));
        }
        env
    }
}

/// `postgres://user:pw@host:5432/db` → the same URL on `127.0.0.1:<port>`.
fn through_port(url: &str, port: u16) -> String {
    let (scheme_auth, rest) = url.split_once('@').expect("a postgres URL with user@host");
    let (_, path) = rest.split_once('/').expect("a postgres URL with a database");
    format!("{scheme_auth}@127.0.0.1:{port}/{path}")
}

impl Node {
    async fn start(
        binary: &str,
        migrator: &sqlx::migrate::Migrator,
        demo: &str,
        extra: &[(&str, &str)],
        backends: &Backends,
    ) -> Self {
        Self::start_on_infra(binary, Self::infra(migrator, demo).await, extra, backends).await
    }

    /// A fresh database with `migrator`'s schema and `demo`'s rows, and its Redis and NATS
    /// prefixes.
    async fn infra(migrator: &sqlx::migrate::Migrator, demo: &str) -> TestInfra {
        let infra = TestInfra::new(Some(migrator)).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(demo.to_owned())).execute(&infra.pool().await).await.expect("demo data");
        infra
    }

    async fn start_on_infra(binary: &str, infra: TestInfra, extra: &[(&str, &str)], backends: &Backends) -> Self {
        let mut env = backends.apply(infra.service_env());
        for (key, value) in extra {
            env = with_env(&env, key, value);
        }
        let binary = workspace_binary(binary);
        let process = ServiceProcess::spawn(&binary, &env).await;
        Self { infra, process, env, binary }
    }

    /// Kills the service (SIGKILL).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same port and waits for SERVING.
    pub async fn restart(&mut self) {
        self.process.kill();
        self.process = ServiceProcess::spawn_on(&self.binary, &self.env, self.process.port).await;
    }
}

/// The four services.
#[derive(Debug)]
pub struct Cluster {
    /// strategy-draw.
    pub strategy: Node,
    /// activity-quota.
    pub activity: Node,
    /// award.
    pub award: Node,
    /// The orchestrator.
    pub raffle: ServiceProcess,
    /// A client of the orchestrator.
    pub client: RaffleServiceClient<Channel>,
    raffle_env: Vec<(String, String)>,
}

/// Reads the demo data of a service from its seed file.
fn demo(service: &str) -> String {
    let path = format!("{}/../../services/{service}/seed/demo.sql", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The migrations of a service, read at run time from its folder.
async fn migrator(service: &str) -> sqlx::migrate::Migrator {
    let path = format!("{}/../../services/{service}/migrations", env!("CARGO_MANIFEST_DIR"));
    sqlx::migrate::Migrator::new(std::path::Path::new(&path)).await.expect("migrations")
}

impl Cluster {
    /// Starts everything on the shared infrastructure; `raffle_env` adds settings to the
    /// orchestrator.
    pub async fn start(raffle_env: &[(&str, &str)]) -> Self {
        Self::start_on(&Backends::default(), raffle_env).await
    }

    /// Starts everything with the stateful services on `backends`. The three stateful
    /// services share one NATS subject and stream prefix (as in a real deployment), so each
    /// consumes the others' events (activity-quota's `send_rebate`, award's
    /// `credit_adjust_success`): strategy-draw's slice, whose cleanup removes every service's
    /// streams under it. activity-quota's and award's `infra` NATS prefixes are not the ones
    /// in use: ask [`Node::setting`].
    pub async fn start_on(backends: &Backends, raffle_env: &[(&str, &str)]) -> Self {
        let (strategy_infra, activity_infra, award_infra) = tokio::join!(
            async { Node::infra(&migrator("strategy").await, &demo("strategy")).await },
            async { Node::infra(&migrator("activity").await, &demo("activity")).await },
            async { Node::infra(&migrator("award").await, &demo("award")).await },
        );
        let mut shared = backends.clone();
        shared.env = vec![
            ("BM_NATS__SUBJECT_PREFIX".into(), strategy_infra.subject_prefix.clone()),
            ("BM_NATS__STREAM_PREFIX".into(), strategy_infra.stream_prefix.clone()),
        ];
        shared.env.extend(backends.env.iter().cloned());
        let backends = &shared;
        let fast = [("BM_SERVICE__STOCK_SYNC_INTERVAL_MS", "200"), ("BM_SERVICE__STOCK_REBUILD_SETTLE_MS", "300")];
        let award_fast = [("BM_SERVICE__RELAY_INTERVAL_MS", "200"), ("BM_SERVICE__RELAY_AFTER_MS", "500")];
        let (strategy, activity, award) = tokio::join!(
            Node::start_on_infra("strategy", strategy_infra, &fast, backends),
            Node::start_on_infra("activity", activity_infra, &fast, backends),
            Node::start_on_infra("award", award_infra, &award_fast, backends),
        );
        let mut env = raffle_base_env(&strategy.process, &activity.process, &award.process, &strategy.env);
        for (key, value) in raffle_env {
            env = with_env(&env, key, value);
        }
        let raffle = ServiceProcess::spawn(&workspace_binary("raffle"), &env).await;
        let client = RaffleServiceClient::new(raffle.channel().await);
        Self { strategy, activity, award, raffle, client, raffle_env: env }
    }

    /// Kills the orchestrator (SIGKILL), starts it again on the same port and waits for
    /// SERVING.
    pub async fn restart_raffle(&mut self) {
        self.raffle.kill();
        self.raffle = ServiceProcess::spawn_on(&workspace_binary("raffle"), &self.raffle_env, self.raffle.port).await;
    }

    /// What the invariant checker reads of this cluster: its databases and Redis prefixes on
    /// `redis_url`, settling for up to `settle_secs`.
    pub fn invariant_sources(&self, redis_url: String, settle_secs: i64) -> bm_invariants::Sources {
        bm_invariants::Sources {
            strategy_db: self.strategy.infra.database_url.clone(),
            activity_db: self.activity.infra.database_url.clone(),
            award_db: self.award.infra.database_url.clone(),
            redis_url,
            strategy_redis_prefix: self.strategy.infra.redis_prefix.clone(),
            activity_redis_prefix: self.activity.infra.redis_prefix.clone(),
            settle_secs,
        }
    }

    /// A client of strategy-draw.
    pub async fn strategy_client(&self) -> StrategyServiceClient<Channel> {
        StrategyServiceClient::new(self.strategy.process.channel().await)
    }

    /// A client of activity-quota.
    pub async fn activity_client(&self) -> ActivityServiceClient<Channel> {
        ActivityServiceClient::new(self.activity.process.channel().await)
    }

    /// A client of award.
    pub async fn award_client(&self) -> AwardServiceClient<Channel> {
        AwardServiceClient::new(self.award.process.channel().await)
    }
}

// --- Replicas (issue #13): a second instance of a service on the same slice. ---------------

impl Node {
    /// Starts `service` (`strategy`, `activity` or `award`) on a fresh database with its
    /// migrations and demo data; `extra` adds settings.
    pub async fn start_service(service: &str, extra: &[(&str, &str)]) -> Self {
        Self::start(service, &migrator(service).await, &demo(service), extra, &Backends::default()).await
    }

    /// Starts one more instance of this service, with the same settings and so the same
    /// database, Redis prefix and NATS prefixes (another replica), on its own port; waits
    /// until it is SERVING.
    pub async fn replica(&self) -> ServiceProcess {
        ServiceProcess::spawn(&self.binary, &self.env).await
    }

    /// The `BM_*` settings this node's instances run with.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The value of the setting `key` (e.g. `BM_NATS__SUBJECT_PREFIX`) this node runs with.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The orchestrator's settings in front of the given instances, sharing Redis and NATS
/// (and their prefixes, so the switches) with `slice_env`, a stateful node's settings.
fn raffle_base_env(
    strategy: &ServiceProcess,
    activity: &ServiceProcess,
    award: &ServiceProcess,
    slice_env: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("BM_DOWNSTREAM__STRATEGY_URL".into(), strategy.endpoint()),
        ("BM_DOWNSTREAM__ACTIVITY_URL".into(), activity.endpoint()),
        ("BM_DOWNSTREAM__AWARD_URL".into(), award.endpoint()),
        ("BM_SHUTDOWN__DRAIN_DELAY_MS".into(), "100".into()),
    ];
    env.extend(messaging_env(slice_env));
    env
}

/// The `BM_REDIS__*` and `BM_NATS__*` settings of `slice_env` (a stateful node's settings):
/// what an orchestrator needs to share that slice's switches.
pub fn messaging_env(slice_env: &[(String, String)]) -> Vec<(String, String)> {
    slice_env.iter().filter(|(key, _)| key.starts_with("BM_REDIS__") || key.starts_with("BM_NATS__")).cloned().collect()
}

/// Starts an orchestrator in front of the given instances, sharing the switches of
/// `slice_env` (a stateful node's settings), and returns it with a client.
pub async fn start_raffle(
    strategy: &ServiceProcess,
    activity: &ServiceProcess,
    award: &ServiceProcess,
    slice_env: &[(String, String)],
) -> (ServiceProcess, RaffleServiceClient<Channel>) {
    let env = raffle_base_env(strategy, activity, award, slice_env);
    let raffle = ServiceProcess::spawn(&workspace_binary("raffle"), &env).await;
    let client = RaffleServiceClient::new(raffle.channel().await);
    (raffle, client)
}
