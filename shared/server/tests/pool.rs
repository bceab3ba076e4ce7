//! The services' Postgres pool against a real server: a connection that died while the pool
//! held it idle is replaced before it is handed out; one used moments ago is handed out
//! without the extra ping (`database.check_idle_after_ms`, `bm_server::infra::pool_options`).
#![expect(clippy::expect_used, reason = "test helpers: a failed expect is a failed test")]

use std::time::Duration;

use bm_server::{DatabaseSettings, infra::connect_postgres};
use bm_testkit::TestInfra;
use sqlx::{Connection as _, PgConnection, PgPool};

async fn backend_pid(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(pool).await
}

/// Ends the backend `pid` from another session and waits until it is gone — what a Postgres
/// restart or a proxy's idle timeout does to a pooled connection.
async fn kill_backend(pid: i32) {
    let mut admin = PgConnection::connect(&bm_testkit::admin_url()).await.expect("admin connection");
    let ended: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&mut admin).await.expect("terminate");
    assert!(ended, "backend {pid} was terminated");
    for _ in 0..100 {
        let alive: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .expect("pg_stat_activity");
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("backend {pid} still alive");
}

/// A pool of one connection, so every query gets the same connection while it lives.
async fn pool(infra: &TestInfra, check_idle_after_ms: u64) -> PgPool {
    let settings = DatabaseSettings {
        url: infra.database_url.clone(),
        max_connections: 1,
        check_idle_after_ms,
        ..DatabaseSettings::local("unused")
    };
    connect_postgres(&settings).await.expect("pool")
}

#[tokio::test]
async fn a_connection_that_died_while_idle_is_replaced_before_use() {
    let infra = TestInfra::new(None).await;
    for check_idle_after_ms in [0, 200] {
        let pool = pool(&infra, check_idle_after_ms).await;
        let first = backend_pid(&pool).await.expect("first query");
        kill_backend(first).await;
        tokio::time::sleep(Duration::from_millis(300)).await; // idle past the threshold
        let second = backend_pid(&pool).await.expect("the dead connection is replaced, the query succeeds");
        assert_ne!(first, second, "check_idle_after_ms = {check_idle_after_ms}: a new connection");
        pool.close().await;
    }
}

#[tokio::test]
async fn a_connection_used_moments_ago_is_handed_out_without_a_ping() {
    let infra = TestInfra::new(None).await;
    let pool = pool(&infra, 60_000).await;
    let first = backend_pid(&pool).await.expect("first query");
    let again = backend_pid(&pool).await.expect("same connection");
    assert_eq!(first, again, "one pooled connection");
    // Killed within the window: the pool hands it out as it is (no ping), so this query
    // fails — the round trip saved on every acquire, and the documented cost when a
    // connection breaks within `check_idle_after_ms` of its last use.
    kill_backend(first).await;
    let failed = backend_pid(&pool).await;
    assert!(failed.is_err(), "the unpinged dead connection was used: {failed:?}");
    // The pool dropped it when it came back (its return ping failed): the next query works.
    let replaced = backend_pid(&pool).await.expect("a fresh connection");
    assert_ne!(replaced, first);
    pool.close().await;
}
