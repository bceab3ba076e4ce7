//! Bad input over the wire (issue #10): any strings and numbers in any request field of any
//! method get a clear answer — a business answer or INVALID_ARGUMENT / `0002` — never an
//! internal error, a hang or a crash; oversized messages are refused (OUT_OF_RANGE) before
//! they are parsed.

use bm_api::{
    activity::{CompleteOrderRequest, PartakeRequest, RechargeSkuRequest as ActivityRecharge},
    award::RecordAwardRequest,
    raffle::{DrawRequest, QueryAwardListRequest, QueryUserCreditRequest, RechargeSkuRequest},
    strategy::{DrawRequest as StrategyDraw, QueryRuleWeightRequest},
};
use bm_e2e::Cluster;
use proptest::prelude::*;
use tonic::{Code, Status};

/// Answers a request with bad input may get: never Internal, Unknown or Unavailable.
fn acceptable(status: &Status) -> bool {
    let code = bm_status::code_of(status).map(bm_status::ErrorCode::as_str);
    match status.code() {
        Code::InvalidArgument => code == Some("0002"),
        Code::NotFound | Code::FailedPrecondition | Code::AlreadyExists => code.is_some(),
        _ => false,
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9_]{1,12}",
        ".{0,80}",
        "\\PC{60,70}",
        prop::collection::vec(any::<char>(), 0..100).prop_map(|c| c.into_iter().collect()),
    ]
}

fn number() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0_i64), Just(-1), Just(i64::MIN), Just(i64::MAX), Just(100_301), Just(9011), any::<i64>()]
}

#[test]
fn any_field_values_get_a_clear_answer_from_every_service() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let cluster = runtime.block_on(Cluster::start(&[]));
    let config = ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(user in text(), other in text(), id in number(), n in number())| {
        runtime.block_on(async {
            let mut raffle = cluster.client.clone();
            let mut strategy = cluster.strategy_client().await;
            let mut activity = cluster.activity_client().await;
            let mut award = cluster.award_client().await;
            let award_id = i32::try_from(n % 1000).unwrap_or(0);
            let answers = [
                raffle.draw(DrawRequest { user_id: user.clone(), activity_id: id, request_id: other.clone() }).await.err(),
                raffle.query_award_list(QueryAwardListRequest { user_id: user.clone(), activity_id: id }).await.err(),
                raffle.query_user_credit(QueryUserCreditRequest { user_id: user.clone() }).await.err(),
                raffle.recharge_sku(RechargeSkuRequest { user_id: user.clone(), sku: id, out_business_no: other.clone() }).await.err(),
                strategy.draw(StrategyDraw {
                    user_id: user.clone(),
                    strategy_id: id,
                    order_id: other.clone(),
                    user_total_partake_count: n,
                    user_day_partake_count: n,
                    first_attempt: n % 2 == 0,
                }).await.err(),
                strategy.query_rule_weight(QueryRuleWeightRequest { strategy_id: id, user_total_partake_count: n }).await.err(),
                activity.partake(PartakeRequest { user_id: user.clone(), activity_id: id, request_id: other.clone() }).await.err(),
                activity.complete_order(CompleteOrderRequest { user_id: user.clone(), order_id: other.clone() }).await.err(),
                activity.recharge_sku(ActivityRecharge { user_id: user.clone(), sku: n, out_business_no: other.clone() }).await.err(),
                award.record_award(RecordAwardRequest {
                    user_id: user.clone(),
                    activity_id: id,
                    strategy_id: n,
                    order_id: other.clone(),
                    award_id,
                    award_key: other.clone(),
                    award_title: user.clone(),
                    award_config: other.clone(),
                }).await.err(),
            ];
            for status in answers.into_iter().flatten() {
                prop_assert!(acceptable(&status), "unclear answer {status:?} for user {user:?}, other {other:?}, id {id}, n {n}");
            }
            Ok(())
        })?;
    });
    // Every service is still serving.
    runtime.block_on(async {
        for process in [&cluster.raffle, &cluster.strategy.process, &cluster.activity.process, &cluster.award.process] {
            assert_eq!(process.health().await, Some(tonic_health_serving()));
        }
    });
}

fn tonic_health_serving() -> tonic_health::pb::health_check_response::ServingStatus {
    tonic_health::pb::health_check_response::ServingStatus::Serving
}

#[tokio::test]
async fn oversized_messages_are_refused_before_parsing() {
    let cluster = Cluster::start(&[]).await;
    let huge = "x".repeat(64 * 1024);
    let status = cluster
        .client
        .clone()
        .draw(DrawRequest { user_id: huge.clone(), activity_id: 100_301, request_id: String::new() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    let status = cluster
        .strategy_client()
        .await
        .draw(StrategyDraw { user_id: huge, strategy_id: 100_006, ..StrategyDraw::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
}

/// A codec that sends raw bytes as a request and ignores the answer's body.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), Status> {
        bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let body = bytes::Buf::chunk(buf).to_vec();
        bytes::Buf::advance(buf, body.len());
        Ok(Some(body))
    }
}

async fn raw_call(channel: tonic::transport::Channel, path: &'static str, body: Vec<u8>) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(body), path, Raw).await.map(drop)
}

#[test]
fn undecodable_bytes_are_invalid_argument_never_internal() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let cluster = runtime.block_on(Cluster::start(&[]));
    let endpoints = [
        (cluster.raffle.endpoint(), "/bigmarket.raffle.v1.RaffleService/Draw"),
        (cluster.strategy.process.endpoint(), "/bigmarket.strategy.v1.StrategyService/Draw"),
        (cluster.activity.process.endpoint(), "/bigmarket.activity.v1.ActivityService/Partake"),
        (cluster.award.process.endpoint(), "/bigmarket.award.v1.AwardService/RecordAward"),
    ];
    // A known-bad message: field 1 declared as a length-delimited string running past the end.
    runtime.block_on(async {
        for (endpoint, path) in &endpoints {
            let channel = tonic::transport::Channel::from_shared(endpoint.clone()).unwrap().connect().await.unwrap();
            let status = raw_call(channel, path, vec![0x0a, 0xff, 0x01, b'x']).await.unwrap_err();
            assert_eq!(
                (status.code(), bm_status::code_of(&status).map(bm_status::ErrorCode::as_str)),
                (Code::InvalidArgument, Some("0002")),
                "{path}: {status:?}"
            );
        }
    });
    let config = ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(body in prop::collection::vec(any::<u8>(), 0..300), which in 0_usize..4)| {
        runtime.block_on(async {
            let (endpoint, path) = &endpoints[which];
            let channel = tonic::transport::Channel::from_shared(endpoint.clone()).unwrap().connect().await.unwrap();
            if let Err(status) = raw_call(channel, path, body.clone()).await {
                prop_assert!(acceptable(&status), "{path}: {status:?} for {body:?}");
            }
            Ok(())
        })?;
    });
}
