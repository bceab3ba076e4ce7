//! Verifiable draws over gRPC (issue #16): commitments before draws, receipts, reveal by
//! rotation, the verifier (library and `bm-verify`), replays after a Redis flush.

#![expect(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use bm_api::strategy::{
    ArmoryStrategyRequest, DrawRequest, GetDrawReceiptRequest, GetDrawReceiptResponse, GetFairnessRequest,
    GetFairnessResponse, RotateSeedRequest, SeedEpoch, strategy_service_client::StrategyServiceClient,
};
use bm_strategy::fairness::{Receipt, RevealedEpoch, Seed, StockOutcome, sha256_hex, verify};
use bm_testkit::{ServiceProcess, TestInfra};
use deadpool_redis::redis;
use tonic::{Code, transport::Channel};

const BINARY: &str = env!("CARGO_BIN_EXE_strategy");
const VERIFY: &str = env!("CARGO_BIN_EXE_bm-verify");

struct App {
    infra: TestInfra,
    _process: ServiceProcess,
    client: StrategyServiceClient<Channel>,
    pool: sqlx::PgPool,
}

impl App {
    async fn spawn() -> Self {
        let infra = TestInfra::new(Some(&bm_strategy::MIGRATOR)).await;
        let pool = infra.pool().await;
        sqlx::raw_sql(bm_strategy::DEMO_DATA).execute(&pool).await.unwrap();
        let env = bm_testkit::lifecycle::with_env(&infra.service_env(), "BM_SERVICE__STOCK_REBUILD_SETTLE_MS", "300");
        let process = ServiceProcess::spawn(BINARY, &env).await;
        let client = StrategyServiceClient::new(process.channel().await);
        client.clone().armory_strategy(ArmoryStrategyRequest { strategy_id: 100_006 }).await.unwrap();
        Self { infra, _process: process, client, pool }
    }

    async fn draw(&self, user: &str, order: &str, total: i64, day: i64) -> i32 {
        let request = DrawRequest {
            user_id: user.into(),
            strategy_id: 100_006,
            order_id: order.into(),
            user_total_partake_count: total,
            user_day_partake_count: day,
            first_attempt: false,
        };
        self.client.clone().draw(request).await.unwrap().into_inner().award_id
    }

    async fn fairness(&self) -> GetFairnessResponse {
        self.client
            .clone()
            .get_fairness(GetFairnessRequest { strategy_id: 100_006, active_only: false })
            .await
            .unwrap()
            .into_inner()
    }

    async fn receipt(&self, order: &str, user: &str) -> Result<GetDrawReceiptResponse, tonic::Status> {
        let request = GetDrawReceiptRequest { strategy_id: 100_006, order_id: order.into(), user_id: user.into() };
        self.client.clone().get_draw_receipt(request).await.map(tonic::Response::into_inner)
    }
}

fn receipt(pb: &GetDrawReceiptResponse) -> Receipt {
    Receipt {
        strategy_id: pb.strategy_id,
        order_id: pb.order_id.clone(),
        user_id: pb.user_id.clone(),
        epoch: pb.epoch,
        total_partake_count: pb.user_total_partake_count,
        day_partake_count: pb.user_day_partake_count,
        chain_model: pb.chain_model.clone(),
        chain_award_id: pb.chain_award_id,
        stock_outcome: StockOutcome::parse(&pb.stock_outcome).unwrap(),
        award_id: pb.award_id,
        award_config: pb.award_config.clone(),
        rule_model: pb.rule_model.clone(),
    }
}

/// The proto JSON grpcurl prints (camelCase, 64-bit numbers as strings).
fn epoch_json(epoch: &SeedEpoch) -> serde_json::Value {
    serde_json::json!({
        "epoch": epoch.epoch, "commitment": epoch.commitment, "seed": epoch.seed, "state": epoch.state,
        "sheet": epoch.sheet, "sheetSha256": epoch.sheet_sha256, "createdAt": epoch.created_at.to_string(),
    })
}

fn receipt_json(pb: &GetDrawReceiptResponse) -> serde_json::Value {
    serde_json::json!({
        "strategyId": pb.strategy_id.to_string(), "orderId": pb.order_id, "userId": pb.user_id, "epoch": pb.epoch,
        "userTotalPartakeCount": pb.user_total_partake_count.to_string(),
        "userDayPartakeCount": pb.user_day_partake_count.to_string(), "chainModel": pb.chain_model,
        "chainAwardId": pb.chain_award_id, "stockOutcome": pb.stock_outcome, "awardId": pb.award_id,
        "awardConfig": pb.award_config, "ruleModel": pb.rule_model,
    })
}

