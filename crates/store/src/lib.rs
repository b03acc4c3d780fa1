//! Storage for Chamberlain: one implementation over SQLite (the embedded default) and
//! PostgreSQL, through sqlx's `Any` driver and a portable subset of SQL.
//!
//! Every mutation runs in [`write_tx!`], which opens a transaction, lets the caller change
//! rows and append system-log events through [`Tx`], commits, and retries the whole block when
//! the database reports a serialization failure (PostgreSQL SQLSTATE 40001/40P01) or a busy
//! SQLite file. So a change and its audit event land together or not at all.

mod error;
mod group_commit;
mod migrate;
pub mod page;
mod reader;
pub use reader::Reader;
pub mod record;
pub mod repo;
mod tx;

pub use error::StoreError;
pub use record::{Col, Filter, Record};
pub use tx::{Activity, AuditCtx, Pending, Tx, BULK_PARAMS};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Which database engine is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (WAL mode).
    Sqlite,
    /// PostgreSQL or a wire-compatible database.
    Postgres,
}

/// The storage handle shared by the whole server; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// What [`Store::pool`] hands out: the pool, with a read lane on SQLite.
    reader: Arc<reader::Reader>,
    backend: Backend,
    /// SQLite allows one writer; writers of this process queue here (in FIFO order, without
    /// sleeping) instead of in SQLite's busy handler, whose back-off sleeps of up to 100 ms
    /// made the slowest of concurrent writes wait far longer than the writes themselves.
    /// Queued writers share transactions (see [`group_commit`]).
    writers: Option<Arc<group_commit::GroupCommit>>,
    /// Keeps the SQLite WAL checkpointer running while any clone of this store lives.
    _checkpointer: Option<Arc<CheckpointerHandle>>,
}

/// Stops the background WAL checkpointer when the last [`Store`] clone is dropped.
struct CheckpointerHandle(#[allow(dead_code)] tokio::sync::oneshot::Sender<()>);

/// How often the background task folds the SQLite WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A write transaction: on PostgreSQL its own; on SQLite this writer's turn in the process's
/// writer queue, inside a transaction it may share with the writers queued behind it.
pub struct WriteTxn(WriteKind);

enum WriteKind {
    Own(sqlx::Transaction<'static, sqlx::Any>),
    Grouped(group_commit::Turn, Arc<group_commit::GroupCommit>),
}

impl WriteTxn {
    /// Commits (on SQLite: the group this writer is in, once the writers queued behind it
    /// have run).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.0 {
            WriteKind::Own(txn) => txn.commit().await.map_err(StoreError::from),
            WriteKind::Grouped(turn, writers) => {
                writers.finish(turn, Ok(((), Pending::default()))).await
            }
        }
    }

    /// Rolls back (on SQLite: with the writers that had joined its group, which run again).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.0 {
            WriteKind::Own(txn) => txn.rollback().await.map_err(StoreError::from),
            WriteKind::Grouped(turn, writers) => {
                let undone = writers.finish(turn, Err(StoreError::GroupAborted)).await;
                match undone {
                    Err(StoreError::GroupAborted) | Ok(()) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The connection, inside the transaction.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        match &mut self.0 {
            WriteKind::Own(txn) => txn,
            WriteKind::Grouped(turn, _) => turn.conn(),
        }
    }
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "database URL `{}` is not supported; use sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            )));
        };
        let opts = AnyConnectOptions::from_str(url).map_err(|e| {
            StoreError::Config(format!(
                "database URL `{}` is invalid: {e}",
                redact_url(url)
            ))
        })?;
        let max = match backend {
            // Two per core: SQLite runs each query on its connection's own thread, so more
            // only adds threads competing for the cores, and every read transaction that
            // follows a commit on another connection re-reads (and unmaps) its cached pages.
            // Measured with 16 clients adding grants on 2 cores: 8 connections ~1,100/s,
            // 4 ~1,150–1,190/s, with list and search unchanged.
            Backend::Sqlite => {
                std::thread::available_parallelism().map_or(4, |n| (2 * n.get() as u32).max(4))
            }
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            // A SQLite connection is a local file handle that cannot go stale; pinging it on
            // every acquire was a round trip to its worker thread per query. PostgreSQL
            // connections can be cut by the network, so they are still tested.
            .test_before_acquire(backend != Backend::Sqlite)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the single writer; busy_timeout makes a
                        // writer wait for the lock instead of failing at once. Memory-mapped
                        // reads and a larger page cache avoid a pread() and copy per page,
                        // which dominated read latency on large databases.
                        // No automatic checkpoint: SQLite runs it inside whichever commit
                        // crosses the WAL threshold, which then copies ~1,000 pages and
                        // fsyncs (20–35 ms) while every other writer waits. The store's
                        // background task checkpoints instead, beside the writers.
                        conn.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA mmap_size=4294967296; PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Config(format!("cannot open database `{}`: {e}", redact_url(url))))?;
        let writers =
            (backend == Backend::Sqlite).then(|| group_commit::GroupCommit::new(pool.clone()));
        let checkpointer = writers
            .as_ref()
            .map(|w| spawn_checkpointer(pool.clone(), w.clone()));
        // The lane holds as many connections as the pool may: reads move to it, while the
        // pool keeps serving the writer queue, streams and explicit connections.
        let lane = if backend == Backend::Sqlite {
            max as usize
        } else {
            0
        };
        Ok(Store {
            reader: Arc::new(reader::Reader::new(pool.clone(), lane)),
            pool,
            backend,
            writers,
            _checkpointer: checkpointer,
        })
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The executor for read queries in the repository modules: the pool, whose completed
    /// reads on SQLite run on a lane of connections that skips sqlx's ping on release
    /// (see `reader.rs`). `.raw()` is the pool itself.
    pub fn pool(&self) -> &reader::Reader {
        &self.reader
    }

    /// Applies all embedded migrations that have not run yet. Safe to call from several
    /// replicas at once: each migration is applied in a transaction that also records it.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        migrate::run(self).await
    }

    /// Whether every embedded migration has been applied (for `/readyz`).
    pub async fn migrations_current(&self) -> Result<bool, StoreError> {
        migrate::is_current(self).await
    }

    /// Opens a write transaction. Use [`write_tx!`] rather than calling this directly.
    pub async fn begin_write(&self) -> Result<WriteTxn, StoreError> {
        Ok(WriteTxn(match &self.writers {
            Some(w) => WriteKind::Grouped(w.begin().await?, w.clone()),
            None => WriteKind::Own(self.pool.begin().await?),
        }))
    }

    /// Commits on success (after writing the block's pending system-log rows and change
    /// events), rolls back on error. Use [`write_tx!`].
    pub async fn finish<T>(
        &self,
        txn: WriteTxn,
        result: Result<(T, Pending), StoreError>,
    ) -> Result<T, StoreError> {
        match txn.0 {
            WriteKind::Grouped(turn, writers) => writers.finish(turn, result).await,
            WriteKind::Own(mut txn) => {
                let result = match result {
                    Ok((v, mut pending)) => pending.write(&mut txn, self.backend).await.map(|_| v),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(v) => txn.commit().await.map(|_| v).map_err(StoreError::from),
                    Err(e) => {
                        let _ = txn.rollback().await;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.reader.close_lane();
        self.pool.close().await
    }
}

/// Runs `PRAGMA wal_checkpoint(PASSIVE)` every [`CHECKPOINT_EVERY`] until the returned handle
/// is dropped or the pool closes. PASSIVE copies what no reader still needs and never blocks
/// readers or the writer; the WAL restarts from its beginning once a checkpoint has copied all
/// of it, so it stays around one interval's worth of writes.
fn spawn_checkpointer(
    pool: AnyPool,
    writers: Arc<group_commit::GroupCommit>,
) -> Arc<CheckpointerHandle> {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = tick.tick() => {}
            }
            if pool.is_closed() {
                break;
            }
            writers.commit_stale().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    break;
                }
                tracing::warn!(error = %e, "SQLite WAL checkpoint failed; retrying");
            }
        }
    });
    Arc::new(CheckpointerHandle(stop))
}

