//! A draw through big-market from another Rust program, using only `bm-api`'s `client`
//! feature (docs/clients.md):
//!
//! ```text
//! cargo run -p bm-api --example draw -- [ENDPOINT] [USER] [ACTIVITY]
//! # defaults: http://127.0.0.1:50050 xiaofuge 100301 (what `make up` serves)
//! ```
//! It sends a request id, so running it twice with the same one would return the same
//! award; on failure it prints the gRPC code and the big-market code (`bm-code`).

use bm_api::raffle::{DrawRequest, raffle_service_client::RaffleServiceClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "http://127.0.0.1:50050".to_owned());
    let user_id = args.next().unwrap_or_else(|| "xiaofuge".to_owned());
    let activity_id: i64 = args.next().map_or(Ok(100_301), |a| a.parse())?;
    let channel =
        tonic::transport::Endpoint::from_shared(endpoint)?.timeout(std::time::Duration::from_secs(5)).connect().await?;
    let mut client = RaffleServiceClient::new(channel);
    let request_id = format!("example-{}-{}", std::process::id(), user_id);
    match client.draw(DrawRequest { user_id, activity_id, request_id }).await {
        Ok(response) => {
            let award = response.into_inner();
            println!("award {} {} (order {})", award.award_id, award.award_title, award.order_id);
            Ok(())
        }
        Err(status) => {
            let code = status.metadata().get("bm-code").and_then(|v| v.to_str().ok()).unwrap_or("-");
            eprintln!("draw failed: {:?} / {code}: {}", status.code(), status.message());
            std::process::exit(1)
        }
    }
}
