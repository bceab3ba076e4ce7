//! `bm-check`: reads every service database and Redis and reports the platform's invariants
//! (exit 0 when all hold, 1 when one is violated, 2 when the check cannot run).
//!
//! ```text
//! bm-check [--strategy-db URL] [--activity-db URL] [--award-db URL] [--redis URL]
//!          [--redis-prefix bm:] [--settle-secs 60] [--json]
//! ```
//! Defaults are those of `make up`.

use std::process::ExitCode;

use bm_invariants::{Sources, check};

fn usage() -> String {
    "usage: bm-check [--strategy-db URL] [--activity-db URL] [--award-db URL] [--redis URL] \
     [--redis-prefix PREFIX] [--settle-secs N] [--json]"
        .to_owned()
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<(Sources, bool), String> {
    let db = |name: &str| format!("postgres://bigmarket:bigmarket@127.0.0.1:5432/{name}");
    let mut sources = Sources {
        strategy_db: db("bm_strategy"),
        activity_db: db("bm_activity"),
        award_db: db("bm_award"),
        redis_url: "redis://127.0.0.1:6379".into(),
        strategy_redis_prefix: "bm:".into(),
        activity_redis_prefix: "bm:".into(),
        settle_secs: 60,
    };
    let mut json = false;
    while let Some(flag) = args.next() {
        if flag == "--json" {
            json = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value; {}", usage()))?;
        match flag.as_str() {
            "--strategy-db" => sources.strategy_db = value,
            "--activity-db" => sources.activity_db = value,
            "--award-db" => sources.award_db = value,
            "--redis" => sources.redis_url = value,
            "--redis-prefix" => {
                sources.strategy_redis_prefix.clone_from(&value);
                sources.activity_redis_prefix = value;
            }
            "--settle-secs" => {
                sources.settle_secs = value.parse().map_err(|_| format!("--settle-secs {value:?} is not a number"))?;
            }
            _ => return Err(format!("unknown flag {flag}; {}", usage())),
        }
    }
    Ok((sources, json))
}

#[tokio::main(flavor = "current_thread")]
#[expect(clippy::print_stdout, clippy::print_stderr, reason = "a command-line report")]
async fn main() -> ExitCode {
    let (sources, json) = match parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("bm-check: {message}");
            return ExitCode::from(2);
        }
    };
    match check(&sources).await {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                print!("{}", report.render());
            }
            if report.holds() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(error) => {
            eprintln!("bm-check: cannot check: {error}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let (sources, json) =
            parse(["--redis-prefix", "x:", "--json", "--settle-secs", "5"].map(String::from).into_iter()).unwrap();
        assert_eq!((sources.strategy_redis_prefix.as_str(), sources.settle_secs, json), ("x:", 5, true));
        assert_eq!(sources.activity_redis_prefix, "x:");
        assert!(parse(["--bogus", "1"].map(String::from).into_iter()).is_err());
        assert!(parse(["--redis"].map(String::from).into_iter()).is_err());
        assert!(parse(["--settle-secs", "soon"].map(String::from).into_iter()).is_err());
    }
}
