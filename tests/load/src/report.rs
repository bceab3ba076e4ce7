//! The report of a run: throughput, latency percentiles, errors by code, and the ratio to a
//! same-run baseline (ARCHITECTURE.md §8.15: a ratio, never a wall-clock threshold).

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::histogram::Histogram;

/// The bucket of a failed call: `<gRPC code>/<bm code>` (`-` when the service sent no
/// business code, e.g. a transport failure), e.g. `FailedPrecondition/ERR_BIZ_006`.
pub fn error_bucket(status: &Status) -> String {
    let code = bm_status::code_of(status).map_or("-", bm_status::ErrorCode::as_str);
    format!("{:?}/{code}", status.code())
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

#[expect(clippy::cast_precision_loss, reason = "microseconds to milliseconds for display")]
fn ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

impl Latency {
    /// The percentiles of `histogram` (µs) in ms.
    pub fn of(histogram: &Histogram) -> Self {
        Self {
            p50: ms(histogram.quantile(0.50)),
            p90: ms(histogram.quantile(0.90)),
            p95: ms(histogram.quantile(0.95)),
            p99: ms(histogram.quantile(0.99)),
            p999: ms(histogram.quantile(0.999)),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1_000.0,
        }
    }
}

/// A same-run baseline and our figure relative to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// What was measured, e.g. `pgbench draw.sql`.
    pub name: String,
    /// Its operations per second.
    pub ops_per_sec: f64,
    /// Ours / baseline.
    pub ratio: f64,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The report's name.
    pub label: String,
    /// The mode.
    pub mode: String,
    /// `host:port`.
    pub target: String,
    /// Virtual users.
    pub users: u32,
    /// HTTP/2 connections.
    pub connections: u32,
    /// Offered rate (0 = flat out).
    pub rate: u32,
    /// Length of the measured window, seconds.
    pub seconds: f64,
    /// Successful operations in the window.
    pub ok: u64,
    /// Failed operations in the window.
    pub errors: u64,
    /// Successful operations per second.
    pub ops_per_sec: f64,
    /// Latency of successful operations (from the intended start under `--rate`, so a
    /// stalled service is not hidden by users that stop sending).
    pub latency_ms: Latency,
    /// Paced runs: how late the load tool's timer fired for users that waited for their
    /// intended start (not counted in `latency_ms`; a tool that keeps its schedule shows a
    /// p99 around Tokio's 1 ms timer tick here). `None` flat out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_late_ms: Option<Latency>,
    /// Share (0–1) of the machine's CPU time that was busy during the measured window — all
    /// processes, the load tool included (Linux `/proc/stat`; `None` elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_busy: Option<f64>,
    /// CPU milliseconds per successful operation in the window, by process name (`--cpu-of`;
    /// all processes of a name summed, e.g. every Postgres backend).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cpu_ms_per_op: BTreeMap<String, f64>,
    /// Failed operations by `<gRPC code>/<bm code>`.
    pub errors_by_code: BTreeMap<String, u64>,
    /// The same-run baseline, if given.
    pub baseline: Option<Baseline>,
}

impl Report {
    /// Builds a report; `baseline` is (name, ops/s).
    #[expect(clippy::cast_precision_loss, reason = "rates for display")]
    #[expect(clippy::too_many_arguments, reason = "a plain constructor of the report's fields")]
    pub fn new(
        label: &str,
        mode: &str,
        target: &str,
        (users, connections, rate): (u32, u32, u32),
        window: Duration,
        histogram: &Histogram,
        errors_by_code: BTreeMap<String, u64>,
        baseline: Option<(String, f64)>,
    ) -> Self {
        let seconds = window.as_secs_f64();
        let ok = histogram.count();
        let ops_per_sec = if seconds > 0.0 { ok as f64 / seconds } else { 0.0 };
        Self {
            label: label.to_owned(),
            mode: mode.to_owned(),
            target: target.to_owned(),
            users,
            connections,
            rate,
            seconds,
            ok,
            errors: errors_by_code.values().sum(),
            ops_per_sec,
            latency_ms: Latency::of(histogram),
            timer_late_ms: None,
            cpu_busy: None,
            cpu_ms_per_op: BTreeMap::new(),
            errors_by_code,
            baseline: baseline.map(|(name, ops)| Baseline { name, ops_per_sec: ops, ratio: ops_per_sec / ops }),
        }
    }

