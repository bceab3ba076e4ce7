//! A service's JetStream stream against a real NATS: replicas starting at once all find it.

use bm_server::{NatsSettings, infra::ensure_stream};
use bm_testkit::TestInfra;

#[tokio::test]
async fn processes_starting_at_once_all_get_the_stream() {
    let infra = TestInfra::new(None).await;
    let settings = NatsSettings {
        url: bm_testkit::nats_url(),
        subject_prefix: infra.subject_prefix.clone(),
        stream_prefix: infra.stream_prefix.clone(),
        ..NatsSettings::default()
    };
    // Like replicas (or the services of one test) starting together, each with its own
    // connection, each declaring it.
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(async_nats::connect(&settings.url).await.expect("connect to NATS"));
    }
    let results = futures_util::future::join_all(clients.iter().map(|c| ensure_stream(c, &settings, "award"))).await;
    for result in results {
        assert!(result.is_ok(), "{:?}", result.err());
    }
    let context = async_nats::jetstream::new(clients.swap_remove(0));
    let mut stream = context.get_stream(format!("{}_AWARD", infra.stream_prefix)).await.expect("the stream exists");
    let subjects = stream.info().await.expect("stream info").config.subjects.clone();
    assert_eq!(subjects, [format!("{}.award.>", infra.subject_prefix)]);
}

/// nats-server 2.9 removes an account's store directory with its last stream; a stream
/// created at that moment fails with "error creating store for stream" (10049) — seen once
/// in CI while parallel tests dropped their streams. Here a private broker's account
/// directory is made impossible to create (a file in its place) for 300 ms: `ensure_stream`
/// tries again and gets its stream.
#[tokio::test]
async fn a_stream_the_server_fails_to_create_for_a_moment_is_created_by_a_retry() {
    let broker = bm_testkit::NatsServer::start().await;
    let account_dir = broker.store().join("jetstream").join("$G");
    assert!(!account_dir.exists(), "no stream yet, so no account directory");
    std::fs::write(&account_dir, b"in the way").expect("a file where the account directory goes");
    let settings = NatsSettings { url: broker.url(), ..NatsSettings::default() };
    let client = async_nats::connect(&settings.url).await.expect("connect to the private NATS");
    let in_the_way = account_dir.clone();
    let clear = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        std::fs::remove_file(in_the_way).expect("remove the file");
    });
    let result = ensure_stream(&client, &settings, "award").await;
    clear.await.expect("clear task");
    assert!(result.is_ok(), "{:?}", result.err());
    assert!(account_dir.is_dir(), "the server made its account directory on a later attempt");
}
