//! How busy the machine's CPUs were during the measured window, from Linux's `/proc/stat`.
//!
//! A run's throughput and tail only mean something next to how much of the machine it used:
//! "70 % of the peak rate" is not 70 % of the CPUs when the work per operation changes with
//! the load (batches form at the peak that do not form at a lower rate). Machine-wide: the
//! services, the infrastructure and the load tool itself.
//!
//! And, per process name (`--cpu-of`), the CPU time each spent per operation: which part of
//! the system a run's work landed on, and how that cost changes with the rate.

use std::collections::BTreeMap;

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

/// CPU time (user + system, all threads) of the processes whose name is one of a list, per
/// process id, in clock ticks (`/proc/<pid>/stat`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessTimes(BTreeMap<u32, (String, u64)>);

impl ProcessTimes {
    /// The named processes' times now; `None` without `/proc` or without names.
    pub fn now(names: &[String]) -> Option<Self> {
        if names.is_empty() {
            return None;
        }
        let mut times = Self::default();
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            // A process may end between the listing and the read: it is simply not counted.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            if let Some((name, ticks)) = parse_process_stat(&stat)
                && names.iter().any(|n| n == name)
            {
                times.0.insert(pid, (name.to_owned(), ticks));
            }
        }
        Some(times)
    }

    /// The times with `pid` added.
    #[cfg(test)]
    #[must_use]
    fn with(mut self, pid: u32, name: &str, ticks: u64) -> Self {
        self.0.insert(pid, (name.to_owned(), ticks));
        self
    }

    /// CPU milliseconds per operation, summed by process name, from `self` to `later`: a
    /// process started in between counts from zero; one that ended in between is missing
    /// (its time cannot be read any more). Empty when no operation succeeded.
    pub fn ms_per_op(&self, later: &Self, ops: u64, ticks_per_second: u64) -> BTreeMap<String, f64> {
        if ops == 0 || ticks_per_second == 0 {
            return BTreeMap::new();
        }
        let mut per_name: BTreeMap<String, u64> = BTreeMap::new();
        for (pid, (name, ticks)) in &later.0 {
            let before = self.0.get(pid).filter(|(n, _)| n == name).map_or(0, |(_, t)| *t);
            *per_name.entry(name.clone()).or_insert(0) += ticks.saturating_sub(before);
        }
        #[expect(clippy::cast_precision_loss, reason = "milliseconds for display")]
        let ms = |ticks: u64| ticks as f64 * 1000.0 / ticks_per_second as f64 / ops as f64;
        per_name.into_iter().map(|(name, ticks)| (name, ms(ticks))).collect()
    }
}

/// The process name and its user + system ticks from a `/proc/<pid>/stat` line: `pid (comm)
/// state ppid … utime stime …` (fields 14 and 15); the name may hold spaces and parentheses,
/// so it ends at the last `)`.
pub fn parse_process_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    // After the name: state (field 3) … utime is field 14, the 12th after the name.
    let mut rest = stat.get(close + 1..)?.split_whitespace().skip(11);
    let utime = rest.next()?.parse::<u64>().ok()?;
    let stime = rest.next()?.parse::<u64>().ok()?;
    Some((name, utime + stime))
}

/// Clock ticks per second of `/proc`'s process times: the kernel's `AT_CLKTCK` from this
/// process' auxiliary vector, 100 (Linux' `USER_HZ` everywhere in practice) when unreadable.
pub fn ticks_per_second() -> u64 {
    std::fs::read("/proc/self/auxv").ok().and_then(|auxv| clock_ticks_from_auxv(&auxv)).unwrap_or(100)
}

/// `AT_CLKTCK` (17) from an auxiliary vector: native-endian (key, value) pairs of `u64`,
/// ended by key 0.
pub fn clock_ticks_from_auxv(auxv: &[u8]) -> Option<u64> {
    const AT_CLKTCK: u64 = 17;
    let word = |bytes: &[u8]| bytes.try_into().ok().map(u64::from_ne_bytes);
    for pair in auxv.chunks_exact(16) {
        let (key, value) = (word(&pair[..8])?, word(&pair[8..])?);
        match key {
            0 => return None,
            AT_CLKTCK if value > 0 => return Some(value),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_stat_line_gives_its_name_and_user_plus_system_ticks() {
        // Fields 14 and 15 (utime 120, stime 30); the name holds a space and a parenthesis.
        let line = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 120 30 0 0 20 0 3 0 100 0 0\n";
        assert_eq!(parse_process_stat(line), Some(("tokio (rt) x", 150)));
        assert_eq!(parse_process_stat("4242 (postgres) S 1 2 3"), None, "too short");
        assert_eq!(parse_process_stat("4242 postgres S 1"), None, "no name");
        assert_eq!(parse_process_stat("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 30 0"), None, "not a number");
    }

    #[test]
    fn cpu_per_operation_is_summed_by_name_and_counts_new_processes_from_zero() {
        let before = ProcessTimes::default().with(10, "postgres", 100).with(11, "postgres", 50).with(20, "raffle", 7);
        // 10 went on, 11 ended (missing), 12 started, a reused pid with another name counts from zero.
        let after = ProcessTimes::default()
            .with(10, "postgres", 300)
            .with(12, "postgres", 100)
            .with(20, "award", 40)
            .with(30, "raffle", 20);
        let per_op = before.ms_per_op(&after, 100, 100);
        // postgres: (300 - 100) + 100 = 300 ticks = 3 s over 100 ops = 30 ms per op.
        assert_eq!(per_op.get("postgres"), Some(&30.0));
        assert_eq!(per_op.get("award"), Some(&4.0));
        assert_eq!(per_op.get("raffle"), Some(&2.0));
        assert!(before.ms_per_op(&after, 0, 100).is_empty(), "no operations: nothing per operation");
    }

    #[test]
    fn the_clock_tick_rate_is_read_from_the_auxiliary_vector() {
        let pairs = |p: &[(u64, u64)]| {
            p.iter().flat_map(|(k, v)| [k.to_ne_bytes(), v.to_ne_bytes()]).flatten().collect::<Vec<u8>>()
        };
        assert_eq!(clock_ticks_from_auxv(&pairs(&[(6, 4096), (17, 250), (0, 0)])), Some(250));
        assert_eq!(clock_ticks_from_auxv(&pairs(&[(6, 4096), (0, 0), (17, 250)])), None, "after the end");
        assert_eq!(clock_ticks_from_auxv(&[1, 2, 3]), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_found_by_its_name() {
        let name = std::fs::read_to_string("/proc/self/comm").unwrap().trim_end().to_owned();
        let times = ProcessTimes::now(std::slice::from_ref(&name)).expect("/proc is readable on Linux");
        assert!(times.0.contains_key(&std::process::id()), "{name}: {times:?}");
        assert!(ProcessTimes::now(&[]).is_none(), "no names: not measured");
        assert!(ticks_per_second() > 0);
    }

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