    /// The report of a paced run, with how late the tool's timers fired (µs histogram).
    #[must_use]
    pub fn with_timer_lateness(mut self, late: &Histogram) -> Self {
        self.timer_late_ms = Some(Latency::of(late));
        self
    }

    /// The report with how busy the machine's CPUs were in the window (a share, 0–1).
    #[must_use]
    pub fn with_cpu_busy(mut self, busy: Option<f64>) -> Self {
        self.cpu_busy = busy;
        self
    }

    /// The report with the named processes' CPU milliseconds per operation.
    #[must_use]
    pub fn with_cpu_per_op(mut self, per_op: BTreeMap<String, f64>) -> Self {
        self.cpu_ms_per_op = per_op;
        self
    }

    /// The named processes' CPU milliseconds per operation, all of them together.
    fn cpu_ms_together(&self) -> f64 {
        self.cpu_ms_per_op.values().sum()
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let l = &self.latency_ms;
        let rate = if self.rate == 0 { "flat out".to_owned() } else { format!("{} ops/s offered", self.rate) };
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "== {} ({} -> {}; {} users, {} connections, {rate})",
            self.label, self.mode, self.target, self.users, self.connections
        );
        let _ = writeln!(
            out,
            "   {:.0} ops/s  ({} ok, {} errors in {:.1} s)",
            self.ops_per_sec, self.ok, self.errors, self.seconds
        );
        let _ = writeln!(
            out,
            "   latency ms: p50 {:.2}  p90 {:.2}  p95 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2}",
            l.p50, l.p90, l.p95, l.p99, l.p999, l.max, l.mean
        );
        if let Some(t) = &self.timer_late_ms {
            let _ = writeln!(
                out,
                "   load tool's timer late (not in the latency) ms: p50 {:.2}  p99 {:.2}  max {:.2}",
                t.p50, t.p99, t.max
            );
        }
        if let Some(busy) = self.cpu_busy {
            let _ = writeln!(out, "   machine's CPUs busy: {} (all processes, the load tool too)", percent(busy));
        }
        if !self.cpu_ms_per_op.is_empty() {
            let each: Vec<String> = self.cpu_ms_per_op.iter().map(|(name, ms)| format!("{name} {ms:.2}")).collect();
            let _ = writeln!(
                out,
                "   CPU ms per operation: {}  (these together {:.2})",
                each.join("  "),
                self.cpu_ms_together()
            );
        }
        for (code, n) in &self.errors_by_code {
            let _ = writeln!(out, "   error {code}: {n}");
        }
        if let Some(b) = &self.baseline {
            let _ = writeln!(out, "   baseline {}: {:.0} ops/s  ->  ratio {:.2}", b.name, b.ops_per_sec, b.ratio);
        }
        out
    }
}

/// A share (0–1) as whole per cent, e.g. `73 %`.
fn percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

/// A markdown table of reports (one row each).
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| measure | users | rate | ops/s | p50 ms | p95 ms | p99 ms | max ms | errors | CPUs busy | baseline | baseline ops/s | ratio |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let l = &r.latency_ms;
        let rate = if r.rate == 0 { "max".to_owned() } else { r.rate.to_string() };
        let (name, ops, ratio) = r.baseline.as_ref().map_or_else(
            || ("—".to_owned(), "—".to_owned(), "—".to_owned()),
            |b| (b.name.clone(), format!("{:.0}", b.ops_per_sec), format!("{:.2}", b.ratio)),
        );
        let busy = r.cpu_busy.map_or_else(|| "—".to_owned(), percent);
        let _ = writeln!(
            out,
            "| {} | {} | {rate} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {busy} | {name} | {ops} | {ratio} |",
            r.label, r.users, r.ops_per_sec, l.p50, l.p95, l.p99, l.max, r.errors
        );
    }
    out
}

