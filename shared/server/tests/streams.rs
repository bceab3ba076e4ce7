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
