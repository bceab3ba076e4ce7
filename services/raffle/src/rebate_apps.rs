//! The external apps allowed to call `RaffleService/Rebate` (docs/security.md, "Rebate
//! apps"): each has an `app_id`, the SHA-256 of its token and the behaviours it may rebate,
//! read from the YAML file `rebate.apps_file` at start. Tokens never appear in the file or
//! in logs; a presented token is hashed and compared in constant time.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
};

use bm_server::{
    ConfigError,
    auth::{constant_time_eq, from_hex, sha256},
};
use bm_status::ErrorCode;
use serde::Deserialize;

/// The longest app id and behaviour type accepted in the file.
const MAX_NAME_LEN: usize = bm_kernel::id::MAX_TEXT_ID_LEN;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppEntry {
    app_id: String,
    token_sha256: String,
    behaviors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppsFile {
    apps: Vec<AppEntry>,
}

#[derive(Debug)]
struct App {
    token_sha256: [u8; 32],
    /// Lower case: behaviour types are case-insensitive.
    behaviors: HashSet<String>,
}

/// The configured rebate apps (none when `rebate.apps_file` is empty: every Rebate is
/// refused).
#[derive(Debug, Default)]
pub struct RebateApps(HashMap<String, App>);

/// Why a Rebate call's app was refused (both are `PERMISSION_DENIED` `0008`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRefusal {
    /// No app with this id, or not its token (not told apart to the caller).
    BadCredentials,
    /// A known app rebating a behaviour it is not configured for.
    BehaviorNotAllowed {
        /// The app.
        app_id: String,
        /// The behaviour asked for.
        behavior_type: String,
    },
}

impl AppRefusal {
    /// The status answered.
    pub fn status(&self) -> tonic::Status {
        let message = match self {
            Self::BadCredentials => "invalid app_id or app_token".to_owned(),
            Self::BehaviorNotAllowed { app_id, behavior_type } => {
                format!("app {app_id:?} may not rebate the behaviour {behavior_type:?}")
            }
        };
        bm_status::to_status_with(ErrorCode::AppTokenError, tonic::Code::PermissionDenied, message)
    }

    /// A short label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadCredentials => "bad_credentials",
            Self::BehaviorNotAllowed { .. } => "behavior_not_allowed",
        }
    }
}

impl RebateApps {
    /// The apps of `apps_file` (empty path = no app).
    pub fn load(apps_file: &str) -> Result<Self, ConfigError> {
        if apps_file.is_empty() {
            return Ok(Self::default());
        }
        let path = Path::new(apps_file);
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::invalid("rebate.apps_file", format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|reason| ConfigError::invalid("rebate.apps_file", reason))
    }

    /// Parses the YAML text of an apps file: `apps: [{app_id, token_sha256, behaviors}]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parsed: AppsFile =
            figment::Figment::from(<figment::providers::Yaml as figment::providers::Format>::string(text))
                .extract()
                .map_err(|e| format!("not a rebate apps file: {e}"))?;
        let mut apps = HashMap::new();
        for entry in parsed.apps {
            let app_id = entry.app_id.trim().to_owned();
            if !valid_name(&app_id) {
                return Err(format!("app_id {:?} must be 1-{MAX_NAME_LEN} printable characters", entry.app_id));
            }
            let token_sha256 = from_hex(&entry.token_sha256).ok_or_else(|| {
                format!("app {app_id:?}: token_sha256 must be 64 hex digits (sha256sum of the token)")
            })?;
            if entry.behaviors.is_empty() {
                return Err(format!("app {app_id:?} has no behaviors"));
            }
            let mut behaviors = HashSet::new();
            for behavior in &entry.behaviors {
                let behavior = behavior.trim().to_lowercase();
                if !valid_name(&behavior) {
                    return Err(format!("app {app_id:?}: behaviour {behavior:?} must be 1-{MAX_NAME_LEN} characters"));
                }
                behaviors.insert(behavior);
            }
            if apps.values().any(|app: &App| app.token_sha256 == token_sha256) {
                return Err(format!("app {app_id:?} shares its token with another app"));
            }
            if apps.insert(app_id.clone(), App { token_sha256, behaviors }).is_some() {
                return Err(format!("app {app_id:?} is listed twice"));
            }
        }
        Ok(Self(apps))
    }

    /// How many apps are configured.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no app is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `app_id` holding `app_token` may rebate `behavior_type` (any case).
    pub fn authorize(&self, app_id: &str, app_token: &str, behavior_type: &str) -> Result<(), AppRefusal> {
        let presented = sha256(app_token.as_bytes());
        let app = self.0.get(app_id);
        // Compare against something even for an unknown app, so both refusals take as long.
        let expected = app.map_or([0_u8; 32], |app| app.token_sha256);
        if !constant_time_eq(&presented, &expected) {
            return Err(AppRefusal::BadCredentials);
        }
        let app = app.ok_or(AppRefusal::BadCredentials)?;
        if app.behaviors.contains(&behavior_type.to_lowercase()) {
            Ok(())
        } else {
            Err(AppRefusal::BehaviorNotAllowed { app_id: app_id.to_owned(), behavior_type: behavior_type.to_owned() })
        }
    }
}

