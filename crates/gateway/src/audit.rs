//! The AI tool usage audit: one record per MCP request, written off the request path in
//! batches (a call never waits for the audit insert), flushed at least every 200 ms.

use chamberlain_store::repo::mcp::{insert_audit, AuditRecord};
use chamberlain_store::Store;
use std::time::Duration;
use tokio::sync::mpsc;

/// Records waiting beyond this are dropped with an error log rather than growing memory
/// without bound when the database is down.
const QUEUE: usize = 100_000;
const BATCH: usize = 500;

/// Sends audit records to the background writer.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditRecord>,
}

impl AuditSink {
    /// Starts the writer on the current runtime.
    pub fn spawn(store: Store) -> AuditSink {
        let (tx, mut rx) = mpsc::channel::<AuditRecord>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                let Some(first) = rx.recv().await else {
                    return;
                };
                batch.push(first);
                let deadline = tokio::time::sleep(Duration::from_millis(200));
                tokio::pin!(deadline);
                while batch.len() < BATCH {
                    tokio::select! {
                        r = rx.recv() => match r {
                            Some(r) => batch.push(r),
                            None => break,
                        },
                        _ = &mut deadline => break,
                    }
                }
                let mut tries = 0;
                loop {
                    match insert_audit(&store, &batch).await {
                        Ok(()) => break,
                        Err(e) if tries < 5 => {
                            tries += 1;
                            tracing::warn!(error = %e, "writing MCP audit records failed; retrying");
                            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, lost = batch.len(), "MCP audit records could not be written");
                            break;
                        }
                    }
                }
                batch.clear();
            }
        });
        AuditSink { tx }
    }

    /// Queues one record.
    pub fn record(&self, r: AuditRecord) {
        if let Err(e) = self.tx.try_send(r) {
            tracing::error!(error = %e, "MCP audit queue full; a record was dropped");
        }
    }
}
