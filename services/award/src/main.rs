//! `award`: see the crate docs.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    bm_server::run_binary("award", bm_award::run).await
}