fn run_verifier(dir: &std::path::Path, fairness: &serde_json::Value, receipts: &serde_json::Value) -> (i32, String) {
    let fairness_path = dir.join("fairness.json");
    let receipts_path = dir.join("receipts.json");
    std::fs::write(&fairness_path, fairness.to_string()).unwrap();
    std::fs::write(&receipts_path, receipts.to_string()).unwrap();
    let output = std::process::Command::new(VERIFY).arg(&fairness_path).arg(&receipts_path).output().unwrap();
    (output.status.code().unwrap(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test]
async fn draws_are_committed_receipted_revealed_and_verified() {
    let app = App::spawn().await;

    // Commit: an active epoch with a commitment and a sheet exists before any draw.
    let before = app.fairness().await;
    assert_eq!(before.epochs.len(), 1);
    let first = &before.epochs[0];
    assert_eq!((first.epoch, first.state.as_str(), first.seed.as_str()), (1, "active", ""));
    assert_eq!(first.commitment.len(), 64);
    assert_eq!(sha256_hex(first.sheet.as_bytes()), first.sheet_sha256);
    assert!(!first.sheet.contains("user001"), "blacklisted users are not published");
    let sealed: (Vec<u8>,) =
        sqlx::query_as("SELECT sealed_seed FROM strategy_seed").fetch_one(&app.pool).await.unwrap();
    assert_eq!(sealed.0.len(), 12 + 32 + 16, "nonce, sealed seed, tag: never the bare seed");

    // Draws with varied inputs: blacklist, weight tiers, locks, stock.
    let mut orders = Vec::new();
    for i in 0..120_i64 {
        let user = if i % 17 == 0 { "user001".to_owned() } else { format!("u{}", i % 7) };
        let order = format!("fair-{i}");
        let total = [1, 10, 70, 1000, 3, 5][usize::try_from(i % 6).unwrap()];
        let award = app.draw(&user, &order, total, i % 4 + 1).await;
        orders.push((user, order, award));
    }
    // Replays — also after Redis lost everything — give the same award.
    let flushed: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", app.infra.redis_prefix))
        .query_async(&mut app.infra.redis().get().await.unwrap())
        .await
        .unwrap();
    redis::cmd("DEL").arg(&flushed).query_async::<i64>(&mut app.infra.redis().get().await.unwrap()).await.unwrap();
    for (user, order, award) in orders.iter().take(30) {
        let i: i64 = order.trim_start_matches("fair-").parse().unwrap();
        assert_eq!(app.draw(user, order, [1, 10, 70, 1000, 3, 5][usize::try_from(i % 6).unwrap()], 1).await, *award);
    }

    let mut receipts = Vec::new();
    for (user, order, award) in &orders {
        let pb = app.receipt(order, user).await.unwrap();
        assert_eq!((pb.award_id, pb.epoch), (*award, 1));
        receipts.push(pb);
    }
    assert!(receipts.iter().any(|r| r.chain_model == "rule_blacklist"));
    assert!(receipts.iter().any(|r| r.chain_model == "rule_weight"));
    assert!(receipts.iter().any(|r| r.stock_outcome == "taken"));

    // Reveal: rotate; epoch 1 shows its seed, which matches the commitment; epoch 2 starts.
    let rotated = app.client.clone().rotate_seed(RotateSeedRequest { strategy_id: 100_006, close: false }).await;
    assert_eq!(rotated.unwrap().into_inner().revealed_epoch, 1);
    let after = app.fairness().await;
    assert_eq!(after.epochs.len(), 2);
    let (revealed, active) = (&after.epochs[0], &after.epochs[1]);
    assert_eq!((revealed.state.as_str(), revealed.commitment.as_str()), ("revealed", first.commitment.as_str()));
    let seed = Seed::from_hex(&revealed.seed).unwrap();
    assert_eq!(seed.commitment(), revealed.commitment);
    assert_eq!((active.epoch, active.state.as_str(), active.seed.as_str()), (2, "active", ""));
    assert_ne!(active.commitment, revealed.commitment);
    let only_active = app
        .client
        .clone()
        .get_fairness(GetFairnessRequest { strategy_id: 100_006, active_only: true })
        .await
        .unwrap()
        .into_inner()
        .epochs;
    assert_eq!(only_active, vec![active.clone()], "active_only: the active epoch alone");

    // Verify every receipt; a changed one is rejected.
    let epoch = RevealedEpoch {
        epoch: 1,
        seed: &seed,
        commitment: &revealed.commitment,
        sheet: &revealed.sheet,
        sheet_sha256: &revealed.sheet_sha256,
    };
    for pb in &receipts {
        verify(&epoch, &receipt(pb)).unwrap_or_else(|e| panic!("{pb:?}: {e}"));
    }
    let mut forged = receipt(&receipts[1]);
    forged.award_id = if forged.award_id == 108 { 107 } else { 108 };
    assert!(verify(&epoch, &forged).is_err());

    // The command-line verifier on grpcurl-shaped JSON.
    let dir = std::env::temp_dir().join(format!("bm-verify-{}", app.infra.database_name));
    std::fs::create_dir_all(&dir).unwrap();
    let fairness = serde_json::json!({ "strategyId": "100006", "epochs": after.epochs.iter().map(epoch_json).collect::<Vec<_>>() });
    let all: Vec<_> = receipts.iter().map(receipt_json).collect();
    let (code, out) = run_verifier(&dir, &fairness, &serde_json::Value::Array(all));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("ok")).count(), receipts.len());
    let mut tampered = receipt_json(&receipts[2]);
    tampered["chainAwardId"] = serde_json::json!(receipts[2].chain_award_id + 1);
    let (code, out) = run_verifier(&dir, &fairness, &tampered);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("REJECTED"), "{out}");
    let mut wrong_seed = fairness.clone();
    wrong_seed["epochs"][0]["seed"] = serde_json::json!("00".repeat(32));
    let (code, out) = run_verifier(&dir, &wrong_seed, &receipt_json(&receipts[0]));
    assert_eq!(code, 1);
    assert!(out.contains("does not match the commitment"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();

    // New draws use the new epoch; a replay of an old order keeps its epoch-1 award.
    app.draw("u9", "fair-new", 1, 1).await;
    assert_eq!(app.receipt("fair-new", "u9").await.unwrap().epoch, 2);
    assert_eq!(app.receipt(&orders[0].1, &orders[0].0).await.unwrap().epoch, 1);
}

#[tokio::test]
async fn a_changed_strategy_gets_a_new_epoch_and_receipts_are_private_to_their_user() {
    let app = App::spawn().await;
    app.draw("u1", "o-1", 1, 1).await;
    // Same configuration: re-armory keeps the epoch.
    app.client.clone().armory_strategy(ArmoryStrategyRequest { strategy_id: 100_006 }).await.unwrap();
    assert_eq!(app.fairness().await.epochs.len(), 1);
    // New odds: a new commitment; the old seed is revealed.
    sqlx::query("UPDATE strategy_award SET award_rate = 0.0400 WHERE strategy_id = 100006 AND award_id = 102")
        .execute(&app.pool)
        .await
        .unwrap();
    app.client.clone().armory_strategy(ArmoryStrategyRequest { strategy_id: 100_006 }).await.unwrap();
    let epochs = app.fairness().await.epochs;
    assert_eq!(epochs.iter().map(|e| e.state.as_str()).collect::<Vec<_>>(), ["revealed", "active"]);
    assert_ne!(epochs[0].sheet_sha256, epochs[1].sheet_sha256);

    // Receipts: only the order's user (when named), clear errors for bad input.
    assert!(app.receipt("o-1", "u1").await.is_ok());
    assert!(app.receipt("o-1", "").await.is_ok(), "no user named: any caller with the order id");
    assert_eq!(app.receipt("o-1", "u2").await.unwrap_err().code(), Code::NotFound);
    assert_eq!(app.receipt("missing", "u1").await.unwrap_err().code(), Code::NotFound);
    assert_eq!(app.receipt("", "u1").await.unwrap_err().code(), Code::InvalidArgument);
    let bad =
        app.client.clone().get_fairness(GetFairnessRequest { strategy_id: 0, active_only: false }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let unknown =
        app.client.clone().get_fairness(GetFairnessRequest { strategy_id: 999, active_only: false }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    // Closing starts no new epoch; the next draw starts one.
    let closed = app.client.clone().rotate_seed(RotateSeedRequest { strategy_id: 100_006, close: true }).await;
    assert_eq!(closed.unwrap().into_inner().revealed_epoch, 2);
    assert!(app.fairness().await.epochs.iter().all(|e| e.state == "revealed"));
    app.draw("u1", "o-2", 2, 2).await;
    assert_eq!(app.receipt("o-2", "u1").await.unwrap().epoch, 3);
}
