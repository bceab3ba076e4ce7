//! Typed, layered configuration: defaults → YAML file (`BM_CONFIG`, optional) → `BM_*`
//! environment variables (`__` separates levels: `BM_GRPC__PORT=50051`,
//! `BM_DATABASE__URL=postgres://…`). Validated at start with an error naming the key.

use std::{fmt, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Yaml},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A configuration error; the message names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable could not be read or has the wrong type.
    #[error("invalid configuration")]
    Load(#[from] Box<figment::Error>),
    /// A value has the right type but is not acceptable.
    #[error("invalid configuration: {key}: {reason}")]
    Invalid {
        /// The dotted key, e.g. `grpc.port`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ConfigError {
    /// An `Invalid` error for `key`.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { key: key.into(), reason: reason.into() }
    }
}

/// Checks a loaded configuration beyond its types.
pub trait Validate {
    /// Fails with the first bad key.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Loads `T` from its defaults, the YAML file named by `BM_CONFIG` (if set) and the `BM_*`
/// environment, then validates it.
pub fn load<T>() -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    let file = std::env::var_os("BM_CONFIG").map(PathBuf::from);
    load_from(file, Env::prefixed("BM_").split("__").ignore(&["config"]))
}

fn load_from<T>(file: Option<PathBuf>, env: Env) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(file) = file {
        if !file.is_file() {
            return Err(ConfigError::invalid("BM_CONFIG", format!("{} is not a readable file", file.display())));
        }
        figment = figment.merge(Yaml::file(file));
    }
    let settings: T = figment.merge(env).extract().map_err(Box::new)?;
    settings.validate()?;
    Ok(settings)
}

/// Where the gRPC server listens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcSettings {
    /// Interface to bind, e.g. `127.0.0.1` or `0.0.0.0`.
    pub host: String,
    /// TCP port (0 = any free port, logged at start).
    pub port: u16,
}

impl GrpcSettings {
    /// Settings for `port` on loopback.
    pub fn on_port(port: u16) -> Self {
        Self { host: "127.0.0.1".into(), port }
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Checks the keys under `grpc`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.address()
            .parse::<std::net::SocketAddr>()
            .map(drop)
            .map_err(|e| ConfigError::invalid("grpc.host", format!("{:?} is not an IP address: {e}", self.host)))
    }
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self::on_port(0)
    }
}

/// Log output.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `human` or `json`.
    pub format: LogFormat,
    /// An `EnvFilter` directive used when `RUST_LOG` is not set.
    pub level: String,
    /// OTLP/gRPC collector for OpenTelemetry traces, e.g. `http://otel-collector:4317`;
    /// empty (the default) = no traces exported.
    pub otlp_endpoint: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::Human, level: "info".into(), otlp_endpoint: String::new() }
    }
}

/// The service's Postgres database.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long a query may wait for a pooled connection, in milliseconds.
    pub acquire_timeout_ms: u64,
    /// A pooled connection idle at least this long (milliseconds) is pinged before it is
    /// handed out, and replaced if dead; one used more recently is handed out as is (the pool
    /// pings every connection when it is returned, so it answered moments ago). 0 = ping on
    /// every acquire (sqlx's default: one more round trip per transaction). See
    /// docs/operations.md.
    pub check_idle_after_ms: u64,
    /// Connection attempts at start before giving up (one per second).
    pub connect_attempts: u32,
    /// Apply pending migrations when serving.
    pub migrate: bool,
}

impl DatabaseSettings {
    /// Defaults for the database `name` on the local Postgres.
    pub fn local(name: &str) -> Self {
        Self {
            url: format!("postgres://bigmarket:bigmarket@127.0.0.1:5432/{name}"),
            max_connections: 16,
            acquire_timeout_ms: 3_000,
            check_idle_after_ms: 1_000,
            connect_attempts: 10,
            migrate: true,
        }
    }

    /// The URL with its password replaced by `[redacted]`, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Checks the keys under `prefix` (e.g. `database`).
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if !(self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")) {
            return Err(ConfigError::invalid(
                format!("{prefix}.url"),
                format!("{} is not a postgres:// URL", self.redacted_url()),
            ));
        }
        positive(&format!("{prefix}.max_connections"), u64::from(self.max_connections))?;
        positive(&format!("{prefix}.connect_attempts"), u64::from(self.connect_attempts))?;
        positive(&format!("{prefix}.acquire_timeout_ms"), self.acquire_timeout_ms)
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("check_idle_after_ms", &self.check_idle_after_ms)
            .field("connect_attempts", &self.connect_attempts)
            .field("migrate", &self.migrate)
            .finish()
    }
}

