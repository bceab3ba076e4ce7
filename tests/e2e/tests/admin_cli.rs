//! `bm-admin` (issue #15): the console from a shell, against a running cluster.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use bm_e2e::Cluster;
use bm_testkit::workspace_binary;

/// Runs `bm-admin` against the cluster's orchestrator; (exit code, stdout, stderr).
fn bm_admin(cluster: &Cluster, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(workspace_binary("bm-admin"))
        .arg("--endpoint")
        .arg(cluster.raffle.endpoint())
        .args(args)
        .env_remove("BM_TOKEN")
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn operators_drive_the_console_from_a_shell() {
    let cluster = Cluster::start(&[]).await;
    let (code, out, _) = bm_admin(&cluster, &["switches"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("SWITCH") && out.contains("degrade") && out.contains("(default)"), "{out}");

    let (code, out, _) = bm_admin(&cluster, &["set", "rate_limit_burst", "3", "--reason", "cli test"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().nth(1).unwrap().starts_with("rate_limit_burst  3"), "{out}");
    let (_, out, _) = bm_admin(&cluster, &["history", "--limit", "5"]);
    assert!(out.contains("rate_limit_burst") && out.contains("anonymous") && out.contains("cli test"), "{out}");

    let (code, out, _) = bm_admin(&cluster, &["parked"]);
    assert_eq!((code, out.ends_with("0 listed, 0 parked in all\n")), (0, true), "{out}");
    let (code, out, _) = bm_admin(&cluster, &["backlog"]);
    assert!(code == 0 && out.contains("award"), "{out}");
    let (code, out, _) = bm_admin(&cluster, &["armory", "100301"]);
    assert_eq!((code, out.as_str()), (0, "activity 100301 and strategy 100006 re-armoried\n"));

    let (code, out, _) = bm_admin(&cluster, &["stage", "c09", "s01", "100301"]);
    assert!(code == 0 && out.contains("c09") && out.contains("active"), "{out}");
    let (code, out, _) = bm_admin(&cluster, &["stages", "--state", "active"]);
    assert!(code == 0 && out.contains("c09") && out.contains("100301"), "{out}");
    let (code, out, _) = bm_admin(&cluster, &["orders", "nobody", "100301"]);
    assert!(code == 0 && out.starts_with("ORDER") && out.contains("PARKED BECAUSE"), "{out}");

    // Refusals: the message and the big-market code, exit 1; bad usage exit 2.
    let (code, _, err) = bm_admin(&cluster, &["set", "degrade", "maybe", "--reason", "x"]);
    assert!(code == 1 && err.contains("bm-code 0002") && err.contains("true or false"), "{err}");
    let (code, _, err) = bm_admin(&cluster, &["retry", "--service", "award", "--id", "77"]);
    assert!(code == 1 && err.contains("BM_NOT_FOUND"), "{err}");
    let (code, _, _) = bm_admin(&cluster, &["retry"]);
    assert_eq!(code, 2);
}