/// A markdown table of the reports' CPU milliseconds per operation by process (a column per
/// process name any report measured); empty when none did.
pub fn cpu_table(reports: &[Report]) -> String {
    let names: std::collections::BTreeSet<&String> = reports.iter().flat_map(|r| r.cpu_ms_per_op.keys()).collect();
    if names.is_empty() {
        return String::new();
    }
    let mut out = String::from("| CPU ms per operation | ops/s |");
    for name in &names {
        let _ = write!(out, " {name} |");
    }
    out.push_str(" together |\n|---|---|");
    out.push_str(&"---|".repeat(names.len() + 1));
    out.push('\n');
    for r in reports.iter().filter(|r| !r.cpu_ms_per_op.is_empty()) {
        let _ = write!(out, "| {} | {:.0} |", r.label, r.ops_per_sec);
        for name in &names {
            let cell = r.cpu_ms_per_op.get(*name).map_or_else(|| "—".to_owned(), |ms| format!("{ms:.2}"));
            let _ = write!(out, " {cell} |");
        }
        let _ = writeln!(out, " {:.2} |", r.cpu_ms_together());
    }
    out
}

#[cfg(test)]
mod tests {
    use bm_status::{ErrorCode, to_status};
    use tonic::Code;

    use super::*;

    #[test]
    fn errors_are_bucketed_by_grpc_and_business_code() {
        let quota = to_status(ErrorCode::AccountQuotaError, "no quota");
        assert_eq!(error_bucket(&quota), format!("{:?}/ERR_BIZ_006", quota.code()));
        assert_eq!(error_bucket(&Status::unavailable("connection refused")), "Unavailable/-");
        assert_eq!(error_bucket(&Status::new(Code::DeadlineExceeded, "slow")), "DeadlineExceeded/-");
    }

    fn histogram(values: &[u64]) -> Histogram {
        let mut h = Histogram::new();
        for v in values {
            h.record(*v);
        }
        h
    }

