//! SQLite group commit: writers queued behind each other share a transaction, and a writer
//! that fails or is cancelled takes nothing of its own into the database and nothing of the
//! others out of it.

use chamberlain_store::record::Sql;
use chamberlain_store::{write_tx, AuditCtx, Store, StoreError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn store() -> (Store, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!(
        "chamberlain-group-{}.db",
        chamberlain_model::new_id()
    ));
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY)")
        .execute(store.pool())
        .await
        .unwrap();
    (store, path)
}

async fn ids(store: &Store) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM t ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

fn cleanup(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Writes row `id`, then fails when asked to: the row must not survive the failure.
async fn write(
    store: &Store,
    id: String,
    fail: bool,
    runs: &AtomicUsize,
) -> Result<(), StoreError> {
    let ctx = AuditCtx::system("test");
    write_tx!(store, &ctx, |tx| {
        runs.fetch_add(1, Ordering::SeqCst);
        let mut sql = Sql::new("INSERT INTO t (id) VALUES (");
        sql.arg(id.as_str()).push(")");
        tx.exec(&sql).await?;
        // Give the writers behind this one time to queue, so groups form.
        tokio::task::yield_now().await;
        if fail {
            return Err(StoreError::Invalid(format!("writer {id} fails on purpose")));
        }
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_writers_leave_nothing_and_take_nothing_from_their_group() {
    let (store, path) = store().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (store, runs) = (store.clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            let id = format!("{i:03}");
            let fail = i % 7 == 3;
            (id.clone(), fail, write(&store, id, fail, &runs).await)
        }));
    }
    let mut expected = Vec::new();
    for t in tasks {
        let (id, fail, result) = t.await.unwrap();
        if fail {
            assert!(
                matches!(result, Err(StoreError::Invalid(_))),
                "writer {id}: {result:?}"
            );
        } else {
            assert!(result.is_ok(), "writer {id}: {result:?}");
            expected.push(id);
        }
    }
    expected.sort();
    assert_eq!(ids(&store).await, expected);
    // Every failure rolled back the writers grouped before it, which then ran again.
    let runs = runs.load(Ordering::SeqCst);
    assert!(
        runs > 200,
        "no writer ran twice ({runs} runs): no group formed"
    );
    store.close().await;
    cleanup(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_cancelled_mid_block_leaves_no_trace() {
    let (store, path) = store().await;
    let ctx = AuditCtx::system("test");
    let cancelled = {
        let store = store.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            write_tx!(store, &ctx, |tx| {
                tx.exec(&Sql::new("INSERT INTO t (id) VALUES ('cancelled')"))
                    .await?;
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let runs = AtomicUsize::new(0);
    let behind = {
        let store = store.clone();
        tokio::spawn(async move {
            let runs = AtomicUsize::new(0);
            write(&store, "behind".into(), false, &runs).await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    cancelled.abort();
    assert!(cancelled.await.unwrap_err().is_cancelled());
    behind.await.unwrap().unwrap();
    write(&store, "after".into(), false, &runs).await.unwrap();
    assert_eq!(ids(&store).await, vec!["after", "behind"]);
    store.close().await;
    cleanup(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_writer_commits_at_once() {
    let (store, path) = store().await;
    let runs = AtomicUsize::new(0);
    let t = std::time::Instant::now();
    for i in 0..20 {
        write(&store, format!("{i:02}"), false, &runs)
            .await
            .unwrap();
    }
    // Nobody queued behind these writers, so none of them waited for company.
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(ids(&store).await.len(), 20);
    store.close().await;
    cleanup(&path);
}
