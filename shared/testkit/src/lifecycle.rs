//! The black-box checks every binary must pass (foundation issue): it serves its contract
//! with health and reflection, stops cleanly on SIGTERM, and refuses bad configuration
//! with a message naming the setting.

use std::{process::Command, time::Duration};

use crate::ServiceProcess;

/// Starts `binary`, checks health and reflection (v1 and v1alpha) list `service_name`,
/// then sends SIGTERM and expects exit code 0 within a few seconds.
pub async fn check_serves_and_stops(binary: &str, service_name: &str, env: &[(String, String)]) {
    check_serves_all_and_stops(binary, &[service_name], env).await;
}

/// [`check_serves_and_stops`] for a binary serving several contracts (`service_names`).
pub async fn check_serves_all_and_stops(binary: &str, service_names: &[&str], env: &[(String, String)]) {
    let mut process = ServiceProcess::spawn(binary, env).await;
    for services in [
        crate::list_services(process.channel().await).await,
        crate::list_services_v1alpha(process.channel().await).await,
    ] {
        for expected in service_names.iter().chain(&["grpc.health.v1.Health"]) {
            assert!(services.iter().any(|s| s == expected), "{expected} missing from {services:?}");
        }
        assert!(
            !services.iter().any(|s| s.starts_with("bigmarket.") && !service_names.contains(&s.as_str())),
            "only this binary's contract is advertised: {services:?}"
        );
    }
    process.terminate();
    let status = process.wait_exit(Duration::from_secs(15)).await;
    let log = process.log();
    let status = status.unwrap_or_else(|| panic!("no exit after SIGTERM; log:\n{log}"));
    assert!(status.success(), "exit {status:?} after SIGTERM; log:\n{log}");
    assert!(log.contains("NOT_SERVING"), "health turned NOT_SERVING before stopping; log:\n{log}");
}

/// Runs `binary` with `env` (its last word wins) and expects a non-zero exit whose stderr
/// names `setting`.
pub fn check_refuses_config(binary: &str, env: &[(String, String)], setting: &str) {
    let output = Command::new(binary)
        .envs(env.iter().cloned())
        .env("RUST_LOG", "error")
        .output()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{binary} accepted a bad {setting}; stderr:\n{stderr}");
    assert!(stderr.to_lowercase().contains(&setting.to_lowercase()), "the error names {setting}; stderr:\n{stderr}");
}

/// `env` with `key` set to `value` (replacing an earlier value).
pub fn with_env(env: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut env: Vec<_> = env.iter().filter(|(k, _)| k != key).cloned().collect();
    env.push((key.to_owned(), value.to_owned()));
    env
}
