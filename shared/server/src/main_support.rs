//! The body of every binary's `main`: parse the command, load and validate the settings,
//! set up tracing, run, and turn a failure into a message naming the setting and exit 1.

use std::{future::Future, process::ExitCode};

use serde::{Serialize, de::DeserializeOwned};

use crate::{
    cli::Command,
    config::{LogSettings, Validate, load},
    infra::StartupError,
    telemetry,
};

/// The allocator of every binary built on this crate: mimalloc, which under the services'
/// many small short-lived allocations (protobuf messages, HTTP/2 frames, SQL rows) across
/// threads costs less than glibc's malloc (measured in docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A service's whole configuration.
pub trait ServiceSettings: Serialize + DeserializeOwned + Default + Validate + std::fmt::Debug {
    /// The logging part.
    fn log(&self) -> &LogSettings;
}

/// Runs a binary: `run(command, settings)` after config and tracing are set up.
pub async fn run_binary<S, F, Fut>(binary: &'static str, run: F) -> ExitCode
where
    S: ServiceSettings,
    F: FnOnce(Command, S) -> Fut,
    Fut: Future<Output = Result<(), StartupError>>,
{
    let result = async {
        let command = Command::parse(std::env::args().skip(1)).map_err(|e| e.to_string())?;
        let settings: S = load().map_err(|e| report(&e))?;
        telemetry::init(settings.log(), binary);
        tracing::info!(binary, version = env!("CARGO_PKG_VERSION"), ?command, ?settings, "starting");
        run(command, settings).await.map_err(|e| report(&e))
    };
    let result = result.await;
    telemetry::shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(binary, error = %message, "exiting");
            #[expect(clippy::print_stderr, reason = "the one place a binary reports why it exits")]
            {
                eprintln!("{binary}: error: {message}");
            }
            ExitCode::FAILURE
        }
    }
}

fn report(error: &(dyn std::error::Error + 'static)) -> String {
    bm_status::ErrorChain(error).to_string()
}
