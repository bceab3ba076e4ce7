//! The command line of `bm-bench` (hand-rolled: a dozen flags do not need a parser crate).

use std::{fmt, net::SocketAddr, time::Duration};

/// What each virtual user calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// RaffleService/Draw: the whole flow (partake → draw → record award → complete).
    Draw,
    /// StrategyService/Draw alone.
    StrategyDraw,
    /// ActivityService/Partake then CompleteOrder (one operation).
    Partake,
    /// AwardService/RecordAward.
    RecordAward,
}

impl Mode {
    /// The flag value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draw => "draw",
            Self::StrategyDraw => "strategy-draw",
            Self::Partake => "partake",
            Self::RecordAward => "record-award",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [Self::Draw, Self::StrategyDraw, Self::Partake, Self::RecordAward].into_iter().find(|m| m.as_str() == value)
    }

    /// The port of the service a mode calls in the default local stack.
    pub const fn default_port(self) -> u16 {
        match self {
            Self::Draw => 50050,
            Self::StrategyDraw => 50051,
            Self::Partake => 50052,
            Self::RecordAward => 50053,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After the warm-up, measure for this long.
    Duration(Duration),
    /// After this many operations (all users together; no warm-up).
    Count(u64),
}

/// Order ids of strategy-draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderIds {
    /// A new order id per draw: recorded, takes stock (the production path).
    Unique,
    /// No order id: a debug draw, neither recorded nor taking stock.
    Empty,
}

/// A measured run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunArgs {
    /// What to call.
    pub mode: Mode,
    /// Where (loopback only).
    pub target: SocketAddr,
    /// Virtual users, each with its own user id.
    pub users: u32,
    /// HTTP/2 connections the users share (round robin).
    pub connections: u32,
    /// When to stop.
    pub stop: Stop,
    /// Not measured, before the measured window (duration runs only).
    pub warmup: Duration,
    /// Operations per second for all users together (0 = as fast as they go).
    pub rate: u32,
    /// The activity (draw, partake, record-award).
    pub activity_id: i64,
    /// The strategy (strategy-draw, record-award).
    pub strategy_id: i64,
    /// The sku recharged for quota (draw, partake).
    pub sku: i64,
    /// Draws one recharge of `sku` grants.
    pub draws_per_recharge: u32,
    /// strategy-draw order ids.
    pub order_ids: OrderIds,
    /// Prefix of user ids, order ids and business numbers (unique per run).
    pub run_id: String,
    /// The report's name (default: the mode).
    pub label: String,
    /// Where to write the JSON report (`-` = stdout).
    pub json: Option<String>,
    /// A same-run baseline to compare with: name and operations per second.
    pub baseline: Option<(String, f64)>,
    /// Process names (`/proc/<pid>/comm`) whose CPU time per operation the report gives.
    pub cpu_of: Vec<String>,
}

/// The subcommands.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Load a service and report.
    Run(Box<RunArgs>),
    /// Print a markdown table of JSON reports.
    Table(Vec<String>),
    /// Delete the JetStream streams `<prefix>_STRATEGY`, `_ACTIVITY`, `_AWARD`, `_CONTROL`.
    CleanupNats {
        /// `nats://127.0.0.1:4222`.
        url: String,
        /// The stream prefix the bench services used.
        stream_prefix: String,
    },
    /// Wait until the orchestrator at `target` answers, then armory `activity_id` through it
    /// (RaffleService/ArmoryActivity: sku stock counters, strategy rate tables).
    Armory {
        /// The orchestrator.
        target: SocketAddr,
        /// The activity.
        activity_id: i64,
        /// How long to keep trying.
        wait: Duration,
    },
    /// Print usage.
    Help,
}

/// Usage text.
pub const USAGE: &str = "\
bm-bench: load a big-market service with virtual users and report throughput and latency.