/// An app id or behaviour type follows the rule of every text identifier.
fn valid_name(text: &str) -> bool {
    bm_kernel::id::text_id(text).is_ok()
}

#[cfg(test)]
mod tests {
    use bm_server::auth::token_sha256_hex;

    use super::*;

    fn demo() -> RebateApps {
        RebateApps::parse(&format!(
            "apps:\n  - app_id: chatgpt-data\n    token_sha256: {}\n    behaviors: [openai_pay]\n  - app_id: shop\n    token_sha256: {}\n    behaviors: [openai_pay, Sign]\n",
            token_sha256_hex("89iu7o8732ijd9114"),
            token_sha256_hex("shop-token"),
        ))
        .unwrap()
    }

    #[test]
    fn apps_are_checked_by_id_token_and_behaviour() {
        let apps = demo();
        assert_eq!(apps.len(), 2);
        assert_eq!(apps.authorize("chatgpt-data", "89iu7o8732ijd9114", "openai_pay"), Ok(()));
        assert_eq!(apps.authorize("chatgpt-data", "89iu7o8732ijd9114", "OPENAI_PAY"), Ok(()), "any case");
        assert_eq!(apps.authorize("chatgpt-data", "89iu7o8732ijd9115", "openai_pay"), Err(AppRefusal::BadCredentials));
        assert_eq!(apps.authorize("chatgpt-data", "", "openai_pay"), Err(AppRefusal::BadCredentials));
        assert_eq!(apps.authorize("shop", "89iu7o8732ijd9114", "openai_pay"), Err(AppRefusal::BadCredentials));
        assert_eq!(apps.authorize("nobody", "89iu7o8732ijd9114", "openai_pay"), Err(AppRefusal::BadCredentials));
        assert_eq!(
            apps.authorize("chatgpt-data", "89iu7o8732ijd9114", "sign"),
            Err(AppRefusal::BehaviorNotAllowed { app_id: "chatgpt-data".into(), behavior_type: "sign".into() })
        );
        assert_eq!(apps.authorize("shop", "shop-token", "sign"), Ok(()), "configured behaviours are lower-cased");
    }

    #[test]
    fn no_file_means_no_app() {
        let apps = RebateApps::load("").unwrap();
        assert!(apps.is_empty());
        assert_eq!(apps.authorize("chatgpt-data", "89iu7o8732ijd9114", "openai_pay"), Err(AppRefusal::BadCredentials));
        // A token whose hash is all zeroes cannot exist, so the unknown-app comparison never passes.
        assert_eq!(apps.authorize("", "", ""), Err(AppRefusal::BadCredentials));
    }

    #[test]
    fn refusals_are_permission_denied_0008() {
        for refusal in [
            AppRefusal::BadCredentials,
            AppRefusal::BehaviorNotAllowed { app_id: "a".into(), behavior_type: "sign".into() },
        ] {
            let status = refusal.status();
            assert_eq!(status.code(), tonic::Code::PermissionDenied);
            assert_eq!(bm_status::code_of(&status), Some(ErrorCode::AppTokenError));
            assert!(!status.message().contains("token_sha256"));
        }
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let hash = token_sha256_hex("t");
        for (text, expected) in [
            ("nope: 1\n".to_owned(), "not a rebate apps file"),
            ("apps:\n  - {app_id: a, token_sha256: abc, behaviors: [sign]}\n".to_owned(), "64 hex"),
            (format!("apps:\n  - {{app_id: '', token_sha256: {hash}, behaviors: [sign]}}\n"), "app_id"),
            (format!("apps:\n  - {{app_id: a, token_sha256: {hash}, behaviors: []}}\n"), "no behaviors"),
            (format!("apps:\n  - {{app_id: a, token_sha256: {hash}, behaviors: ['']}}\n"), "behaviour"),
            (
                format!(
                    "apps:\n  - {{app_id: a, token_sha256: {hash}, behaviors: [sign]}}\n  - {{app_id: a, token_sha256: {}, behaviors: [sign]}}\n",
                    token_sha256_hex("u")
                ),
                "twice",
            ),
            (
                format!(
                    "apps:\n  - {{app_id: a, token_sha256: {hash}, behaviors: [sign]}}\n  - {{app_id: b, token_sha256: {hash}, behaviors: [sign]}}\n"
                ),
                "shares its token",
            ),
            (format!("apps:\n  - {{app_id: a, token_sha256: {hash}, behaviors: [sign], token: x}}\n"), "unknown field"),
        ] {
            let error = RebateApps::parse(&text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let missing = RebateApps::load("/nonexistent/rebate-apps.yaml").unwrap_err().to_string();
        assert!(missing.contains("rebate.apps_file") && missing.contains("cannot read"), "{missing}");
    }

    #[test]
    fn the_shipped_demo_file_parses() {
        let text = include_str!("../../../deploy/local/rebate-apps.yaml");
        let apps = RebateApps::parse(text).unwrap();
        assert_eq!(apps.authorize("chatgpt-data", "89iu7o8732ijd9114", "openai_pay"), Ok(()));
    }
}