/// Hides the password in a database URL so it can be printed.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Pause before retry `attempt` of a conflicted transaction.
pub async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt * attempt))).await;
}

/// Runs a block in a write transaction with audit context `ctx`, commits, and retries the whole
/// block on serialization failures or a busy SQLite file. The block gets `tx: &mut Tx` and must
/// evaluate to `Result<T, StoreError>`; the macro evaluates to the same.
///
/// A macro rather than a closure-taking method because async closures that borrow the
/// transaction cannot yet be proven `Send` for axum handlers.
#[macro_export]
macro_rules! write_tx {
    ($store:expr, $ctx:expr, |$tx:ident| $body:block) => {{
        let store__: &$crate::Store = &$store;
        let ctx__: &$crate::AuditCtx = $ctx;
        let mut attempt__ = 0u32;
        loop {
            attempt__ += 1;
            let mut txn__ = match store__.begin_write().await {
                Ok(t) => t,
                Err(e) if e.is_retryable() && attempt__ < 8 => {
                    $crate::backoff(attempt__).await;
                    continue;
                }
                Err(e) => break Err(e),
            };
            let result__: Result<_, $crate::StoreError> = {
                let mut t__ = $crate::Tx::new(txn__.conn(), ctx__, store__.backend());
                let body__: Result<_, $crate::StoreError> = {
                    let $tx = &mut t__;
                    async { $body }.await
                };
                body__.map(|v| (v, t__.into_pending()))
            };
            match store__.finish(txn__, result__).await {
                // A later writer of this one's SQLite group failed: run this block again
                // (not counted as an attempt: nothing was wrong with this one).
                Err($crate::StoreError::GroupAborted) => {
                    attempt__ -= 1;
                    continue;
                }
                Err(e) if e.is_retryable() && attempt__ < 8 => {
                    $crate::backoff(attempt__).await;
                    continue;
                }
                other => break other,
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
