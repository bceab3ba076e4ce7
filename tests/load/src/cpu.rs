//! How busy the machine's CPUs were during the measured window, from Linux's `/proc/stat`.
//!
//! A run's throughput and tail only mean something next to how much of the machine it used:
//! "70 % of the peak rate" is not 70 % of the CPUs when the work per operation changes with
//! the load (batches form at the peak that do not form at a lower rate). Machine-wide: the
//! services, the infrastructure and the load tool itself.

/// Cumulative CPU time of all CPUs, in clock ticks (the first `cpu` line of `/proc/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks spent idle or waiting for I/O.
    idle: u64,
    /// All ticks (guest time is already inside user and nice, so it is not added again;
    /// steal — time the hypervisor gave to others — counts as busy: the CPU was not ours).
    total: u64,
}

impl CpuTimes {
    /// The machine's times now; `None` where `/proc/stat` cannot be read (not Linux).
    pub fn now() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// Parses the aggregate `cpu` line: `cpu user nice system idle iowait irq softirq steal
    /// [guest guest_nice]`.
    pub fn parse(proc_stat: &str) -> Option<Self> {
        let line = proc_stat.lines().find(|l| l.split_whitespace().next() == Some("cpu"))?;
        let ticks = line.split_whitespace().skip(1).map(str::parse::<u64>).collect::<Result<Vec<_>, _>>().ok()?;
        if ticks.len() < 5 {
            return None;
        }
        Some(Self { idle: ticks[3] + ticks[4], total: ticks.iter().take(8).sum() })
    }

    /// The share (0–1) of all CPUs' time from `self` to `later` that was not idle; `None`
    /// when no time passed (or the counters went backwards).
    pub fn busy_until(&self, later: &Self) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let idle = later.idle.checked_sub(self.idle)?;
        if total == 0 || idle > total {
            return None;
        }
        #[expect(clippy::cast_precision_loss, reason = "a share for display")]
        let busy = (total - idle) as f64 / total as f64;
        Some(busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 5 40 800 50 1 4 0 7 0\n\
                        cpu0 50 2 20 400 25 0 2 0 3 0\n\
                        cpu1 50 3 20 400 25 1 2 0 4 0\n\
                        intr 12345\n";

    #[test]
    fn the_aggregate_line_is_read_and_guest_time_not_counted_twice() {
        let t = CpuTimes::parse(STAT).unwrap();
        assert_eq!(t, CpuTimes { idle: 850, total: 1000 });
        assert_eq!(CpuTimes::parse("cpu0 1 2 3 4 5\n"), None, "only the aggregate line counts");
        assert_eq!(CpuTimes::parse("cpu 1 2 x 4 5\n"), None);
        assert_eq!(CpuTimes::parse("cpu 1 2 3\n"), None);
    }

    #[test]
    fn busy_is_the_non_idle_share_between_two_readings() {
        let before = CpuTimes { idle: 850, total: 1000 };
        let after = CpuTimes { idle: 900, total: 1200 };
        let busy = before.busy_until(&after).unwrap();
        assert!((busy - 0.75).abs() < 1e-9, "{busy}");
        assert_eq!(before.busy_until(&before), None, "no time passed");
        assert_eq!(after.busy_until(&before), None, "backwards");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_machine_reports_a_share() {
        let before = CpuTimes::now().expect("/proc/stat is readable on Linux");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let busy = before.busy_until(&CpuTimes::now().unwrap()).expect("clock ticks passed");
        assert!((0.0..=1.0).contains(&busy), "{busy}");
    }
}