/// Redis: stock counters and hot state.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[:password@]host:port[/db]`.
    pub url: String,
    /// Prepended to every key, so tests and environments can share one Redis.
    pub key_prefix: String,
    /// Pool size.
    pub pool_size: usize,
    /// Connection attempts at start before giving up (one per second).
    pub connect_attempts: u32,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self { url: "redis://127.0.0.1:6379".into(), key_prefix: "bm:".into(), pool_size: 32, connect_attempts: 10 }
    }
}

impl RedisSettings {
    /// Checks the keys under `redis`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("redis://") || self.url.starts_with("rediss://")) {
            return Err(ConfigError::invalid("redis.url", format!("{} is not a redis:// URL", redact_url(&self.url))));
        }
        positive("redis.pool_size", self.pool_size as u64)?;
        positive("redis.connect_attempts", u64::from(self.connect_attempts))
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("pool_size", &self.pool_size)
            .field("connect_attempts", &self.connect_attempts)
            .finish()
    }
}

/// NATS JetStream: events between and inside services.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct NatsSettings {
    /// `nats://host:port`.
    pub url: String,
    /// The first token of every subject (`bigmarket` → `bigmarket.award.send_award`).
    pub subject_prefix: String,
    /// The first part of every stream and durable consumer name (`BIGMARKET` →
    /// `BIGMARKET_AWARD`).
    pub stream_prefix: String,
    /// Connection attempts at start before giving up (one per second).
    pub connect_attempts: u32,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            subject_prefix: "bigmarket".into(),
            stream_prefix: "BIGMARKET".into(),
            connect_attempts: 10,
        }
    }
}

impl NatsSettings {
    /// Checks the keys under `nats`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("nats://") || self.url.starts_with("tls://")) {
            return Err(ConfigError::invalid("nats.url", format!("{} is not a nats:// URL", redact_url(&self.url))));
        }
        let token_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !token_ok(&self.subject_prefix) {
            return Err(ConfigError::invalid("nats.subject_prefix", "must be one subject token of [A-Za-z0-9_-]"));
        }
        if !token_ok(&self.stream_prefix) {
            return Err(ConfigError::invalid("nats.stream_prefix", "must be [A-Za-z0-9_-]+"));
        }
        positive("nats.connect_attempts", u64::from(self.connect_attempts))
    }

    /// The subject `<subject_prefix>.<service>.<event>`.
    pub fn subject(&self, service: &str, event: &str) -> String {
        format!("{}.{service}.{event}", self.subject_prefix)
    }

    /// The stream of a service: `<stream_prefix>_<SERVICE>`.
    pub fn stream(&self, service: &str) -> String {
        format!("{}_{}", self.stream_prefix, service.to_ascii_uppercase())
    }
}

/// Graceful shutdown timing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownSettings {
    /// After SIGTERM, how long health says NOT_SERVING before the server stops accepting
    /// calls (so load balancers and readiness probes see it first), in milliseconds.
    pub drain_delay_ms: u64,
    /// How long in-flight calls and workers may take to finish, in milliseconds.
    pub grace_ms: u64,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self { drain_delay_ms: 1_000, grace_ms: 10_000 }
    }
}

fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 { Err(ConfigError::invalid(key, "must be greater than 0")) } else { Ok(()) }
}

