//! Reading real Baton c1z files, and refusing bad ones with messages that say what to do.

use chamberlain_sync::c1z::{self, C1zError, DEFAULT_MAX_DECOMPRESSED};
use std::io::Write;
use std::path::PathBuf;

const EXPANDED: &str = "sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded.c1z";

/// Copies a fixture (or writes bytes) into a fresh temp file.
fn temp_file(name: &str, bytes: Option<Vec<u8>>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("c1z-test-{}", chamberlain_model::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let data = bytes.unwrap_or_else(|| std::fs::read(fixture(name)).unwrap());
    std::fs::write(&path, data).unwrap();
    path
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[tokio::test]
async fn expanded_fixture_reads_completely() {
    let snap = c1z::read(&temp_file(EXPANDED, None), DEFAULT_MAX_DECOMPRESSED)
        .await
        .unwrap();
    assert_eq!(snap.sync_id, "36zfOAoWMxQdISbixanQCRBiX7E");
    assert_eq!(snap.sync_type, "full");
    assert_eq!(snap.resource_types.len(), 4);
    assert_eq!(snap.resources.len(), 1221);
    assert_eq!(snap.entitlements.len(), 342);
    assert_eq!(snap.grants.len(), 14981);
    let derived = snap.grants.iter().filter(|g| !g.sources.is_empty()).count();
    assert!(derived > 0, "expansion-derived grants carry their sources");
}

#[tokio::test]
async fn unfinished_sync_is_refused() {
    let err = c1z::read(
        &temp_file("sync-in-progress.c1z", None),
        DEFAULT_MAX_DECOMPRESSED,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, C1zError::NoFinishedSync(_)), "{err}");
    assert!(
        err.to_string()
            .contains("3ARefY5G8eOytquwYgm41Nq07IZ is unfinished"),
        "{err}"
    );
}

#[tokio::test]
async fn format_v3_is_refused_with_summary_and_fix() {
    let err = c1z::read(
        &temp_file(
            "sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded.pebble.c1z",
            None,
        ),
        DEFAULT_MAX_DECOMPRESSED,
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("format v3"), "{msg}");
    assert!(msg.contains("--storage-engine sqlite"), "{msg}");
    assert!(msg.contains("pebble2"), "{msg}");
    assert!(msg.contains("36zGvJw3uxU1QMJKU2yPVQ1hBOC"), "{msg}");
    assert!(
        msg.contains("35217 resources") && msg.contains("66601 grants"),
        "{msg}"
    );
}

#[tokio::test]
async fn damaged_files_are_refused() {
    let good = std::fs::read(fixture(EXPANDED)).unwrap();
    // Truncated zstd stream.
    let err = c1z::read(
        &temp_file("t.c1z", Some(good[..good.len() / 2].to_vec())),
        DEFAULT_MAX_DECOMPRESSED,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, C1zError::Corrupt(_)), "{err}");
    // Garbage after the magic.
    let mut garbage = b"C1ZF\0".to_vec();
    garbage.extend(std::iter::repeat_n(0x5a, 4096));
    let err = c1z::read(&temp_file("g.c1z", Some(garbage)), DEFAULT_MAX_DECOMPRESSED)
        .await
        .unwrap_err();
    assert!(matches!(err, C1zError::Corrupt(_)), "{err}");
    // A zstd stream that is not SQLite.
    let mut not_sqlite = b"C1ZF\0".to_vec();
    not_sqlite.extend(zstd::encode_all(&b"hello, this is not a database at all"[..], 3).unwrap());
    let err = c1z::read(
        &temp_file("n.c1z", Some(not_sqlite)),
        DEFAULT_MAX_DECOMPRESSED,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, C1zError::NotSqlite), "{err}");
    // Not a c1z.
    let err = c1z::read(
        &temp_file("x.c1z", Some(b"PK\x03\x04 a zip file".to_vec())),
        DEFAULT_MAX_DECOMPRESSED,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, C1zError::NotC1z), "{err}");
    // Over the decompressed-size cap.
    let err = c1z::read(&temp_file(EXPANDED, None), 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(err, C1zError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn undecodable_row_is_named() {
    // Decompress the fixture, damage one grant's protobuf, recompress.
    let good = std::fs::read(fixture(EXPANDED)).unwrap();
    let db = zstd::decode_all(&good[5..]).unwrap();
    let db_path = temp_file("x.db", Some(db));
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&db_path);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    sqlx::query("UPDATE v1_grants SET data = X'FFFFFFFF0F' WHERE id = 7")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut out = b"C1ZF\0".to_vec();
    let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(&std::fs::read(&db_path).unwrap()).unwrap();
    out.extend(enc.finish().unwrap());
    let err = c1z::read(&temp_file("bad.c1z", Some(out)), DEFAULT_MAX_DECOMPRESSED)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("row 7 of table `v1_grants`"), "{msg}");
}
