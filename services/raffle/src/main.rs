//! `raffle`: see the crate docs.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    bm_server::run_binary("raffle", bm_raffle::run).await
}