usage:
  bm-bench [run] [options]           measure (the default subcommand)
  bm-bench table REPORT.json...      markdown table of reports (with their baselines and ratios)
  bm-bench cleanup-nats --stream-prefix P [--url nats://127.0.0.1:4222]
  bm-bench armory [--target 127.0.0.1:50050] [--activity 100301] [--wait 60s]

run options:
  --mode M            draw | strategy-draw | partake | record-award          (draw)
  --target HOST:PORT  loopback only; default 127.0.0.1:<the mode's default port>
  --users N           virtual users, each its own user id (1..=10000)          (50)
  --connections N     HTTP/2 connections shared by the users (1..=64)          (2)
  --duration D        measured time after the warm-up, e.g. 15s, 500ms (<= 10m) (10s)
  --requests N        stop after N operations instead (<= 10000000; no warm-up)
  --warmup D          unmeasured time first                                   (2s)
  --rate R            operations/s of all users together, 0 = flat out       (0)
  --activity ID       (100301)   --strategy ID (100006)   --sku SKU (9011)
  --draws-per-recharge N   quota one recharge of the sku grants             (150)
  --order-ids unique|empty   strategy-draw: recorded draws or debug draws   (unique)
  --run-id ID         prefix of user ids, order ids and business numbers  (bench-<pid>-<time>)
  --label NAME        name of the report (the mode)
  --json PATH         also write the report as JSON (- = stdout)
  --baseline NAME=OPS a same-run baseline in operations/s; the report prints the ratio
  --cpu-of NAMES      process names, comma-separated (e.g. postgres,raffle): the report gives
                      each one's CPU time per operation in the window (Linux; <= 16 names)
";

/// A bad command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (bm-bench --help for usage)", self.0)
    }
}

impl std::error::Error for ArgError {}

fn bad(message: impl Into<String>) -> ArgError {
    ArgError(message.into())
}

/// Parses `10s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(value: &str) -> Result<Duration, ArgError> {
    let value = value.trim();
    let (number, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => value.split_at(at),
        None => (value, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad(format!("{value:?} is not a duration like 15s or 500ms")))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(bad(format!("{value:?}: the unit must be ms, s or m"))),
    }
}

fn number<T>(flag: &str, value: &str, range: std::ops::RangeInclusive<T>) -> Result<T, ArgError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display,
{
    let n: T = value.parse().map_err(|_| bad(format!("{flag}: {value:?} is not a number")))?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(bad(format!("{flag}: {n} is outside {}..={}", range.start(), range.end())))
    }
}

/// Parses `HOST:PORT`, refusing anything but a loopback address (the tool never loads
/// another machine).
pub fn parse_target(value: &str) -> Result<SocketAddr, ArgError> {
    let value = value.strip_prefix("http://").unwrap_or(value);
    let value = value.strip_prefix("localhost:").map_or_else(|| value.to_owned(), |port| format!("127.0.0.1:{port}"));
    let address: SocketAddr =
        value.parse().map_err(|_| bad(format!("--target: {value:?} is not an IP:PORT like 127.0.0.1:50050")))?;
    if !address.ip().is_loopback() {
        return Err(bad(format!("--target: {address} is not a loopback address; bm-bench only loads this machine")));
    }
    Ok(address)
}

fn baseline(value: &str) -> Result<(String, f64), ArgError> {
    let (name, ops) =
        value.rsplit_once('=').ok_or_else(|| bad("--baseline: expected NAME=OPS, e.g. pgbench=1234.5"))?;
    let ops: f64 = ops.parse().map_err(|_| bad(format!("--baseline: {ops:?} is not a number")))?;
    if name.is_empty() || !ops.is_finite() || ops <= 0.0 {
        return Err(bad("--baseline: expected a name and a positive number of operations per second"));
    }
    Ok((name.to_owned(), ops))
}

