//! The stock counters against a real Redis: a take is at most one unit per holder and never
//! below zero, a release gives back only a held unit, and a peek (a plain GET) answers what a
//! take would find without changing anything.

use bm_stock::{StockCounters, Take};
use bm_testkit::TestInfra;

async fn counters() -> (TestInfra, StockCounters) {
    let infra = TestInfra::new(None).await;
    let counters = StockCounters::new(infra.redis());
    (infra, counters)
}

#[tokio::test]
async fn a_peek_reports_what_a_take_would_find_and_changes_nothing() {
    let (infra, counters) = counters().await;
    let counter = format!("{}stock", infra.redis_prefix);
    let holder = |n: u32| format!("{}holder:{n}", infra.redis_prefix);

    assert_eq!(counters.take(&counter, &holder(0), 7, true).await.unwrap(), Take::Missing);
    assert_eq!(counters.take(&counter, &holder(0), 7, false).await.unwrap(), Take::Missing);
    assert!(counters.set_if_absent(&counter, 2).await.unwrap());

    assert_eq!(counters.take(&counter, &holder(1), 7, true).await.unwrap(), Take::Taken { left: 2 });
    assert_eq!(
        counters.take(&counter, &holder(1), 7, true).await.unwrap(),
        Take::Taken { left: 2 },
        "a peek takes nothing"
    );
    assert!(!counters.exists(&holder(1)).await.unwrap(), "a peek marks no holder");

    assert_eq!(counters.take(&counter, &holder(1), 7, false).await.unwrap(), Take::Taken { left: 1 });
    assert_eq!(
        counters.take(&counter, &holder(1), 9, false).await.unwrap(),
        Take::Held { tag: 7 },
        "one unit per holder"
    );
    assert_eq!(counters.take(&counter, &holder(1), 7, true).await.unwrap(), Take::Taken { left: 1 });
    assert_eq!(counters.take(&counter, &holder(2), 7, false).await.unwrap(), Take::Taken { left: 0 });
    assert_eq!(counters.take(&counter, &holder(3), 7, true).await.unwrap(), Take::Empty);
    assert_eq!(counters.take(&counter, &holder(3), 7, false).await.unwrap(), Take::Empty);

    assert!(!counters.release(&counter, &holder(1), 9).await.unwrap(), "released only with its own tag");
    assert!(counters.release(&counter, &holder(1), 7).await.unwrap());
    assert!(!counters.release(&counter, &holder(1), 7).await.unwrap(), "released once");
    assert_eq!(counters.take(&counter, &holder(3), 7, true).await.unwrap(), Take::Taken { left: 1 });
    assert_eq!(counters.values(std::slice::from_ref(&counter)).await.unwrap(), [Some(1)]);
}

#[tokio::test]
async fn a_restarted_redis_costs_no_failed_call() {
    let mut server = bm_testkit::RedisServer::start().await;
    let pool =
        deadpool_redis::Config::from_url(server.url()).create_pool(Some(deadpool_redis::Runtime::Tokio1)).unwrap();
    let counters = StockCounters::new(pool);
    assert!(counters.set_if_absent("stock", 5).await.unwrap());
    assert_eq!(counters.take("stock", "holder:1", 7, false).await.unwrap(), Take::Taken { left: 4 });

    // Killed and started again empty: the shared connection is gone with it.
    server.kill();
    server.resume().await;
    assert_eq!(counters.take("stock", "holder:2", 7, true).await.unwrap(), Take::Missing, "a fresh connection");
    assert!(counters.set_if_absent("stock", 3).await.unwrap());
    assert_eq!(counters.take("stock", "holder:2", 7, false).await.unwrap(), Take::Taken { left: 2 });
}
