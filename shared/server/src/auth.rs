//! Caller authentication (docs/security.md).
//!
//! - The orchestrator knows its **callers**: each has a name, the SHA-256 of its bearer token
//!   and the methods it may call. A call without a known token is `UNAUTHENTICATED` / `0008`;
//!   a known caller calling a method it is not allowed is `PERMISSION_DENIED` / `0008`.
//! - The internal services accept only the orchestrator: every call must carry the **internal
//!   token**, a shared secret (the orchestrator sends it on every downstream call).
//!
//! Both arrive as `authorization: Bearer <token>` metadata. Health and reflection stay open;
//! the orchestrator's `RaffleService/Rebate` authenticates its app from the request itself
//! ([`APP_AUTHENTICATED`]).
//! Tokens are never stored or logged in clear on the caller side: the callers file holds
//! hashes; the internal token is a secret compared by hash in constant time.

use std::{
    collections::HashMap,
    fmt,
    path::Path,
    sync::Arc,
    task::{Context, Poll},
};

use bm_status::ErrorCode;
use futures_util::future::{Either, Ready, ready};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::codegen::http;

use crate::ConfigError;

/// The metadata key carrying the bearer token.
pub const AUTHORIZATION: &str = "authorization";

/// Authentication settings (`auth.*`, `BM_AUTH__…`).
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// The shared secret between the orchestrator and the internal services. Internal
    /// services refuse calls without it; the orchestrator sends it. Empty = off.
    pub internal_token: String,
    /// Orchestrator only: a YAML file listing the callers (`callers: [{name, token_sha256,
    /// methods}]`). Empty = caller authentication off (the `make up` demo).
    pub callers_file: String,
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("internal_token", &if self.internal_token.is_empty() { "" } else { "<redacted>" })
            .field("callers_file", &self.callers_file)
            .finish()
    }
}

/// The smallest internal token accepted, in bytes.
const MIN_TOKEN_BYTES: usize = 16;

impl AuthSettings {
    /// Checks the keys of an internal service (which has no callers file).
    pub fn validate_internal(&self) -> Result<(), ConfigError> {
        if !self.callers_file.is_empty() {
            return Err(ConfigError::invalid(
                "auth.callers_file",
                "only the orchestrator has callers; internal services take auth.internal_token",
            ));
        }
        self.validate_token()
    }

    fn validate_token(&self) -> Result<(), ConfigError> {
        if !self.internal_token.is_empty() && self.internal_token.len() < MIN_TOKEN_BYTES {
            return Err(ConfigError::invalid(
                "auth.internal_token",
                format!("must be at least {MIN_TOKEN_BYTES} characters (or empty = off)"),
            ));
        }
        if self.internal_token.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ConfigError::invalid("auth.internal_token", "must not contain spaces or control characters"));
        }
        Ok(())
    }

    /// The policy of an internal service: only the internal token, or open when unset.
    pub fn internal_policy(&self) -> Policy {
        if self.internal_token.is_empty() {
            Policy::Open
        } else {
            Policy::Internal { token_sha256: sha256(self.internal_token.as_bytes()) }
        }
    }

    /// The orchestrator's policy: its callers (loaded from `callers_file`, whose methods
    /// must name one of `services`), or open when no file is set.
    pub fn caller_policy(&self, services: &[&str]) -> Result<Policy, ConfigError> {
        self.validate_token()?;
        if self.callers_file.is_empty() {
            return Ok(Policy::Open);
        }
        let callers = load_callers(Path::new(&self.callers_file), services)
            .map_err(|reason| ConfigError::invalid("auth.callers_file", reason))?;
        Ok(Policy::Callers(Arc::new(callers)))
    }
}

/// Who is calling (in the request extensions of every authenticated call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Arc<str>);

impl Caller {
    /// The caller's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The caller of `request`, or `anonymous` when authentication is off.
    pub fn of<T>(request: &tonic::Request<T>) -> String {
        request.extensions().get::<Self>().map_or_else(|| "anonymous".to_owned(), |caller| caller.name().to_owned())
    }
}

/// One entry of the callers file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerEntry {
    name: String,
    token_sha256: String,
    methods: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallersFile {
    callers: Vec<CallerEntry>,
}

/// A method pattern: `*`, `<package.Service>/*` or `<package.Service>/<Method>`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Service(String),
    Method(String),
}