/// Parses the arguments after the program name; `default_run_id` names the run when
/// `--run-id` is absent.
pub fn parse(args: &[String], default_run_id: &str) -> Result<Command, ArgError> {
    let (sub, rest) = match args.first().map(String::as_str) {
        Some("run") => ("run", &args[1..]),
        Some("table") => ("table", &args[1..]),
        Some("cleanup-nats") => ("cleanup-nats", &args[1..]),
        Some("armory") => ("armory", &args[1..]),
        Some("-h" | "--help" | "help") => return Ok(Command::Help),
        _ => ("run", args),
    };
    match sub {
        "table" if rest.is_empty() => Err(bad("table: name at least one JSON report")),
        "table" => Ok(Command::Table(rest.to_vec())),
        "cleanup-nats" => parse_cleanup(rest),
        "armory" => parse_armory(rest),
        _ => parse_run(rest, default_run_id).map(|run| Command::Run(Box::new(run))),
    }
}

fn pairs(args: &[String]) -> Result<Vec<(&str, &str)>, ArgError> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(bad("help"));
        }
        if !flag.starts_with("--") {
            return Err(bad(format!("unexpected argument {flag:?}")));
        }
        let (flag, value) = match flag.split_once('=') {
            Some((f, v)) => (f, v),
            None => (flag.as_str(), it.next().ok_or_else(|| bad(format!("{flag} needs a value")))?.as_str()),
        };
        out.push((flag, value));
    }
    Ok(out)
}

fn parse_cleanup(args: &[String]) -> Result<Command, ArgError> {
    let mut url = "nats://127.0.0.1:4222".to_owned();
    let mut stream_prefix = None;
    for (flag, value) in pairs(args)? {
        match flag {
            "--url" => value.clone_into(&mut url),
            "--stream-prefix" => stream_prefix = Some(value.to_owned()),
            other => return Err(bad(format!("cleanup-nats: unknown flag {other}"))),
        }
    }
    let stream_prefix = stream_prefix.ok_or_else(|| bad("cleanup-nats: --stream-prefix is required"))?;
    let host = url.strip_prefix("nats://").unwrap_or(&url);
    parse_target(host)?;
    Ok(Command::CleanupNats { url, stream_prefix })
}

fn parse_armory(args: &[String]) -> Result<Command, ArgError> {
    let mut target = SocketAddr::from(([127, 0, 0, 1], Mode::Draw.default_port()));
    let (mut activity_id, mut wait) = (100_301, Duration::from_mins(1));
    for (flag, value) in pairs(args)? {
        match flag {
            "--target" => target = parse_target(value)?,
            "--activity" => activity_id = number(flag, value, 1..=i64::MAX)?,
            "--wait" => wait = parse_duration(value)?.min(Duration::from_mins(5)),
            other => return Err(bad(format!("armory: unknown flag {other}"))),
        }
    }
    Ok(Command::Armory { target, activity_id, wait })
}

/// `--cpu-of`: 1 to 16 process names as the kernel keeps them (at most 15 bytes, no `/`).
fn process_names(value: &str) -> Result<Vec<String>, ArgError> {
    let names: Vec<String> = value.split(',').map(str::trim).map(str::to_owned).collect();
    if names.len() > 16 {
        return Err(bad("--cpu-of: at most 16 process names"));
    }
    if let Some(name) = names.iter().find(|n| n.is_empty() || n.len() > 15 || n.contains('/')) {
        return Err(bad(format!(
            "--cpu-of: {name:?} is not a process name (1-15 bytes, as in /proc/<pid>/comm; not a path)"
        )));
    }
    Ok(names)
}

