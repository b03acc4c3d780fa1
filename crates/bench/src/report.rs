//! The machine a run measured on and the markdown summary printed at the end.

use crate::dataset::{LoadTimes, Sizes};
use crate::drive::{Measurement, Settings};
use anyhow::Result;
use chamberlain_store::{Backend, Store};
use sqlx::Row;
use std::fmt::Write;

/// Where the figures were measured.
pub struct Machine {
    /// Cores available to this process (`nproc`).
    pub cores: usize,
    /// Installed memory in GiB.
    pub memory_gib: f64,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// Database engine and version.
    pub backend: String,
    /// When the run started (UTC, RFC 3339).
    pub date: String,
}

impl Machine {
    /// Reads the machine's properties and asks the database for its version.
    pub async fn detect(store: &Store) -> Result<Machine> {
        let version_sql = match store.backend() {
            Backend::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
            Backend::Postgres => "SELECT 'PostgreSQL ' || current_setting('server_version')",
        };
        let backend: String = sqlx::query(version_sql)
            .fetch_one(store.pool())
            .await?
            .try_get(0)?;
        let memory_kib: f64 = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_string())
            .unwrap_or_else(|_| std::env::consts::OS.to_string());
        let date = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)?
            .format(&time::format_description::well_known::Rfc3339)?;
        Ok(Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            kernel,
            backend,
            date,
        })
    }

    /// One line for the log and the summary.
    pub fn describe(&self) -> String {
        format!(
            "machine: {} cores, {:.1} GiB RAM, Linux {}; backend: {}; {}",
            self.cores, self.memory_gib, self.kernel, self.backend, self.date
        )
    }
}

/// Everything a run measured.
pub struct Report {
    /// Where.
    pub machine: Machine,
    /// What was loaded.
    pub sizes: Sizes,
    /// How the operations were driven.
    pub settings: Settings,
    /// How long loading took.
    pub load: LoadTimes,
    /// The measured operations.
    pub operations: Vec<Measurement>,
}

impl Report {
    /// The summary as markdown tables.
    pub fn markdown(&self) -> String {
        let s = &self.sizes;
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.machine.describe());
        let _ = writeln!(
            out,
            "data: {} apps, {} entitlements, {} app users, {} grants, {} users; {} concurrent clients, {} s per operation after {} s warm-up\n",
            s.apps,
            s.entitlements,
            s.app_users,
            s.grants,
            s.users,
            self.settings.concurrency,
            self.settings.duration.as_secs(),
            self.settings.warmup.as_secs()
        );
        let _ = writeln!(
            out,
            "| load step | rows | seconds | rows/s |\n|---|---:|---:|---:|"
        );
        for (table, rows, took) in &self.load.steps {
            let secs = took.as_secs_f64();
            let _ = writeln!(
                out,
                "| {table} | {rows} | {secs:.1} | {:.0} |",
                *rows as f64 / secs
            );
        }
        let _ = writeln!(
            out,
            "| **total** | | **{:.1}** | |\n",
            self.load.total.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "| operation | requests | errors | req/s (2xx) | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|"
        );
        for m in &self.operations {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} |",
                m.operation.label(),
                m.requests,
                m.errors,
                m.per_second(),
                m.percentile_ms(50.0),
                m.percentile_ms(99.0)
            );
        }
        out
    }
}
