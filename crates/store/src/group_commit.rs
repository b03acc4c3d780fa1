//! SQLite write transactions: one writer at a time, and writers that queue behind each other
//! share one transaction (group commit).
//!
//! SQLite allows a single writer. Writers of this process queue on a fair async mutex (FIFO,
//! no sleeping in SQLite's busy handler). When a writer's block succeeds and another writer is
//! already queued, the transaction is left open for that writer instead of being committed:
//! the queued writer runs its block in the same transaction, and whoever finds the queue empty
//! (or the group full or old) commits for everyone. Each writer still returns only after the
//! commit that holds its changes, so "the call returned" still means "the change is durable
//! and visible". What a group saves is one `BEGIN` and one `COMMIT` per writer, and, more
//! importantly, the WAL append and the reset of every reader's page cache that each commit
//! causes.
//!
//! A block that fails rolls back the whole group: its own error goes to its caller and every
//! writer that had joined the group gets [`StoreError::GroupAborted`], which
//! [`crate::write_tx!`] answers by running that writer's block again, as it already does for a
//! serialization failure. Blocks therefore stay what they already had to be: re-runnable.

use crate::{Backend, Pending, StoreError};
use sqlx::{Any, AnyConnection, AnyPool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

/// At most this many writers share one transaction, so the first one's answer is not delayed
/// without bound.
const MAX_MEMBERS: usize = 32;

/// A group older than this commits at the next writer's end, whatever the queue.
const MAX_AGE: Duration = Duration::from_millis(10);

/// A writer waiting for its group's commit commits the group itself after this long, in case
/// the writer it was left open for went away (its request was cancelled before its turn).
const ORPHAN_AFTER: Duration = Duration::from_millis(50);

/// How long a writer may wait for its turn before it is reported as busy (retryable), as
/// SQLite's busy_timeout would.
const TURN_TIMEOUT: Duration = Duration::from_secs(30);

/// What happened to a group's transaction, told to every writer that joined it.
#[derive(Clone, Debug)]
enum Outcome {
    Committed,
    /// Rolled back because a later member failed or went away; the member's block runs again.
    Aborted,
    /// The commit itself failed with a non-retryable error (disk full and the like).
    Failed(String),
}

/// The open transaction of a group.
struct Open {
    txn: sqlx::Transaction<'static, Any>,
    generation: u64,
    members: usize,
    started: Instant,
    outcome: watch::Sender<Option<Outcome>>,
    /// The members' system-log rows and change events, written just before the commit.
    pending: Pending,
}

#[derive(Default)]
struct State {
    open: Option<Open>,
    generations: u64,
}

/// The per-store writer queue and its open group, if any.
pub(crate) struct GroupCommit {
    pool: AnyPool,
    state: Arc<Mutex<State>>,
    /// Writers queued for their turn: a finishing writer leaves the group open only for them.
    queued: AtomicUsize,
}

/// A writer's turn: holds the queue until the writer's block has run.
pub(crate) struct Turn {
    guard: Option<OwnedMutexGuard<State>>,
}

impl Drop for Turn {
    /// A writer dropped during its block (its request was cancelled) leaves half of its
    /// changes in the group's transaction: the group is rolled back and its members re-run.
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            if let Some(open) = guard.open.take() {
                let _ = open.outcome.send(Some(Outcome::Aborted));
                // Dropping an sqlx transaction queues its rollback on the connection.
                drop(open.txn);
            }
        }
    }
}

impl Turn {
    /// The group's connection, inside its transaction.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        let open = self
            .guard
            .as_mut()
            .and_then(|g| g.open.as_mut())
            .expect("a writer's turn always has an open transaction");
        &mut open.txn
    }
}

impl GroupCommit {
    pub(crate) fn new(pool: AnyPool) -> Arc<Self> {
        Arc::new(GroupCommit {
            pool,
            state: Arc::new(Mutex::new(State::default())),
            queued: AtomicUsize::new(0),
        })
    }