fn parse_run(args: &[String], default_run_id: &str) -> Result<RunArgs, ArgError> {
    let mut mode = Mode::Draw;
    let mut target = None;
    let mut run = RunArgs {
        mode,
        target: SocketAddr::from(([127, 0, 0, 1], mode.default_port())),
        users: 50,
        connections: 2,
        stop: Stop::Duration(Duration::from_secs(10)),
        warmup: Duration::from_secs(2),
        rate: 0,
        activity_id: 100_301,
        strategy_id: 100_006,
        sku: 9011,
        draws_per_recharge: 150,
        order_ids: OrderIds::Unique,
        run_id: default_run_id.to_owned(),
        label: String::new(),
        json: None,
        baseline: None,
        cpu_of: Vec::new(),
    };
    let (mut duration, mut requests, mut warmup) = (None, None, None);
    for (flag, value) in pairs(args)? {
        match flag {
            "--mode" => {
                mode = Mode::parse(value).ok_or_else(|| {
                    bad(format!("--mode: {value:?} is not draw, strategy-draw, partake or record-award"))
                })?;
            }
            "--target" => target = Some(parse_target(value)?),
            "--users" => run.users = number(flag, value, 1..=10_000)?,
            "--connections" => run.connections = number(flag, value, 1..=64)?,
            "--duration" => duration = Some(parse_duration(value)?),
            "--requests" => requests = Some(number(flag, value, 1..=10_000_000)?),
            "--warmup" => warmup = Some(parse_duration(value)?),
            "--rate" => run.rate = number(flag, value, 0..=1_000_000)?,
            "--activity" => run.activity_id = number(flag, value, 1..=i64::MAX)?,
            "--strategy" => run.strategy_id = number(flag, value, 1..=i64::MAX)?,
            "--sku" => run.sku = number(flag, value, 1..=i64::MAX)?,
            "--draws-per-recharge" => run.draws_per_recharge = number(flag, value, 1..=1_000_000)?,
            "--order-ids" => {
                run.order_ids = match value {
                    "unique" => OrderIds::Unique,
                    "empty" => OrderIds::Empty,
                    _ => return Err(bad(format!("--order-ids: {value:?} is not unique or empty"))),
                };
            }
            "--run-id" => value.clone_into(&mut run.run_id),
            "--label" => value.clone_into(&mut run.label),
            "--json" => run.json = Some(value.to_owned()),
            "--baseline" => run.baseline = Some(baseline(value)?),
            "--cpu-of" => run.cpu_of = process_names(value)?,
            other => return Err(bad(format!("unknown flag {other}"))),
        }
    }
    run.mode = mode;
    run.target = target.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], mode.default_port())));
    run.stop = match (duration, requests) {
        (Some(_), Some(_)) => return Err(bad("--duration and --requests exclude each other")),
        (_, Some(n)) => Stop::Count(n),
        (Some(d), None) => Stop::Duration(d),
        (None, None) => run.stop,
    };
    if let Stop::Duration(d) = run.stop
        && (d.is_zero() || d > Duration::from_mins(10))
    {
        return Err(bad("--duration must be between 1ms and 10m"));
    }
    run.warmup = match run.stop {
        Stop::Count(_) => Duration::ZERO,
        Stop::Duration(_) => warmup.unwrap_or(run.warmup),
    };
    if run.warmup > Duration::from_mins(1) {
        return Err(bad("--warmup must be at most 60s"));
    }
    // Ids are at most 64 characters: leave room for the user, order and recharge suffixes.
    if run.run_id.is_empty()
        || run.run_id.len() > 32
        || !run.run_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(bad("--run-id: 1-32 characters of [A-Za-z0-9-]"));
    }
    if run.label.is_empty() {
        run.label = match (mode, run.order_ids) {
            (Mode::StrategyDraw, OrderIds::Empty) => "strategy-draw (debug, no order)".to_owned(),
            _ => mode.as_str().to_owned(),
        };
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn run(line: &str) -> RunArgs {
        match parse(&args(line), "r1").unwrap() {
            Command::Run(run) => *run,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let r = run("");
        assert_eq!(r.mode, Mode::Draw);
        assert_eq!(r.target, "127.0.0.1:50050".parse().unwrap());
        assert_eq!((r.users, r.connections, r.rate), (50, 2, 0));
        assert_eq!(r.stop, Stop::Duration(Duration::from_secs(10)));
        assert_eq!(r.warmup, Duration::from_secs(2));
        assert_eq!((r.run_id.as_str(), r.label.as_str()), ("r1", "draw"));
        assert_eq!(run("run"), r, "run is the default subcommand");
    }

    #[test]
    fn flags_with_and_without_equals() {
        let r = run("--mode strategy-draw --users=200 --duration 15s --warmup=500ms --order-ids empty --rate 1000");
        assert_eq!(r.mode, Mode::StrategyDraw);
        assert_eq!(r.target.port(), 50051, "the mode's default port");
        assert_eq!(r.users, 200);
        assert_eq!(r.stop, Stop::Duration(Duration::from_secs(15)));
        assert_eq!(r.warmup, Duration::from_millis(500));
        assert_eq!(r.order_ids, OrderIds::Empty);
        assert_eq!(r.rate, 1000);
        assert_eq!(r.label, "strategy-draw (debug, no order)");
        let r = run("--mode partake --target 127.0.0.1:51052 --requests 1000 --warmup 5s --baseline pgbench=812.5");
        assert_eq!((r.mode, r.target.port()), (Mode::Partake, 51052));
        assert_eq!(r.stop, Stop::Count(1000));
        assert_eq!(r.warmup, Duration::ZERO, "a counted run has no warm-up");
        assert_eq!(r.baseline, Some(("pgbench".to_owned(), 812.5)));
        assert!(r.cpu_of.is_empty(), "per-process CPU only when asked");
        assert_eq!(run("--cpu-of postgres,nats-server,raffle").cpu_of, ["postgres", "nats-server", "raffle"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("15").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_mins(2));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn targets_are_loopback_only() {
        assert_eq!(parse_target("127.0.0.1:1").unwrap().port(), 1);
        assert_eq!(parse_target("http://127.0.0.1:2").unwrap().port(), 2);
        assert_eq!(parse_target("localhost:3").unwrap(), "127.0.0.1:3".parse().unwrap());
        assert!(parse_target("[::1]:4").is_ok());
        assert!(parse_target("10.0.0.1:50050").unwrap_err().0.contains("loopback"));
        assert!(parse_target("example.com:80").is_err());
        assert!(parse(&args("cleanup-nats --stream-prefix X --url nats://10.1.1.1:4222"), "r").is_err());
    }

    #[test]
    fn refusals() {
        for line in [
            "--mode lottery",
            "--users 0",
            "--users 10001",
            "--duration 11m",
            "--duration 0s",
            "--duration 5s --requests 10",
            "--requests 0",
            "--warmup 2m",
            "--bogus 1",
            "--users",
            "stray",
            "--run-id has_underscore",
            "--baseline pgbench",
            "--baseline pgbench=-1",
            "--order-ids some",
            "--cpu-of postgres,,raffle",
            "--cpu-of /usr/bin/raffle",
            "--cpu-of a-name-longer-than-15",
            "--cpu-of a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
        ] {
            assert!(parse(&args(line), "r").is_err(), "{line:?} must be refused");
        }
        assert!(parse(&args("table"), "r").is_err());
        assert!(parse(&args("cleanup-nats"), "r").is_err());
    }

    #[test]
    fn subcommands() {
        assert_eq!(parse(&args("table a.json b.json"), "r").unwrap(), Command::Table(args("a.json b.json")));
        assert_eq!(
            parse(&args("cleanup-nats --stream-prefix BMBENCH"), "r").unwrap(),
            Command::CleanupNats { url: "nats://127.0.0.1:4222".into(), stream_prefix: "BMBENCH".into() }
        );
        assert_eq!(parse(&args("--help"), "r").unwrap(), Command::Help);
        assert_eq!(
            parse(&args("armory --target 127.0.0.1:51050 --wait 10m"), "r").unwrap(),
            Command::Armory {
                target: "127.0.0.1:51050".parse().unwrap(),
                activity_id: 100_301,
                wait: Duration::from_mins(5)
            },
            "the wait is capped"
        );
    }
}
