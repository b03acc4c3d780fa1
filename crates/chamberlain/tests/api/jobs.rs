//! The job table, sync locks and change events at the storage level, on both backends: one
//! live job per key, one winner per claim, leases that lapse and are taken over, fencing of a
//! sync that lost its lock, and the event cursor.

use crate::harness::TestServer;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::jobs::{self, NewJob, Outcome};
use chamberlain_store::AuditCtx;
use serde_json::json;
use std::time::Duration;

fn job(key: &str) -> NewJob {
    NewJob {
        kind: "test_job".into(),
        subject_id: "subject-1".into(),
        active_key: Some(key.into()),
        payload: json!({"n": 1}),
        run_at: Timestamp::now(),
        max_attempts: 2,
    }
}

pub async fn jobs_leases_locks_and_events(s: &TestServer) {
    let store = &s.store;
    let audit = AuditCtx::system("test");
    // One live job per key: the second enqueue returns the first.
    let (first, created) =
        chamberlain_store::write_tx!(store, &audit, |tx| { jobs::enqueue(tx, &job("k1")).await })
            .unwrap();
    assert!(created);
    let (again, created) =
        chamberlain_store::write_tx!(store, &audit, |tx| { jobs::enqueue(tx, &job("k1")).await })
            .unwrap();
    assert_eq!((again.as_str(), created), (first.as_str(), false));

    // One claimer wins.
    // Generous leases where the test needs them to hold, short ones where it needs them to lapse.
    let lease = Duration::from_secs(5);
    let short = Duration::from_millis(300);
    let a = jobs::claim(store, "A", &["test_job"], lease, 5)
        .await
        .unwrap();
    let b = jobs::claim(store, "B", &["test_job"], lease, 5)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    assert!(b.is_empty(), "a leased job is not claimed twice");
    assert_eq!(a[0].attempts, 1);
    assert!(jobs::renew(store, &first, "A", lease).await.unwrap());
    assert!(!jobs::renew(store, &first, "B", lease).await.unwrap());

    // A retry goes back to the queue with a delay and keeps the key.
    assert!(jobs::finish(
        store,
        &first,
        "A",
        &Outcome::Retry {
            error: "flaky".into(),
            delay: Duration::from_secs(1),
        },
    )
    .await
    .unwrap());
    assert!(jobs::claim(store, "B", &["test_job"], lease, 5)
        .await
        .unwrap()
        .is_empty());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let b = jobs::claim(store, "B", &["test_job"], short, 5)
        .await
        .unwrap();
    assert_eq!(
        (b.len(), b[0].attempts, b[0].last_error.as_str()),
        (1, 2, "flaky")
    );

    // B dies: its lease lapses and A takes the job over; B's late finish is refused.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let a = jobs::claim(store, "A", &["test_job"], lease, 5)
        .await
        .unwrap();
    assert_eq!(a.len(), 1, "an expired lease makes the job due again");
    assert!(!jobs::finish(store, &first, "B", &Outcome::Done)
        .await
        .unwrap());
    // Out of attempts: a retry fails the job for good and frees the key.
    assert!(jobs::finish(
        store,
        &first,
        "A",
        &Outcome::Retry {
            error: "still flaky".into(),
            delay: Duration::ZERO,
        },
    )
    .await
    .unwrap());
    let listed = jobs::for_subject(store, "subject-1", 10).await.unwrap();
    assert_eq!(listed[0].state, jobs::FAILED);
    // Schedulers that re-queue on their own see the recent failure and wait.
    let recently = |kind: &'static str, subject: &'static str| {
        jobs::failed_recently(store, kind, subject, Duration::from_secs(600))
    };
    assert!(recently("test_job", "subject-1").await.unwrap());
    assert!(!recently("test_job", "subject-2").await.unwrap());
    assert!(!recently("other_job", "subject-1").await.unwrap());
    assert!(
        !jobs::failed_recently(store, "test_job", "subject-1", Duration::ZERO)
            .await
            .unwrap(),
        "a failure older than the window does not count"
    );
    let (next, created) =
        chamberlain_store::write_tx!(store, &audit, |tx| { jobs::enqueue(tx, &job("k1")).await })
            .unwrap();
    assert!(created && next != first, "the key is free again");

    // Sync locks: one holder; a lapsed holder is replaced and can no longer commit.
    let ttl = Duration::from_secs(1);
    assert!(jobs::acquire_sync_lock(store, "app-1", "A", ttl)
        .await
        .unwrap());
    assert!(!jobs::acquire_sync_lock(store, "app-1", "B", ttl)
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(jobs::acquire_sync_lock(store, "app-1", "B", ttl)
        .await
        .unwrap());
    assert!(!jobs::renew_sync_lock(store, "app-1", "A", ttl)
        .await
        .unwrap());
    let fenced = chamberlain_store::write_tx!(store, &audit, |tx| {
        jobs::check_sync_lock(tx, "app-1", "A").await
    });
    assert!(fenced.unwrap_err().to_string().contains("lost its lock"));
    chamberlain_store::write_tx!(store, &audit, |tx| {
        jobs::check_sync_lock(tx, "app-1", "B").await
    })
    .unwrap();
    jobs::release_sync_lock(store, "app-1", "B").await.unwrap();
    assert!(jobs::acquire_sync_lock(store, "app-1", "C", ttl)
        .await
        .unwrap());

    // Change events are read by cursor, oldest first, once settled.
    for n in 0..3 {
        chamberlain_store::write_tx!(store, &audit, |tx| {
            jobs::append_event(tx, "test.event", "app-1", &json!({"n": n}))
                .await
                .map(|_| ())
        })
        .unwrap();
    }
    let fresh = jobs::events_after(store, "", Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(
        fresh.is_empty(),
        "events inside the settle window are held back"
    );
    let all = jobs::events_after(store, "", Duration::ZERO, 10)
        .await
        .unwrap();
    let test_events: Vec<_> = all.iter().filter(|e| e.kind == "test.event").collect();
    assert_eq!(
        test_events
            .iter()
            .map(|e| e.doc["n"].clone())
            .collect::<Vec<_>>(),
        vec![json!(0), json!(1), json!(2)]
    );
    let after_first = jobs::events_after(store, &test_events[0].id, Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(
        after_first
            .iter()
            .filter(|e| e.kind == "test.event")
            .count(),
        2
    );
}