    /// Waits for this writer's turn and joins the open group or begins a new one.
    pub(crate) async fn begin(&self) -> Result<Turn, StoreError> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let waited = tokio::time::timeout(TURN_TIMEOUT, self.state.clone().lock_owned()).await;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let mut guard = waited.map_err(|_| StoreError::Db(sqlx::Error::PoolTimedOut))?;
        if guard.open.is_none() {
            // IMMEDIATE takes SQLite's write lock up front (other processes queue on
            // busy_timeout instead of deadlocking on a read-lock upgrade).
            let txn = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            guard.generations += 1;
            guard.open = Some(Open {
                txn,
                generation: guard.generations,
                members: 0,
                started: Instant::now(),
                outcome: watch::channel(None).0,
                pending: Pending::default(),
            });
        }
        Ok(Turn { guard: Some(guard) })
    }

    /// Ends a writer's turn: on success commits, or leaves the group open for the next queued
    /// writer and waits for the commit; on failure rolls the group back.
    pub(crate) async fn finish<T>(
        &self,
        mut turn: Turn,
        result: Result<(T, Pending), StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = turn.guard.take().expect("turn finished once");
        let Some(mut open) = guard.open.take() else {
            return Err(StoreError::GroupAborted);
        };
        let value = match result {
            Ok((v, pending)) => {
                open.pending.append(pending);
                v
            }
            Err(e) => {
                let _ = open.txn.rollback().await;
                let _ = open.outcome.send(Some(Outcome::Aborted));
                return Err(e);
            }
        };
        open.members += 1;
        let keep_open = self.queued.load(Ordering::SeqCst) > 0
            && open.members < MAX_MEMBERS
            && open.started.elapsed() < MAX_AGE;
        if !keep_open {
            return commit(open).await.map(|_| value);
        }
        let generation = open.generation;
        let mut outcome = open.outcome.subscribe();
        let told = outcome.clone();
        guard.open = Some(open);
        drop(guard);
        let outcome = tokio::select! {
            o = told_outcome(&mut outcome) => o,
            _ = tokio::time::sleep(ORPHAN_AFTER) => self.commit_if_open(generation, told).await,
        };
        match outcome {
            Outcome::Committed => Ok(value),
            Outcome::Aborted => Err(StoreError::GroupAborted),
            Outcome::Failed(m) => Err(StoreError::CommitFailed(m)),
        }
    }

    /// Commits group `generation` if it is still open (its next writer never came), or
    /// returns what became of it.
    async fn commit_if_open(
        &self,
        generation: u64,
        outcome: watch::Receiver<Option<Outcome>>,
    ) -> Outcome {
        let mut guard = self.state.clone().lock_owned().await;
        if guard
            .open
            .as_ref()
            .is_some_and(|o| o.generation == generation)
        {
            let open = guard.open.take().expect("checked");
            let _ = commit(open).await;
        }
        drop(guard);
        let told = outcome.borrow().clone();
        told.unwrap_or(Outcome::Aborted)
    }

    /// Commits a group left open longer than [`MAX_AGE`] with nobody coming (called by the
    /// store's background task, so an open group never holds the write lock for long).
    pub(crate) async fn commit_stale(&self) {
        let Ok(mut guard) = self.state.try_lock() else {
            return;
        };
        if guard
            .open
            .as_ref()
            .is_some_and(|o| o.started.elapsed() > MAX_AGE)
        {
            let open = guard.open.take().expect("checked");
            let _ = commit(open).await;
        }
    }
}

/// Waits until the group's outcome is known.
async fn told_outcome(rx: &mut watch::Receiver<Option<Outcome>>) -> Outcome {
    match rx.wait_for(Option::is_some).await {
        Ok(o) => o.clone().unwrap_or(Outcome::Aborted),
        Err(_) => Outcome::Aborted,
    }
}

/// Commits a group and tells its members.
async fn commit(open: Open) -> Result<(), StoreError> {
    let Open {
        mut txn,
        outcome,
        mut pending,
        ..
    } = open;
    let written = match pending.write(&mut txn, Backend::Sqlite).await {
        Ok(()) => txn.commit().await.map_err(StoreError::from),
        Err(e) => {
            let _ = txn.rollback().await;
            Err(e)
        }
    };
    match written {
        Ok(()) => {
            let _ = outcome.send(Some(Outcome::Committed));
            Ok(())
        }
        Err(e) => {
            let told = if e.is_retryable() {
                Outcome::Aborted
            } else {
                Outcome::Failed(e.to_string())
            };
            let _ = outcome.send(Some(told));
            Err(e)
        }
    }
}
