//! OpenTelemetry traces across the services (issue #11): one Draw is one trace — the
//! orchestrator's call, the calls it makes to strategy-draw, activity-quota and award, and the
//! award distributor consuming `send_award` — exported over OTLP; log lines carry the trace id.

use std::collections::BTreeSet;

use bm_api::raffle::{ArmoryActivityRequest, DrawRequest, RechargeSkuRequest};
use bm_e2e::{Backends, Cluster};
use bm_testkit::{OtlpReceiver, ReceivedSpan, eventually};

const DRAW: &str = "/bigmarket.raffle.v1.RaffleService/Draw";

#[tokio::test]
async fn one_draw_is_one_trace_across_all_four_services_and_the_distributor() {
    let receiver = OtlpReceiver::start().await;
    let otlp = [
        ("BM_LOG__OTLP_ENDPOINT".to_owned(), receiver.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned()),
    ];
    let backends = Backends { env: otlp.to_vec(), ..Backends::default() };
    let raffle_env: Vec<(&str, &str)> = otlp.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cluster = Cluster::start_on(&backends, &raffle_env).await;
    let mut client = cluster.client.clone();
    client.armory_activity(ArmoryActivityRequest { activity_id: 100_301 }).await.unwrap();
    let recharge = RechargeSkuRequest { user_id: "tracer".into(), sku: 9011, out_business_no: "tracer-1".into() };
    client.recharge_sku(recharge).await.unwrap();
    let request = DrawRequest { user_id: "tracer".into(), activity_id: 100_301, request_id: "trace-1".into() };
    client.draw(request).await.unwrap();

    // The Draw's trace: its root span is the orchestrator's server span.
    let trace_of_draw = |spans: &[ReceivedSpan]| {
        spans.iter().find(|s| s.service == "raffle" && s.name == DRAW).map(|s| s.trace_id.clone())
    };
    eventually("every service's spans of the draw exported", || async {
        let spans = receiver.spans();
        let Some(trace) = trace_of_draw(&spans) else { return false };
        let in_trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == trace).collect();
        let services: BTreeSet<&str> = in_trace.iter().map(|s| s.service.as_str()).collect();
        services == BTreeSet::from(["activity", "award", "raffle", "strategy"])
            && in_trace.iter().any(|s| s.service == "award" && s.name.ends_with(".award.send_award"))
    })
    .await;

    let spans = receiver.spans();
    let trace = trace_of_draw(&spans).unwrap();
    let in_trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let names: BTreeSet<(&str, &str)> = in_trace.iter().map(|s| (s.service.as_str(), s.name.as_str())).collect();
    for (service, name) in [
        ("activity", "/bigmarket.activity.v1.ActivityService/Partake"),
        ("strategy", "/bigmarket.strategy.v1.StrategyService/Draw"),
        ("award", "/bigmarket.award.v1.AwardService/RecordAward"),
        ("activity", "/bigmarket.activity.v1.ActivityService/CompleteOrder"),
    ] {
        assert!(names.contains(&(service, name)), "{service} {name} missing from the trace: {names:?}");
    }
    // Every span of the trace but the root has its parent in the trace.
    let ids: BTreeSet<&str> = in_trace.iter().map(|s| s.span_id.as_str()).collect();
    let roots: Vec<&&ReceivedSpan> = in_trace.iter().filter(|s| !ids.contains(s.parent_span_id.as_str())).collect();
    assert_eq!(roots.len(), 1, "one root: {roots:?}");
    assert_eq!((roots[0].service.as_str(), roots[0].name.as_str()), ("raffle", DRAW));
    // Log lines carry the trace id.
    assert!(cluster.raffle.log().contains(&trace), "the orchestrator's log names trace {trace}");
    assert!(cluster.strategy.process.log().contains(&trace), "strategy-draw's log names trace {trace}");
}
