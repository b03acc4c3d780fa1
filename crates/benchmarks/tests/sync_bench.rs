//! `chamberlain-sync-bench`: the generator's files read back with exact counts, are the same
//! for a seed, change what `--change-pct` says, and import (and re-sync) through the engine.

use chamberlain_sync::c1z::{self, proto, Snapshot};
use prost::Message;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_chamberlain-sync-bench"))
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("sync-bench-test-{}", chamberlain_model::new_id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gen(out: &Path, seed: &str, change_pct: &str) -> Value {
    bench(&[
        "gen",
        "--users",
        "200",
        "--groups",
        "20",
        "--grants",
        "1000",
        "--seed",
        seed,
        "--change-pct",
        change_pct,
        "--out",
        out.to_str().unwrap(),
    ])
}

async fn read(p: &Path) -> Snapshot {
    c1z::read(p, c1z::DEFAULT_MAX_DECOMPRESSED).await.unwrap()
}

fn user_trait(r: &proto::Resource) -> Option<proto::UserTrait> {
    r.annotations
        .iter()
        .find(|a| a.type_url.ends_with("c1.connector.v2.UserTrait"))
        .map(|a| proto::UserTrait::decode(a.value.as_slice()).unwrap())
}

fn grant_ids(s: &Snapshot) -> BTreeSet<String> {
    s.grants.iter().map(|g| g.id.clone()).collect()
}

#[tokio::test]
async fn generated_file_has_exact_counts_and_a_realistic_shape() {
    let d = dir();
    let base = d.join("base.c1z");
    let g = gen(&base, "1", "0");
    let snap = read(&base).await;
    assert_eq!(snap.sync_type, "full");
    assert_eq!(snap.resource_types.len(), 2);
    assert_eq!(snap.resources.len(), 220);
    assert_eq!(snap.grants.len(), 1000);
    assert_eq!(g["grants"], 1000);
    assert_eq!(g["users"], 200);
    assert_eq!(g["groups"], 20);
    assert_eq!(
        snap.entitlements.len() as u64,
        g["entitlements"].as_u64().unwrap()
    );
    let admins = snap
        .entitlements
        .iter()
        .filter(|e| e.slug == "admin")
        .count();
    assert_eq!(snap.entitlements.len(), 20 + admins);
    assert_eq!(grant_ids(&snap).len(), 1000, "grant ids are unique");
    let kinds = [
        "memberGrants",
        "adminGrants",
        "groupGrants",
        "derivedGrants",
    ]
    .iter()
    .map(|k| g[k].as_u64().unwrap())
    .sum::<u64>();
    assert_eq!(kinds, 1000);

    // Users: every one has a trait; some have two emails, some are service accounts.
    let traits: Vec<_> = snap.resources.iter().filter_map(user_trait).collect();
    assert_eq!(traits.len(), 200);
    assert!(traits.iter().any(|t| t.emails.len() == 2));
    assert!(traits.iter().all(|t| !t.login.is_empty()));
    assert!(traits.iter().filter(|t| t.account_type == 1).all(|t| t
        .emails
        .first()
        .is_some_and(|e| e.is_primary)
        && !t.employee_ids.is_empty()));
    assert!(traits.iter().all(|t| t.profile.is_some()));

    // Nesting: a grant to a group and grants derived from it, whose sources name the child.
    let to_groups: Vec<_> = snap
        .grants
        .iter()
        .filter(|g| g.principal.resource_type == "group")
        .collect();
    assert_eq!(to_groups.len() as u64, g["groupGrants"].as_u64().unwrap());
    assert!(!to_groups.is_empty());
    let derived: Vec<_> = snap
        .grants
        .iter()
        .filter(|g| !g.sources.is_empty())
        .collect();
    assert_eq!(derived.len() as u64, g["derivedGrants"].as_u64().unwrap());
    assert!(!derived.is_empty());
    let child_ent = format!("group:{}:member", to_groups[0].principal.resource);
    assert!(derived.iter().all(|g| g.sources == vec![child_ent.clone()]));
    assert!(derived
        .iter()
        .all(|g| g.entitlement_id == to_groups[0].entitlement_id));

    // Skewed fan-out: the biggest group is much bigger than the median one.
    let mut per_ent: HashMap<&str, usize> = HashMap::new();
    for g in &snap.grants {
        *per_ent.entry(g.entitlement_id.as_str()).or_default() += 1;
    }
    let mut sizes: Vec<usize> = per_ent.values().copied().collect();
    sizes.sort_unstable();
    assert!(
        sizes[sizes.len() - 1] > 4 * sizes[sizes.len() / 2],
        "{sizes:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[tokio::test]
async fn same_seed_same_data_and_change_pct_changes_what_it_says() {
    let d = dir();
    let (a, b, other, changed) = (
        d.join("a.c1z"),
        d.join("b.c1z"),
        d.join("other.c1z"),
        d.join("changed.c1z"),
    );
    gen(&a, "7", "0");
    gen(&b, "7", "0");
    gen(&other, "8", "0");
    let c = gen(&changed, "7", "1");
    let (a, b, other, changed) = (
        read(&a).await,
        read(&b).await,
        read(&other).await,
        read(&changed).await,
    );
    assert_eq!(a.resources, b.resources);
    assert_eq!(a.entitlements, b.entitlements);
    assert_eq!(grant_ids(&a), grant_ids(&b));
    assert_ne!(grant_ids(&a), grant_ids(&other));

    // 1% of 1,000 grants: 3 removed, 4 moved to another user, 3 added.
    assert_eq!(
        (
            c["removedGrants"].as_u64(),
            c["replacedGrants"].as_u64(),
            c["addedGrants"].as_u64()
        ),
        (Some(3), Some(4), Some(3))
    );
    assert_eq!(changed.grants.len(), 1000);
    let (before, after) = (grant_ids(&a), grant_ids(&changed));
    assert_eq!(before.difference(&after).count(), 7);
    assert_eq!(after.difference(&before).count(), 7);
    // 1% of 200 users changed, nothing else.
    assert_eq!(c["changedUsers"], 2);
    let differing = a
        .resources
        .iter()
        .zip(&changed.resources)
        .filter(|(x, y)| x != y)
        .count();
    assert_eq!(differing, 2);
    assert_eq!(a.entitlements, changed.entitlements);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn import_and_resync_report_what_the_engine_did() {
    let d = dir();
    let (base, next) = (d.join("base.c1z"), d.join("next.c1z"));
    gen(&base, "3", "0");
    gen(&next, "3", "1");
    let r = bench(&[
        "import",
        "--file",
        base.to_str().unwrap(),
        "--then",
        next.to_str().unwrap(),
    ]);
    assert_eq!(r["backend"], "Sqlite");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["source"]["grants"], 1000);
    assert_eq!(runs[0]["counts"]["grants"]["added"], 1000);
    assert_eq!(runs[0]["counts"]["appUsers"]["added"], 200);
    assert_eq!(runs[0]["counts"]["resources"]["added"], 220);
    // The re-sync: moved grants are a removal plus an addition.
    assert_eq!(runs[1]["counts"]["grants"]["added"], 7);
    assert_eq!(runs[1]["counts"]["grants"]["removed"], 7);
    assert_eq!(runs[1]["counts"]["appUsers"]["changed"], 2);
    assert_eq!(runs[1]["counts"]["entitlements"]["changed"], 0);
    for run in runs {
        assert!(run["readSecs"].as_f64().unwrap() > 0.0);
        assert!(run["applySecs"].as_f64().unwrap() > 0.0);
        assert!(run["peakRssKib"].as_u64().unwrap() > 0);
    }
    std::fs::remove_dir_all(&d).unwrap();
}
