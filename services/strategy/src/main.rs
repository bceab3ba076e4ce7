//! `strategy`: see the crate docs.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    bm_server::run_binary("strategy", bm_strategy::run).await
}