impl Pattern {
    fn parse(text: &str, services: &[&str]) -> Result<Self, String> {
        if text == "*" {
            return Ok(Self::Any);
        }
        let Some((service, method)) = text.split_once('/') else {
            return Err(format!("method {text:?} is not `*`, `<package.Service>/*` or `<package.Service>/<Method>`"));
        };
        if !services.contains(&service) {
            return Err(format!("method {text:?} names service {service:?}, which is not one of {services:?}"));
        }
        match method {
            "*" => Ok(Self::Service(format!("/{service}/"))),
            m if !m.is_empty() && m.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(Self::Method(format!("/{text}"))),
            _ => Err(format!("method {text:?} has no valid method name after '/'")),
        }
    }

    /// Whether the request path `/package.Service/Method` matches.
    fn matches(&self, path: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Service(prefix) => path.starts_with(prefix.as_str()),
            Self::Method(full) => path == full,
        }
    }
}

#[derive(Debug)]
struct Allowed {
    caller: Caller,
    methods: Vec<Pattern>,
}

/// The callers by token hash.
#[derive(Debug)]
pub struct Callers(HashMap<[u8; 32], Allowed>);

fn load_callers(file: &Path, services: &[&str]) -> Result<Callers, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    parse_callers(&text, services)
}

fn parse_callers(text: &str, services: &[&str]) -> Result<Callers, String> {
    let parsed: CallersFile =
        figment::Figment::from(<figment::providers::Yaml as figment::providers::Format>::string(text))
            .extract()
            .map_err(|e| format!("not a callers file: {e}"))?;
    let mut callers = HashMap::new();
    let mut names = std::collections::HashSet::new();
    for entry in parsed.callers {
        let name = entry.name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(format!("caller name {:?} must be 1-64 printable characters", entry.name));
        }
        if !names.insert(name.to_owned()) {
            return Err(format!("caller {name:?} is listed twice"));
        }
        let hash = from_hex(&entry.token_sha256)
            .ok_or_else(|| format!("caller {name:?}: token_sha256 must be 64 hex digits (sha256sum of the token)"))?;
        if entry.methods.is_empty() {
            return Err(format!("caller {name:?} has no methods"));
        }
        let methods = entry
            .methods
            .iter()
            .map(|m| Pattern::parse(m, services).map_err(|e| format!("caller {name:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let allowed = Allowed { caller: Caller(name.into()), methods };
        if callers.insert(hash, allowed).is_some() {
            return Err(format!("caller {name:?} shares its token with another caller"));
        }
    }
    if callers.is_empty() {
        return Err("the callers list is empty: nobody could call".into());
    }
    Ok(Callers(callers))
}

/// Who may call a server.
#[derive(Debug, Clone, Default)]
pub enum Policy {
    /// Everyone (authentication off).
    #[default]
    Open,
    /// Only holders of the internal token (internal services).
    Internal {
        /// SHA-256 of the internal token.
        token_sha256: [u8; 32],
    },
    /// Known callers, each limited to its methods (the orchestrator).
    Callers(Arc<Callers>),
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No `authorization: Bearer …` metadata.
    Missing,
    /// A token nobody holds.
    Unknown,
    /// A known caller, not allowed this method.
    Forbidden(Arc<str>),
}

impl Denied {
    /// The gRPC status of the refusal (`0008` either way).
    pub fn status(&self, path: &str) -> tonic::Status {
        match self {
            Self::Missing => bm_status::to_status(
                ErrorCode::AppTokenError,
                "missing credentials: send `authorization: Bearer <token>` metadata",
            ),
            Self::Unknown => bm_status::to_status(ErrorCode::AppTokenError, "invalid credentials: unknown token"),
            Self::Forbidden(caller) => bm_status::to_status_with(
                ErrorCode::AppTokenError,
                tonic::Code::PermissionDenied,
                format!("caller {caller:?} is not allowed to call {path}"),
            ),
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Unknown => "unknown",
            Self::Forbidden(_) => "forbidden",
        }
    }
}

impl Policy {
    /// Whether this policy checks anything.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open)
    }

    /// Checks a call of `path` carrying the `authorization` value `header`; `Ok(Some(caller))`
    /// for a known caller, `Ok(None)` when there is nobody to name (open, or internal).
    pub fn check(&self, path: &str, header: Option<&[u8]>) -> Result<Option<Caller>, Denied> {
        if matches!(self, Self::Open) || is_open_path(path) || (matches!(self, Self::Callers(_)) && is_app_path(path)) {
            return Ok(None);
        }
        let token = header.and_then(|value| value.strip_prefix(b"Bearer ")).ok_or(Denied::Missing)?;
        let hash = sha256(token);
        match self {
            Self::Open => Ok(None),
            Self::Internal { token_sha256 } => {
                if constant_time_eq(&hash, token_sha256) {
                    Ok(None)
                } else {
                    Err(Denied::Unknown)
                }
            }
            Self::Callers(callers) => {
                let allowed = callers.0.get(&hash).ok_or(Denied::Unknown)?;
                if allowed.methods.iter().any(|pattern| pattern.matches(path)) {
                    Ok(Some(allowed.caller.clone()))
                } else {
                    Err(Denied::Forbidden(allowed.caller.0.clone()))
                }
            }
        }
    }
}

/// Health and reflection need no credentials (probes, grpcurl discovery).
fn is_open_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// The orchestrator's methods that authenticate their caller themselves, from fields of the
/// request, so the callers file does not apply to them: `RaffleService/Rebate` (an external
/// payment system's app_id + app_token, checked against the orchestrator's rebate apps;
/// docs/security.md). Only the callers policy lets them through: an internal service never
/// serves them, and the internal token is not the apps' business.
pub const APP_AUTHENTICATED: [&str; 1] = ["/bigmarket.raffle.v1.RaffleService/Rebate"];

fn is_app_path(path: &str) -> bool {
    APP_AUTHENTICATED.contains(&path)
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex of the SHA-256 of `token` (what the callers file holds).
pub fn token_sha256_hex(token: &str) -> String {
    use std::fmt::Write as _;
    sha256(token.as_bytes()).iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The 32 bytes of a SHA-256 written as 64 hex digits (surrounding spaces ignored).
pub fn from_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0_u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Whether two hashes are equal, in time independent of where they differ.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `authorization` value that carries `token`, for clients.
pub fn bearer(token: &str) -> Result<tonic::metadata::MetadataValue<tonic::metadata::Ascii>, ConfigError> {
    format!("Bearer {token}").parse().map_err(|_| ConfigError::invalid("auth", "the token is not valid ASCII metadata"))
}

/// Tower layer of the gRPC servers enforcing a [`Policy`].
#[derive(Debug, Clone, Default)]
pub struct AuthLayer {
    policy: Arc<Policy>,
}

impl AuthLayer {
    /// A layer enforcing `policy`.
    pub fn new(policy: Policy) -> Self {
        Self { policy: Arc::new(policy) }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, policy: self.policy.clone() }
    }
}

/// The service of [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        match self.policy.check(path, request.headers().get(AUTHORIZATION).map(http::HeaderValue::as_bytes)) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    tracing::Span::current().record("caller", caller.name());
                    request.extensions_mut().insert(caller);
                }
                Either::Left(self.inner.call(request))
            }
            Err(denied) => {
                tracing::warn!(path, reason = denied.reason(), "call refused: authentication");
                metrics::counter!("bm_auth_refused_total", "reason" => denied.reason()).increment(1);
                Either::Right(ready(Ok(denied.status(path).into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAFFLE: &str = "bigmarket.raffle.v1.RaffleService";
    const ADMIN: &str = "bigmarket.admin.v1.AdminService";

    fn callers() -> Policy {
        let text = format!(
            "callers:\n  - name: shop\n    token_sha256: {}\n    methods: [\"{RAFFLE}/*\"]\n  - name: ops\n    token_sha256: {}\n    methods: [\"*\"]\n  - name: reader\n    token_sha256: {}\n    methods: [\"{RAFFLE}/GetActivity\"]\n",
            token_sha256_hex("shop-token"),
            token_sha256_hex("ops-token"),
            token_sha256_hex("reader-token"),
        );
        Policy::Callers(Arc::new(parse_callers(&text, &[RAFFLE, ADMIN]).unwrap()))
    }

    #[test]
    fn callers_are_limited_to_their_methods() {
        let policy = callers();
        let draw = format!("/{RAFFLE}/Draw");
        let admin = format!("/{ADMIN}/SetSwitch");
        assert_eq!(policy.check(&draw, Some(b"Bearer shop-token")).unwrap().unwrap().name(), "shop");
        assert_eq!(policy.check(&admin, Some(b"Bearer shop-token")), Err(Denied::Forbidden("shop".into())));
        assert_eq!(policy.check(&admin, Some(b"Bearer ops-token")).unwrap().unwrap().name(), "ops");
        assert!(policy.check(&format!("/{RAFFLE}/GetActivity"), Some(b"Bearer reader-token")).is_ok());
        assert!(policy.check(&draw, Some(b"Bearer reader-token")).is_err());
        assert_eq!(policy.check(&draw, None), Err(Denied::Missing));
        assert_eq!(policy.check(&draw, Some(b"shop-token")), Err(Denied::Missing), "the Bearer scheme is required");
        assert_eq!(policy.check(&draw, Some(b"Bearer shop-tokem")), Err(Denied::Unknown));
        assert_eq!(policy.check("/grpc.health.v1.Health/Check", None), Ok(None), "health stays open");
        assert_eq!(policy.check("/grpc.reflection.v1alpha.ServerReflection/X", None), Ok(None));
        let rebate = format!("/{RAFFLE}/Rebate");
        assert_eq!(policy.check(&rebate, None), Ok(None), "Rebate authenticates its app itself");
        assert_eq!(policy.check(&rebate, Some(b"Bearer reader-token")), Ok(None));
    }

    #[test]
    fn internal_token_and_open_policies() {
        let settings = AuthSettings { internal_token: "0123456789abcdef-internal".into(), callers_file: String::new() };
        let policy = settings.internal_policy();
        assert_eq!(policy.check("/x.Y/Z", Some(b"Bearer 0123456789abcdef-internal")), Ok(None));
        assert_eq!(policy.check("/x.Y/Z", Some(b"Bearer 0123456789abcdef-internam")), Err(Denied::Unknown));
        assert_eq!(policy.check("/x.Y/Z", None), Err(Denied::Missing));
        assert_eq!(
            policy.check(APP_AUTHENTICATED[0], None),
            Err(Denied::Missing),
            "only the callers policy exempts it"
        );
        assert!(AuthSettings::default().internal_policy().is_open());
        assert_eq!(Policy::Open.check("/x.Y/Z", None), Ok(None));
    }

    #[test]
    fn refusals_carry_0008_with_the_right_grpc_code() {
        let status = Denied::Missing.status("/a.B/C");
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(bm_status::code_of(&status), Some(ErrorCode::AppTokenError));
        let status = Denied::Forbidden("shop".into()).status("/a.B/C");
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert_eq!(bm_status::code_of(&status), Some(ErrorCode::AppTokenError));
        assert!(status.message().contains("shop") && status.message().contains("/a.B/C"));
    }

    #[test]
    fn bad_callers_files_are_refused_with_the_reason() {
        let services = [RAFFLE];
        let hash = token_sha256_hex("t");
        for (text, expected) in [
            ("callers: []\n".to_owned(), "empty"),
            ("nope: 1\n".to_owned(), "not a callers file"),
            ("callers:\n  - {name: a, token_sha256: abc, methods: ['*']}\n".to_owned(), "64 hex"),
            (format!("callers:\n  - {{name: a, token_sha256: {hash}, methods: []}}\n"), "no methods"),
            (format!("callers:\n  - {{name: a, token_sha256: {hash}, methods: ['Draw']}}\n"), "is not `*`"),
            (format!("callers:\n  - {{name: a, token_sha256: {hash}, methods: ['x.Y/*']}}\n"), "not one of"),
            (
                format!(
                    "callers:\n  - {{name: a, token_sha256: {hash}, methods: ['*']}}\n  - {{name: a, token_sha256: {}, methods: ['*']}}\n",
                    token_sha256_hex("u")
                ),
                "twice",
            ),
            (
                format!(
                    "callers:\n  - {{name: a, token_sha256: {hash}, methods: ['*']}}\n  - {{name: b, token_sha256: {hash}, methods: ['*']}}\n"
                ),
                "shares its token",
            ),
        ] {
            let error = parse_callers(&text, &services).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn settings_validation_and_redaction() {
        let short = AuthSettings { internal_token: "short".into(), callers_file: String::new() };
        assert!(short.validate_internal().unwrap_err().to_string().contains("auth.internal_token"));
        let internal_with_callers = AuthSettings { internal_token: String::new(), callers_file: "/x".into() };
        assert!(internal_with_callers.validate_internal().unwrap_err().to_string().contains("auth.callers_file"));
        let secret =
            AuthSettings { internal_token: "a-very-secret-internal-token".into(), callers_file: String::new() };
        assert!(!format!("{secret:?}").contains("very-secret"));
        let missing = AuthSettings { internal_token: String::new(), callers_file: "/nonexistent/callers.yaml".into() };
        assert!(missing.caller_policy(&[RAFFLE]).unwrap_err().to_string().contains("cannot read"));
    }
}