    #[test]
    fn report_rates_percentiles_and_ratio() {
        let h = histogram(&(1..=200).map(|i| i * 100).collect::<Vec<_>>());
        let errors = BTreeMap::from([("Unavailable/-".to_owned(), 3)]);
        let r = Report::new(
            "draw",
            "draw",
            "127.0.0.1:51050",
            (10, 2, 0),
            Duration::from_secs(2),
            &h,
            errors,
            Some(("pgbench".into(), 400.0)),
        );
        assert_eq!((r.ok, r.errors), (200, 3));
        assert!((r.ops_per_sec - 100.0).abs() < 1e-9);
        assert!((r.latency_ms.p50 - 10.0).abs() < 0.1, "{}", r.latency_ms.p50);
        assert!((r.latency_ms.p99 - 19.8).abs() < 0.2, "{}", r.latency_ms.p99);
        assert!((r.latency_ms.max - 20.0).abs() < 1e-9);
        let b = r.baseline.as_ref().unwrap();
        assert!((b.ratio - 0.25).abs() < 1e-9);
        let text = r.render();
        assert!(
            text.contains("100 ops/s") && text.contains("ratio 0.25") && text.contains("Unavailable/-: 3"),
            "{text}"
        );
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r, "JSON round trip");
        let t = table(&[r]);
        assert!(t.lines().nth(2).unwrap().starts_with("| draw | 10 | max | 100 |"), "{t}");
        assert!(t.contains("| 3 | — | pgbench | 400 | 0.25 |"), "no CPU share measured: {t}");
    }

    #[test]
    fn the_cpu_share_is_shown_in_percent_and_kept_in_the_json() {
        let r = plain(0, Duration::from_secs(1), &histogram(&[1_000])).with_cpu_busy(Some(0.734));
        assert!(r.render().contains("machine's CPUs busy: 73 %"), "{}", r.render());
        assert!(table(std::slice::from_ref(&r)).contains("| 0 | 73 % | — |"), "{}", table(std::slice::from_ref(&r)));
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"cpu_busy\":0.734"), "{json}");
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r, "JSON round trip");
        let unmeasured = plain(0, Duration::from_secs(1), &histogram(&[1]));
        assert!(!serde_json::to_string(&unmeasured).unwrap().contains("cpu_busy"), "not measured: no such field");
        assert!(!unmeasured.render().contains("CPUs busy"));
    }

    #[test]
    fn cpu_per_operation_by_process_is_shown_tabled_and_kept_in_the_json() {
        let per_op = BTreeMap::from([("postgres".to_owned(), 3.94), ("raffle".to_owned(), 0.96)]);
        let r = plain(50, Duration::from_secs(1), &histogram(&[1_000])).with_cpu_per_op(per_op);
        let text = r.render();
        assert!(text.contains("CPU ms per operation: postgres 3.94  raffle 0.96  (these together 4.90)"), "{text}");
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"cpu_ms_per_op\":{\"postgres\":3.94,\"raffle\":0.96}"), "{json}");
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r, "JSON round trip");
        let other = plain(0, Duration::from_secs(1), &histogram(&[1_000]))
            .with_cpu_per_op(BTreeMap::from([("award".to_owned(), 0.5), ("postgres".to_owned(), 2.0)]));
        let unmeasured = plain(0, Duration::from_secs(1), &histogram(&[1]));
        let t = cpu_table(&[r, other, unmeasured.clone()]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| CPU ms per operation | ops/s | award | postgres | raffle | together |", "{t}");
        assert_eq!(lines[1], "|---|---|---|---|---|---|");
        assert_eq!(lines[2], "| x | 1 | — | 3.94 | 0.96 | 4.90 |", "a process the run did not measure: —");
        assert_eq!(lines[3], "| x | 1 | 0.50 | 2.00 | — | 2.50 |");
        assert_eq!(lines.len(), 4, "a report without the figures gets no row: {t}");
        assert!(cpu_table(std::slice::from_ref(&unmeasured)).is_empty(), "nothing measured: no table");
        assert!(!serde_json::to_string(&unmeasured).unwrap().contains("cpu_ms_per_op"));
        assert!(!unmeasured.render().contains("CPU ms"));
    }

    /// A report of one user on one connection at `rate`, without errors or baseline.
    fn plain(rate: u32, window: Duration, h: &Histogram) -> Report {
        Report::new("x", "draw", "t", (1, 1, rate), window, h, BTreeMap::new(), None)
    }

    #[test]
    fn a_paced_report_shows_the_timer_lateness_apart() {
        let r = plain(5, Duration::from_secs(1), &histogram(&[5_000])).with_timer_lateness(&histogram(&[300, 900]));
        assert!((r.latency_ms.p50 - 5.0).abs() < 0.1, "latency untouched: {}", r.latency_ms.p50);
        let late = r.timer_late_ms.unwrap();
        assert!((late.max - 0.9).abs() < 0.01, "{}", late.max);
        assert!(r.render().contains("timer late (not in the latency) ms: p50 0.30"), "{}", r.render());
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r, "JSON round trip");
        let flat = plain(0, Duration::from_secs(1), &histogram(&[1]));
        assert!(!serde_json::to_string(&flat).unwrap().contains("timer_late_ms"), "flat out: no such field");
    }

    #[test]
    fn empty_run_has_zero_rates() {
        let r = plain(5, Duration::ZERO, &Histogram::new());
        assert_eq!((r.ok, r.errors), (0, 0));
        assert!(r.ops_per_sec.abs() < f64::EPSILON);
        assert!(table(&[r]).contains("| 0 | — | — | — | — |"));
    }
}
