//! Shared parts of Chamberlain's benchmark binaries (`chamberlain-bench`,
//! `chamberlain-sync-bench`, `chamberlain-identity-bench`): the benchmark database, the c1z
//! data-set generator and the peak-memory reading.

pub mod c1zgen;
pub mod db;

/// The process's peak resident set size (VmHWM) in KiB, 0 where /proc is unavailable.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
