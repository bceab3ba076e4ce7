//! `bm-bench`: see the crate docs and `bm-bench --help`.

use std::{io::Write as _, process::ExitCode, sync::Arc};

use bm_load::{
    args::{self, Command, USAGE},
    report::{Report, cpu_table, table},
    run,
};

#[expect(clippy::disallowed_methods, reason = "a run id only needs to differ between runs; no domain time")]
fn default_run_id() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("bench-{}-{secs}", std::process::id())
}

fn out(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).map_err(|e| format!("stdout: {e}"))
}

async fn cleanup_nats(url: &str, prefix: &str) -> Result<(), String> {
    let client = async_nats::connect(url).await.map_err(|e| format!("nats {url}: {e}"))?;
    let jetstream = async_nats::jetstream::new(client);
    for service in ["STRATEGY", "ACTIVITY", "AWARD", "CONTROL"] {
        let name = format!("{prefix}_{service}");
        if jetstream.get_stream(&name).await.is_ok() {
            jetstream.delete_stream(&name).await.map_err(|e| format!("delete stream {name}: {e}"))?;
            eprintln!("[bm-bench] deleted stream {name}");
        }
    }
    Ok(())
}

fn read_reports(paths: &[String]) -> Result<Vec<Report>, String> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
        })
        .collect()
}

async fn main_result() -> Result<ExitCode, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let command = match args::parse(&argv, &default_run_id()) {
        Ok(command) => command,
        Err(e) if e.0 == "help" => Command::Help,
        Err(e) => return Err(e.to_string()),
    };
    match command {
        Command::Help => out(USAGE)?,
        Command::Table(paths) => {
            let reports = read_reports(&paths)?;
            let (mut text, cpu) = (table(&reports), cpu_table(&reports));
            if !cpu.is_empty() {
                text.push('\n');
                text.push_str(&cpu);
            }
            out(&text)?;
        }
        Command::CleanupNats { url, stream_prefix } => cleanup_nats(&url, &stream_prefix).await?,
        Command::Armory { target, activity_id, wait } => run::armory(target, activity_id, wait).await?,
        Command::Run(run_args) => {
            let run_args = Arc::new(*run_args);
            let report = run::run(run_args.clone()).await?;
            out(&report.render())?;
            if let Some(path) = &run_args.json {
                let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                if path == "-" {
                    out(&format!("{json}\n"))?;
                } else {
                    std::fs::write(path, json).map_err(|e| format!("{path}: {e}"))?;
                }
            }
            if report.ok == 0 {
                eprintln!("[bm-bench] no operation succeeded");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_result().await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("bm-bench: {message}");
            ExitCode::from(2)
        }
    }
}
