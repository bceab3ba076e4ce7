//! Test-only helpers. Every test gets its own Postgres database, Redis key prefix and NATS
//! subject/stream prefix, so tests run in parallel against the shared local infrastructure
//! and leave nothing behind. Missing infrastructure fails the test with a pointer to
//! `make test` / `deploy/local/infra.sh`; it never skips.
//!
//! `BMTEST_ADMIN_URL` (default `postgres://bigmarket:bigmarket@127.0.0.1:5432/postgres`)
//! must be able to create databases; `BMTEST_REDIS_URL` and `BMTEST_NATS_URL` default to
//! the standard local ports.

#![expect(clippy::missing_panics_doc, clippy::expect_used, reason = "test-only crate: a panic is a failed test")]

pub mod lifecycle;
mod nats_server;
mod otlp;
mod process;
mod proxy;
mod redis_server;
mod wait;

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool, migrate::Migrator};

pub use nats_server::NatsServer;
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use process::{ServiceProcess, free_port, list_services, list_services_v1alpha, workspace_binary};
pub use proxy::TcpProxy;
pub use redis_server::RedisServer;
pub use wait::eventually;

/// The server binary a private test server runs: `$env_var` if set, else `name` when it is
/// on the PATH, else `fallback` (Debian puts some daemons outside a user's PATH).
pub(crate) fn server_binary(env_var: &str, name: &str, fallback: &str) -> String {
    if let Ok(binary) = std::env::var(env_var) {
        return binary;
    }
    let on_path = std::process::Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if on_path { name.to_owned() } else { fallback.to_owned() }
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Waits until exactly one statement of `pool`'s database waits for a lock — the writer a
/// test blocked with an open transaction holding a row it needs.
pub async fn blocked_on_a_lock(pool: &PgPool) {
    eventually("a statement waits for the blocking transaction", || async {
        sqlx::query_as::<_, (i64,)>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .expect("read pg_stat_activity")
        .0 == 1
    })
    .await;
}

/// The admin URL used to create and drop test databases.
pub fn admin_url() -> String {
    var("BMTEST_ADMIN_URL", "postgres://bigmarket:bigmarket@127.0.0.1:5432/postgres")
}

/// The Redis URL of the tests.
pub fn redis_url() -> String {
    var("BMTEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// The NATS URL of the tests.
pub fn nats_url() -> String {
    var("BMTEST_NATS_URL", "nats://127.0.0.1:4222")
}

/// One test's isolated slice of the infrastructure.
#[derive(Debug)]
pub struct TestInfra {
    /// The test's own database.
    pub database_name: String,
    /// Its URL.
    pub database_url: String,
    /// The test's Redis key prefix (`bmtest:<id>:`).
    pub redis_prefix: String,
    /// The test's NATS subject prefix.
    pub subject_prefix: String,
    /// The test's JetStream stream / durable prefix.
    pub stream_prefix: String,
}

impl TestInfra {
    /// Creates a fresh database (and applies `migrator` when given).
    pub async fn new(migrator: Option<&Migrator>) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let short = &id[..16];
        let database_name = format!("bmtest_{short}");
        let admin = admin_url();
        let mut connection = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("cannot reach Postgres at {admin} ({e}); run `make test` or deploy/local/infra.sh first")
        });
        // The name is ours: "bmtest_" + hex digits.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database_name}")))
            .execute(&mut connection)
            .await
            .expect("create test database");
        connection.close().await.ok();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_owned();
        let infra = Self {
            database_url: format!("{base}/{database_name}"),
            database_name,
            redis_prefix: format!("bmtest:{short}:"),
            subject_prefix: format!("bmtest_{short}"),
            stream_prefix: format!("BMTEST_{}", short.to_ascii_uppercase()),
        };
        if let Some(migrator) = migrator {
            migrator.run(&infra.pool().await).await.expect("apply migrations to the test database");
        }
        infra
    }

    /// A small pool on the test database.
    pub async fn pool(&self) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&self.database_url)
            .await
            .expect("connect to the test database")
    }

    /// A Redis pool.
    pub fn redis(&self) -> deadpool_redis::Pool {
        deadpool_redis::Config::from_url(redis_url())
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .expect("redis pool")
    }

    /// The `BM_*` variables that point a service binary at this slice.
    pub fn service_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("BM_DATABASE__URL".to_owned(), self.database_url.clone())];
        env.extend(self.messaging_env());
        env
    }

    /// The `BM_REDIS__*` and `BM_NATS__*` variables of this slice (what the orchestrator,
    /// which has no database, takes).
    pub fn messaging_env(&self) -> Vec<(String, String)> {
        [
            ("BM_REDIS__URL", redis_url()),
            ("BM_REDIS__KEY_PREFIX", self.redis_prefix.clone()),
            ("BM_NATS__URL", nats_url()),
            ("BM_NATS__SUBJECT_PREFIX", self.subject_prefix.clone()),
            ("BM_NATS__STREAM_PREFIX", self.stream_prefix.clone()),
            ("BM_SHUTDOWN__DRAIN_DELAY_MS", "100".to_owned()),
            ("BM_SHUTDOWN__GRACE_MS", "5000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    async fn cleanup(&self) {
        if let Ok(mut connection) = PgConnection::connect(&admin_url()).await {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database_name);
            drop_result(sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut connection).await, "database");
        }
        if let Ok(mut connection) = self.redis().get().await {
            let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
                .arg(format!("{}*", self.redis_prefix))
                .query_async(&mut connection)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                drop_result(
                    deadpool_redis::redis::cmd("DEL").arg(&keys).query_async::<i64>(&mut connection).await,
                    "redis keys",
                );
            }
        }
        if let Ok(client) = async_nats::connect(nats_url()).await {
            let jetstream = async_nats::jetstream::new(client);
            for service in ["STRATEGY", "ACTIVITY", "AWARD", "CONTROL"] {
                let name = format!("{}_{service}", self.stream_prefix);
                if jetstream.get_stream(&name).await.is_ok() {
                    drop_result(jetstream.delete_stream(&name).await, "stream");
                }
            }
        }
    }
}

fn drop_result<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) {
    if let Err(e) = result {
        eprintln!("test cleanup: could not remove {what}: {e}");
    }
}

impl Drop for TestInfra {
    fn drop(&mut self) {
        // Drop cannot await: clean up on a thread with its own small runtime.
        let me = Self {
            database_name: self.database_name.clone(),
            database_url: self.database_url.clone(),
            redis_prefix: self.redis_prefix.clone(),
            subject_prefix: self.subject_prefix.clone(),
            stream_prefix: self.stream_prefix.clone(),
        };
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                drop(tokio::time::timeout(Duration::from_secs(20), me.cleanup()).await);
            });
            std::mem::forget(me);
        });
        drop(cleanup.join());
    }
}
