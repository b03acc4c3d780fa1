//! The executor behind [`crate::Store::pool`]: sqlx's pool, with a lane of connections for
//! SQLite reads that skips the pool's test on release.
//!
//! sqlx's pool pings every connection it takes back (`return_to_pool`, in a spawned task) as
//! a guard against queries cancelled mid-way. On SQLite that ping is one more round trip to
//! the connection's own thread for every query: a task spawn and two thread wake-ups, which
//! measured as the largest share of a gateway call's CPU after HTTP itself. A SQLite
//! connection is a local file handle that cannot go stale, and a cancelled read is the only
//! case the ping is for, so the lane hands out connections of its own and takes back only
//! those whose query ran to the end; a connection whose query was cancelled (or failed below
//! SQL) is closed instead.
//!
//! Reads that complete (`fetch_optional`, `fetch_one`, `fetch_all`, `execute`) use the lane;
//! streams (`fetch`, `fetch_many`), `prepare`, `acquire` and `begin` use the pool as before.
//! PostgreSQL uses the pool for everything: its connections cross a network and are tested.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Describe, Either, Error, Execute, Executor, Transaction};
use std::sync::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};

/// sqlx's pool plus, on SQLite, the read lane.
#[derive(Debug)]
pub struct Reader {
    pool: AnyPool,
    lane: Option<Lane>,
}

#[derive(Debug)]
struct Lane {
    /// Connections between reads (taken out of the pool with `detach`).
    idle: Mutex<Vec<AnyConnection>>,
    /// At most this many lane connections at once.
    permits: Semaphore,
}

impl Reader {
    /// `lane_size` > 0 gives the pool a read lane of that many connections (SQLite only).
    pub(crate) fn new(pool: AnyPool, lane_size: usize) -> Reader {
        Reader {
            pool,
            lane: (lane_size > 0).then(|| Lane {
                idle: Mutex::new(Vec::with_capacity(lane_size)),
                permits: Semaphore::new(lane_size),
            }),
        }
    }

    /// Closes the lane's idle connections (the store is closing).
    pub(crate) fn close_lane(&self) {
        if let Some(lane) = &self.lane {
            lane.permits.close();
            lane.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// The pool itself.
    pub fn raw(&self) -> &AnyPool {
        &self.pool
    }

    /// A pooled connection (for several statements on one connection outside a write).
    pub async fn acquire(&self) -> Result<PoolConnection<Any>, Error> {
        self.pool.acquire().await
    }

    /// A transaction on a pooled connection. Writes go through `write_tx!` instead.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, Error> {
        self.pool.begin().await
    }

    /// A connection for one read: from the lane, or the pool when there is no lane.
    async fn checkout(&self) -> Result<Checkout<'_>, Error> {
        Ok(match &self.lane {
            Some(lane) => Checkout::Lane(lane.take(&self.pool).await?),
            None => Checkout::Pool(self.pool.acquire().await?),
        })
    }
}

enum Checkout<'l> {
    Lane(Borrowed<'l>),
    Pool(PoolConnection<Any>),
}

impl Checkout<'_> {
    fn conn(&mut self) -> &mut AnyConnection {
        match self {
            Checkout::Lane(b) => b.conn.as_mut().expect("present until drop"),
            Checkout::Pool(c) => c,
        }
    }

    /// Marks the query as run to the end, so the connection may serve the next read (not
    /// after errors below SQL, which may leave it unusable).
    fn finish<T>(&mut self, result: &Result<T, Error>) {
        if let Checkout::Lane(b) = self {
            b.finished = !matches!(
                result,
                Err(Error::Io(_) | Error::Protocol(_) | Error::WorkerCrashed | Error::Tls(_))
            );
        }
    }
}

impl Lane {
    async fn take<'l>(&'l self, pool: &AnyPool) -> Result<Borrowed<'l>, Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::PoolClosed)?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            // Detached: the pool opens another in its place for writes and streams.
            None => pool.acquire().await?.detach(),
        };
        Ok(Borrowed {
            lane: self,
            conn: Some(conn),
            finished: false,
            _permit: permit,
        })
    }
}

/// A lane connection in use; back to the lane on drop only if its query ran to the end.
struct Borrowed<'l> {
    lane: &'l Lane,
    conn: Option<AnyConnection>,
    finished: bool,
    _permit: SemaphorePermit<'l>,
}

impl Drop for Borrowed<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            if self.finished {
                self.lane
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(c);
            }
            // Otherwise dropping it closes it (its thread ends once the cancelled query does).
        }
    }
}

impl<'p> Executor<'p> for &'p Reader {
    type Database = Any;

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<AnyQueryResult, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        Box::pin(async move {
            let mut c = self.checkout().await?;
            let result = c.conn().execute(query).await;
            c.finish(&result);
            result
        })
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<AnyRow>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        Box::pin(async move {
            let mut c = self.checkout().await?;
            let result = c.conn().fetch_all(query).await;
            c.finish(&result);
            result
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<AnyRow>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        Box::pin(async move {
            let mut c = self.checkout().await?;
            let result = c.conn().fetch_optional(query).await;
            c.finish(&result);
            result
        })
    }

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        self.pool.fetch_many(query)
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, Error>>
    where
        'p: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, Error>>
    where
        'p: 'e,
    {
        self.pool.describe(sql)
    }
}
