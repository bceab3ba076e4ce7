//! `activity`: see the crate docs.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    bm_server::run_binary("activity", bm_activity::run).await
}
