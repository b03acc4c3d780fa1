//! The SQLite read lane (`Store::pool()`): reads that are cancelled mid-query must not hand a
//! busy connection to the next read, and more concurrent reads than the lane holds must all
//! be served.

use chamberlain_store::Store;
use sqlx::Row;
use std::time::Duration;

/// About a quarter of a second of SQLite work on this machine; long enough to be cancelled.
const SLOW: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT COUNT(*) FROM c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_reads_do_not_poison_the_lane() {
    let path = std::env::temp_dir().join(format!(
        "chamberlain-reader-{}.db",
        chamberlain_model::new_id()
    ));
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();

    // More cancellations than the lane has connections: each one's connection is closed,
    // and the lane opens fresh ones.
    for _ in 0..6 {
        let read = sqlx::query(SLOW).fetch_optional(store.pool());
        let cut = tokio::time::timeout(Duration::from_millis(5), read).await;
        assert!(
            cut.is_err(),
            "the slow read finished before it could be cancelled"
        );
    }

    // Many concurrent reads (more than the lane's size), each with its own answer: a reused
    // connection still busy with a cancelled query, or one handing back another query's
    // rows, would show up here as a wrong value.
    let reads = (0..24i64).map(|i| {
        let store = store.clone();
        async move {
            let row = sqlx::query("SELECT ? * 2")
                .bind(i)
                .fetch_one(store.pool())
                .await
                .unwrap();
            (i, row.get::<i64, _>(0))
        }
    });
    for (i, doubled) in futures::future::join_all(reads).await {
        assert_eq!(doubled, i * 2);
    }

    // A completed slow read returns its connection, which then serves the next read.
    let n: i64 = sqlx::query(SLOW)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3_000_000);
    let one: i64 = sqlx::query("SELECT 1")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(one, 1);

    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
