//! Connections to Postgres, Redis and NATS, each with a bounded retry at start and an
//! error that names the setting and the endpoint (never a password).

use std::time::Duration;

use async_nats::jetstream;
use deadpool_redis::{Pool as RedisPool, Runtime};
use sqlx::{PgPool, migrate::Migrator, postgres::PgPoolOptions};

use crate::config::{ConfigError, DatabaseSettings, NatsSettings, RedisSettings, redact_url};

/// Why a binary could not start. The message names the setting to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Postgres could not be reached or refused the login.
    #[error("database.url: cannot connect to {url} after {attempts} attempts")]
    Postgres {
        /// The redacted URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database: migrations failed on {url}")]
    Migrate {
        /// The redacted URL.
        url: String,
        /// The cause.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// The demo data could not be loaded.
    #[error("database: loading the demo data failed on {url}")]
    Seed {
        /// The redacted URL.
        url: String,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// `reset-demo` could not reset the database (or refused to: not a demo database).
    #[error("database: resetting the demo data failed on {url}")]
    ResetDemo {
        /// The redacted URL.
        url: String,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// `reset-demo` could not delete the service's Redis keys.
    #[error("redis.url: deleting the keys {pattern} failed at {url}: {reason}")]
    RedisReset {
        /// The redacted URL.
        url: String,
        /// The SCAN pattern.
        pattern: String,
        /// The error.
        reason: String,
    },
    /// Redis could not be reached.
    #[error("redis.url: cannot connect to {url} after {attempts} attempts: {reason}")]
    Redis {
        /// The redacted URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        reason: String,
    },
    /// NATS could not be reached or JetStream refused a stream.
    #[error("nats.url: {what} at {url}: {reason}")]
    Nats {
        /// What failed.
        what: String,
        /// The redacted URL.
        url: String,
        /// The last error.
        reason: String,
    },
    /// The gRPC port could not be bound.
    #[error("grpc.port: cannot listen on {address}")]
    Bind {
        /// `host:port`.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("grpc server failed")]
    Serve(#[source] Box<dyn std::error::Error + Send + Sync>),
}

const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Runs `attempt` until it succeeds, `attempts` times at most, `pause` apart, logging each
/// retry as "`what`, retrying" with the `url`. Gives up at once on an error `permanent` says
/// waiting cannot mend. Err: the last error and how many attempts were made.
async fn with_retries<T, E, Fut>(
    (what, url): (&str, &str),
    (attempts, pause): (u32, Duration),
    permanent: impl Fn(&E) -> bool,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, (u32, E)>
where
    E: std::fmt::Display,
    Fut: Future<Output = Result<T, E>>,
{
    let mut made = 1;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if made >= attempts || permanent(&error) => return Err((made, error)),
            Err(error) => {
                tracing::warn!(attempt = made, url, %error, "{what}, retrying");
                tokio::time::sleep(pause).await;
                made += 1;
            }
        }
    }
}

/// The pool's options. sqlx pings a connection (a Sync round trip) when it is returned to the
/// pool and, by default, again when it is handed out — one more round trip on every
/// transaction, and a wake-up of its Postgres backend, for a connection that answered moments
/// ago. Here only a connection idle for `check_idle_after_ms` or longer is pinged on acquire
/// (a dead one is dropped and another taken): one that went stale while the pool held it (a
/// Postgres restart, a proxy's idle timeout) is caught; one that broke within that window
/// fails its query, and the pool drops it when it comes back (the return ping fails).
pub fn pool_options(settings: &DatabaseSettings) -> PgPoolOptions {
    let check_idle_after = Duration::from_millis(settings.check_idle_after_ms);
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .test_before_acquire(false)
        .before_acquire(move |connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= check_idle_after {
                    use sqlx::Connection as _;
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Connects the pool, retrying up to `database.connect_attempts` times.
pub async fn connect_postgres(settings: &DatabaseSettings) -> Result<PgPool, StartupError> {
    let options = pool_options(settings);
    let url = settings.redacted_url();
    with_retries(
        ("postgres not reachable yet", &url),
        (settings.connect_attempts, RETRY_PAUSE),
        // A malformed URL does not get better by waiting; anything else might (Postgres
        // still starting, network not up yet).
        |error| matches!(error, sqlx::Error::Configuration(_)),
        // One plain connection first: the pool would hide the real reason behind "timed out".
        || async {
            use sqlx::Connection as _;
            sqlx::PgConnection::connect(&settings.url).await?.close().await?;
            options.clone().connect(&settings.url).await
        },
    )
    .await
    .map_err(|(attempts, source)| StartupError::Postgres { url, attempts, source })
}

/// Connects and applies `migrator`.
pub async fn connect_and_migrate(settings: &DatabaseSettings, migrator: &Migrator) -> Result<PgPool, StartupError> {
    let pool = connect_postgres(settings).await?;
    migrate(&pool, settings, migrator).await?;
    Ok(pool)
}

/// Applies `migrator` to `pool`.
pub async fn migrate(pool: &PgPool, settings: &DatabaseSettings, migrator: &Migrator) -> Result<(), StartupError> {
    migrator.run(pool).await.map_err(|source| StartupError::Migrate { url: settings.redacted_url(), source })?;
    tracing::info!(url = %settings.redacted_url(), "migrations applied");
    Ok(())
}

/// Runs a demo-data script (idempotent SQL, several statements) in one transaction.
pub async fn seed(pool: &PgPool, settings: &DatabaseSettings, script: &'static str) -> Result<(), StartupError> {
    let run = async {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(script).execute(&mut *tx).await?;
        tx.commit().await
    };
    run.await.map_err(|source| StartupError::Seed { url: settings.redacted_url(), source })?;
    tracing::info!(url = %settings.redacted_url(), "demo data loaded");
    Ok(())
}

/// Builds the Redis pool and checks it with a PING, retrying up to
/// `redis.connect_attempts` times.
pub async fn connect_redis(settings: &RedisSettings) -> Result<RedisPool, StartupError> {
    let url = redact_url(&settings.url);
    let failed = |attempts, reason: String| StartupError::Redis { url: url.clone(), attempts, reason };
    let mut config = deadpool_redis::Config::from_url(settings.url.clone());
    config.pool = Some(deadpool_redis::PoolConfig::new(settings.pool_size));
    let pool = config.create_pool(Some(Runtime::Tokio1)).map_err(|e| failed(0, e.to_string()))?;
    with_retries(
        ("redis not reachable yet", &url),
        (settings.connect_attempts, RETRY_PAUSE),
        |_| false,
        || ping_redis(&pool),
    )
    .await
    .map_err(|(attempts, reason)| failed(attempts, reason))?;
    Ok(pool)
}

/// One PING through the pool.
pub async fn ping_redis(pool: &RedisPool) -> Result<(), String> {
    let mut connection = pool.get().await.map_err(|e| e.to_string())?;
    deadpool_redis::redis::cmd("PING").query_async::<String>(&mut connection).await.map(drop).map_err(|e| e.to_string())
}

/// Connects to NATS, retrying up to `nats.connect_attempts` times.
pub async fn connect_nats(settings: &NatsSettings) -> Result<async_nats::Client, StartupError> {
    let url = redact_url(&settings.url);
    with_retries(
        ("nats not reachable yet", &url),
        (settings.connect_attempts, RETRY_PAUSE),
        |_| false,
        || {
            async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(2))
                .name(env!("CARGO_PKG_NAME"))
                .connect(settings.url.as_str())
        },
    )
    .await
    .map_err(|(attempts, error)| StartupError::Nats {
        what: format!("cannot connect after {attempts} attempts"),
        url,
        reason: error.to_string(),
    })
}

/// Creates (or finds) the JetStream stream of `service`: `<stream_prefix>_<SERVICE>` over
/// `<subject_prefix>.<service>.>`, file storage, a 2-minute de-duplication window for
/// `Nats-Msg-Id`. Idempotent, also when several processes start at once: a create that
/// loses the race to another process (JetStream then answers "subjects overlap") finds the
/// stream that process made. A create the server fails is tried again, `STREAM_ATTEMPTS`
/// times in all: nats-server 2.9 removes an account's store directory with its last stream,
/// and a stream created at that moment fails with "error creating store for stream"
/// (10049) — seen in CI while parallel tests dropped their streams.
pub async fn ensure_stream(
    client: &async_nats::Client,
    settings: &NatsSettings,
    service: &str,
) -> Result<jetstream::Context, StartupError> {
    let context = jetstream::new(client.clone());
    let config = jetstream::stream::Config {
        name: settings.stream(service),
        subjects: vec![format!("{}.{service}.>", settings.subject_prefix)],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_mins(2),
        max_age: Duration::from_hours(7 * 24),
        ..Default::default()
    };
    let (name, url) = (config.name.clone(), redact_url(&settings.url));
    let what = format!("cannot create JetStream stream {name}");
    with_retries(
        (&what, &url),
        (STREAM_ATTEMPTS, STREAM_RETRY_PAUSE),
        |_| false,
        || async {
            match context.get_or_create_stream(config.clone()).await {
                Ok(_) => Ok(()),
                Err(_) if context.get_stream(&name).await.is_ok() => Ok(()),
                Err(error) => Err(error),
            }
        },
    )
    .await
    .map_err(|(_, error)| StartupError::Nats { what, url, reason: error.to_string() })?;
    Ok(context)
}

/// How often `ensure_stream` asks the server to create a stream before giving up.
const STREAM_ATTEMPTS: u32 = 5;
/// The pause between those attempts.
const STREAM_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The connections a service with state holds: its database, Redis and NATS (JetStream).
#[derive(Clone)]
pub struct Backends {
    /// The service's own database.
    pub pool: PgPool,
    /// Redis.
    pub redis: RedisPool,
    /// The NATS client.
    pub nats: async_nats::Client,
    /// JetStream over `nats`, with the service's stream created.
    pub jetstream: jetstream::Context,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends").finish_non_exhaustive()
    }
}

impl Backends {
    /// Connects everything `service` needs (migrating when `database.migrate` is on) and
    /// creates its JetStream stream.
    pub async fn connect(
        service: &str,
        database: &DatabaseSettings,
        redis: &RedisSettings,
        nats: &NatsSettings,
        migrator: &Migrator,
    ) -> Result<Self, StartupError> {
        let pool = connect_postgres(database).await?;
        if database.migrate {
            migrate(&pool, database, migrator).await?;
        }
        let redis = connect_redis(redis).await?;
        let client = connect_nats(nats).await?;
        let jetstream = ensure_stream(&client, nats, service).await?;
        Ok(Self { pool, redis, nats: client, jetstream })
    }

    /// Health checks of the three connections.
    pub fn health_checks(&self) -> [(&'static str, crate::HealthCheck); 3] {
        let pool = self.pool.clone();
        let redis = self.redis.clone();
        let nats = self.nats.clone();
        [
            (
                "postgres",
                std::sync::Arc::new(move || {
                    let pool = pool.clone();
                    Box::pin(async move {
                        metrics::gauge!("bm_db_pool_connections", "state" => "open").set(f64::from(pool.size()));
                        #[expect(clippy::cast_precision_loss, reason = "a pool size")]
                        let idle = pool.num_idle() as f64;
                        metrics::gauge!("bm_db_pool_connections", "state" => "idle").set(idle);
                        sqlx::query("SELECT 1").execute(&pool).await.map(drop).map_err(|e| e.to_string())
                    })
                }),
            ),
            (
                "redis",
                std::sync::Arc::new(move || {
                    let redis = redis.clone();
                    Box::pin(async move {
                        let status = redis.status();
                        #[expect(clippy::cast_precision_loss, reason = "a pool size")]
                        let (size, available) = (status.size as f64, status.available as f64);
                        metrics::gauge!("bm_redis_pool_connections", "state" => "open").set(size);
                        metrics::gauge!("bm_redis_pool_connections", "state" => "idle").set(available);
                        ping_redis(&redis).await
                    })
                }),
            ),
            (
                "nats",
                std::sync::Arc::new(move || {
                    let state = nats.connection_state();
                    Box::pin(async move {
                        match state {
                            async_nats::connection::State::Connected => Ok(()),
                            other => Err(format!("connection {other}")),
                        }
                    })
                }),
            ),
        ]
    }
}

/// Handles `migrate`, `seed` and `reset-demo`: connects, migrates, then loads the demo data
/// (`seed`) or puts it back to its initial state (`reset-demo`, which also deletes the
/// service's Redis keys and prints what it did). Returns `false` for `serve`, which the
/// caller handles.
pub async fn run_database_command(
    command: crate::Command,
    database: &DatabaseSettings,
    redis: &RedisSettings,
    migrator: &Migrator,
    demo: &crate::DemoData,
) -> Result<bool, StartupError> {
    if command == crate::Command::Serve {
        return Ok(false);
    }
    let pool = connect_and_migrate(database, migrator).await?;
    let done = match command {
        crate::Command::Seed => seed(&pool, database, demo.seed).await,
        crate::Command::ResetDemo => crate::demo::reset(&pool, database, redis, demo).await.map(|report| {
            let keys = demo.redis_namespace.map_or_else(
                || "it keeps no redis keys".to_owned(),
                |namespace| format!("{} redis keys under {}{namespace} deleted", report.redis_keys, redis.key_prefix),
            );
            #[expect(
                clippy::print_stdout,
                reason = "the command's report to the operator (deploy/local/reset-demo.sh)"
            )]
            {
                println!(
                    "demo data reset on {}: {} rows deleted or restored, demo data re-applied; {keys}",
                    database.redacted_url(),
                    report.rows
                );
            }
        }),
        crate::Command::Serve | crate::Command::Migrate => Ok(()),
    };
    pool.close().await;
    done.map(|()| true)
}