/// Replaces the password of a URL (`scheme://user:password@host`) with `[redacted]`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:[redacted]@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
#[expect(clippy::result_large_err, reason = "figment::Jail's closures return figment::Error")]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct TestSettings {
        grpc: GrpcSettings,
        database: DatabaseSettings,
        nats: NatsSettings,
    }

    impl Default for TestSettings {
        fn default() -> Self {
            Self {
                grpc: GrpcSettings::on_port(50051),
                database: DatabaseSettings::local("bm_test"),
                nats: NatsSettings::default(),
            }
        }
    }

    impl Validate for TestSettings {
        fn validate(&self) -> Result<(), ConfigError> {
            self.grpc.validate()?;
            self.database.validate("database")?;
            self.nats.validate()
        }
    }

    fn env() -> Env {
        Env::prefixed("BM_").split("__").ignore(&["config"])
    }

    #[test]
    fn layers_defaults_then_file_then_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bm.yaml", "grpc:\n  port: 6000\n  host: 0.0.0.0\ndatabase:\n  max_connections: 4\n")?;
            jail.set_env("BM_GRPC__PORT", "7000");
            let s: TestSettings = load_from(Some("bm.yaml".into()), env()).unwrap();
            assert_eq!(s.grpc, GrpcSettings { host: "0.0.0.0".into(), port: 7000 }, "env wins over file");
            assert_eq!(s.database.max_connections, 4, "file wins over defaults");
            assert_eq!(s.database.url, DatabaseSettings::local("bm_test").url, "defaults fill the rest");
            Ok(())
        });
    }

    #[test]
    fn malformed_port_names_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BM_GRPC__PORT", "fifty");
            let err = bm_status::ErrorChain(&load_from::<TestSettings>(None, env()).unwrap_err()).to_string();
            assert!(err.to_lowercase().contains("grpc.port"), "{err}");
            assert!(err.contains("BM_"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BM_DATABASE__URL", "mysql://root:secret@db/x");
            let err = load_from::<TestSettings>(None, env()).unwrap_err().to_string();
            assert!(err.contains("database.url"), "{err}");
            assert!(!err.contains("secret"), "passwords never reach a message: {err}");
            jail.set_env("BM_DATABASE__URL", "postgres://a@b/c");
            jail.set_env("BM_NATS__SUBJECT_PREFIX", "a.b");
            let err = load_from::<TestSettings>(None, env()).unwrap_err().to_string();
            assert!(err.contains("nats.subject_prefix"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BM_GRPC__PROT", "1");
            let err = bm_status::ErrorChain(&load_from::<TestSettings>(None, env()).unwrap_err()).to_string();
            assert!(err.contains("prot"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let err = load_from::<TestSettings>(Some("/nonexistent/bm.yaml".into()), env()).unwrap_err().to_string();
        assert!(err.contains("BM_CONFIG"), "{err}");
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(redact_url("postgres://u:p@h:5432/d"), "postgres://u:[redacted]@h:5432/d");
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        let debug = format!(
            "{:?}",
            DatabaseSettings { url: "postgres://u:hunter2@h/d".into(), ..DatabaseSettings::local("d") }
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}

/// The port, database name and extra settings of a service that owns state.
pub trait ServiceDefaults: Default + Clone + fmt::Debug + Serialize + DeserializeOwned {
    /// The default gRPC port.
    const PORT: u16;
    /// The default database name on the local Postgres.
    const DATABASE: &'static str;

    /// Checks the service's own keys (under `service`).
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// The whole configuration of a service with a database, Redis and NATS; `service` holds
/// what only that service has (`BM_SERVICE__…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatefulSettings<X> {
    /// gRPC listener.
    pub grpc: GrpcSettings,
    /// Logging.
    pub log: LogSettings,
    /// The service's database.
    pub database: DatabaseSettings,
    /// Redis.
    pub redis: RedisSettings,
    /// NATS.
    pub nats: NatsSettings,
    /// Shutdown timing.
    pub shutdown: ShutdownSettings,
    /// Prometheus metrics.
    pub metrics: crate::metrics::MetricsSettings,
    /// The service's own settings.
    pub service: X,
    /// The internal token callers must present (`BM_AUTH__INTERNAL_TOKEN`).
    pub auth: crate::auth::AuthSettings,
}

impl<X: ServiceDefaults> Default for StatefulSettings<X> {
    fn default() -> Self {
        Self {
            grpc: GrpcSettings::on_port(X::PORT),
            log: LogSettings::default(),
            database: DatabaseSettings::local(X::DATABASE),
            redis: RedisSettings::default(),
            nats: NatsSettings::default(),
            shutdown: ShutdownSettings::default(),
            metrics: crate::metrics::MetricsSettings::default(),
            service: X::default(),
            auth: crate::auth::AuthSettings::default(),
        }
    }
}

impl<X: ServiceDefaults> Validate for StatefulSettings<X> {
    fn validate(&self) -> Result<(), ConfigError> {
        self.grpc.validate()?;
        self.database.validate("database")?;
        self.redis.validate()?;
        self.nats.validate()?;
        self.auth.validate_internal()?;
        self.service.validate()
    }
}

impl<X: ServiceDefaults> crate::ServiceSettings for StatefulSettings<X> {
    fn log(&self) -> &LogSettings {
        &self.log
    }
}
