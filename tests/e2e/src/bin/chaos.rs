//! `bm-chaos` (`make chaos`, issue #10): a draw load against a whole big-market on private
//! Redis / NATS and a breakable Postgres proxy, one fault after another, then the books.
//! Loopback only; everything it starts is stopped and dropped when it ends.
//!
//! ```text
//! bm-chaos [--load-secs 20] [--outage-ms 3000] [--database-outage-ms 8000] [--workers 8] [--users-per-worker 4]
//!          [--settle-secs 120] [--faults kill-strategy,restart-redis,…] [--json PATH]
//! ```
//! Exit status: 0 when every fault lost nothing, duplicated nothing and the invariants held;
//! 1 when one did not; 2 on a bad command line.

use std::{process::ExitCode, time::Duration};

use bm_e2e::chaos::{Chaos, Fault, Settings, table};

fn usage(problem: &str) -> ExitCode {
    eprintln!("bm-chaos: {problem}");
    eprintln!(
        "usage: bm-chaos [--load-secs N] [--outage-ms N] [--database-outage-ms N] [--workers N] [--users-per-worker N] \
         [--settle-secs N] [--faults {}] [--json PATH]",
        Fault::ALL.map(Fault::name).join(",")
    );
    ExitCode::from(2)
}

fn parse(args: &[String]) -> Result<(Settings, Option<String>), String> {
    let mut settings = Settings {
        workers: 8,
        users_per_worker: 4,
        load: Duration::from_secs(20),
        outage: Duration::from_secs(3),
        database_outage: Duration::from_secs(8),
        settle_within: Duration::from_mins(2),
        ..Settings::quick()
    };
    let mut json = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|_| format!("{flag}: {value:?} is not a whole number"));
        match flag.as_str() {
            "--load-secs" => settings.load = Duration::from_secs(number()?.max(3)),
            "--outage-ms" => settings.outage = Duration::from_millis(number()?),
            "--database-outage-ms" => settings.database_outage = Duration::from_millis(number()?),
            "--settle-secs" => settings.settle_within = Duration::from_secs(number()?),
            "--workers" => settings.workers = usize::try_from(number()?.clamp(1, 256)).unwrap_or(1),
            "--users-per-worker" => settings.users_per_worker = usize::try_from(number()?.clamp(1, 64)).unwrap_or(1),
            "--faults" => {
                settings.faults = value
                    .split(',')
                    .map(|name| Fault::parse(name.trim()).ok_or_else(|| format!("unknown fault {name:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--json" => json = Some(value.clone()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok((settings, json))
}

#[tokio::main]
#[expect(clippy::print_stdout, reason = "a command-line report")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return usage("help");
    }
    let (settings, json) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(problem) => return usage(&problem),
    };
    eprintln!(
        "[chaos] {} drawers × {} users, {:?} of load per fault, outage {:?} (Postgres {:?})",
        settings.workers, settings.users_per_worker, settings.load, settings.outage, settings.database_outage
    );
    let mut chaos = Chaos::start(settings).await;
    let figures = chaos.run().await;
    println!("{}", table(&figures));
    for f in figures.iter().filter(|f| !f.problems.is_empty()) {
        println!("{}:", f.fault);
        for problem in &f.problems {
            println!("  - {problem}");
        }
    }
    if let Some(path) = json {
        match serde_json::to_string_pretty(&figures) {
            Ok(text) => {
                if let Err(error) = std::fs::write(&path, text) {
                    eprintln!("bm-chaos: cannot write {path}: {error}");
                }
            }
            Err(error) => eprintln!("bm-chaos: cannot encode the figures: {error}"),
        }
    }
    drop(chaos);
    if figures.iter().all(bm_e2e::chaos::Figures::passed) {
        println!("chaos: every fault passed (lost 0, duplicated 0, invariants hold)");
        ExitCode::SUCCESS
    } else {
        println!("chaos: FAILED");
        ExitCode::FAILURE
    }
}
