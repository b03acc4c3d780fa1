//! Access profiles (request catalogs), requestability, bundle automation with its circuit
//! breaker, and per-entitlement automation, through the API.

use super::harness;
use crate::on_both_backends;
use harness::TestServer;
use serde_json::{json, Value};

on_both_backends!(
    catalogs_crud_and_the_builtin_app,
    catalog_entries_and_visibility_bindings,
    requestability_follows_visibility,
    bundle_automation_plans_pauses_and_resumes,
    entitlement_automation_and_exclusions,
    concurrent_first_catalogs_share_one_builtin_app,
);

const BUILTIN: &str = "0000000000000000Chamberlain";

/// Sends a request that must be refused with `status` and a message containing `needle`, and
/// checks that nothing was written.
async fn refused(
    s: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
    needle: &str,
) {
    let before = s.event_count().await;
    let (st, e) = s.call(&s.admin, method, path, body.clone()).await;
    assert_eq!(st, status, "{method} {path} {body:?} -> {e}");
    let msg = e["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(needle),
        "{method} {path}: message `{msg}` should mention `{needle}`"
    );
    assert_eq!(
        s.event_count().await,
        before,
        "{method} {path} was refused but changed something"
    );
}

async fn create_catalog(s: &TestServer, body: Value) -> Value {
    s.ok("POST", "/api/v1/catalogs", Some(body)).await["requestCatalogView"]["requestCatalog"]
        .clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Grants an entitlement to users (accounts are created in manually managed apps).
async fn grant(s: &TestServer, app: &str, ent: &str, users: &[&str]) {
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{ent}/add-manual-user"),
        Some(json!({ "userIds": users })),
    )
    .await;
}

pub async fn catalogs_crud_and_the_builtin_app(s: &TestServer) {
    let c = create_catalog(
        s,
        json!({"displayName": "On-call", "description": "for the rotation", "published": true,
               "enrollmentBehavior": "REQUEST_CATALOG_ENROLLMENT_BEHAVIOR_BYPASS_ENTITLEMENT_REQUEST_POLICY"}),
    )
    .await;
    let cid = id(&c);
    assert_eq!(c["displayName"], "On-call");
    assert_eq!(c["published"], true);
    assert_eq!(c["createdByUserId"], s.admin_user_id.as_str());
    assert_eq!(c["accessEntitlements"], json!([]));
    let enroll = c["enrollmentEntitlementId"].as_str().unwrap().to_string();

    // The built-in app holds the catalog's resource and enrollment entitlement.
    let app = s.ok("GET", &format!("/api/v1/apps/{BUILTIN}"), None).await;
    assert_eq!(app["app"]["displayName"], "Chamberlain");
    let e = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{BUILTIN}/entitlements/{enroll}"),
            None,
        )
        .await["appEntitlementView"]["appEntitlement"]
        .clone();
    assert_eq!(e["displayName"], "On-call member");
    assert_eq!(e["slug"], "member");
    assert_eq!(e["purpose"], "APP_ENTITLEMENT_PURPOSE_VALUE_ASSIGNMENT");
    let res_id = e["appResourceId"].as_str().unwrap().to_string();
    let type_id = e["appResourceTypeId"].as_str().unwrap().to_string();
    let res_path = format!("/api/v1/apps/{BUILTIN}/resource_types/{type_id}/resources/{res_id}");
    let r = s.ok("GET", &res_path, None).await;
    assert_eq!(
        r["appResourceView"]["appResource"]["displayName"],
        "On-call"
    );
    let t = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{BUILTIN}/resource_types/{type_id}"),
            None,
        )
        .await;
    assert_eq!(
        t["appResourceTypeView"]["appResourceType"]["displayName"],
        "Access profile"
    );

    // A second catalog reuses the built-in app.
    let c2 = create_catalog(s, json!({"displayName": "Finance"})).await;
    let list = s.ok("GET", "/api/v1/catalogs", None).await;
    assert_eq!(list["list"].as_array().unwrap().len(), 2);
    assert_eq!(list["list"][0]["memberCount"], "0");
    let apps = s.ok("GET", "/api/v1/apps", None).await;
    let builtins = apps["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["id"] == BUILTIN)
        .count();
    assert_eq!(builtins, 1);

    // Get, with the creator expanded.
    let g = s.ok("GET", &format!("/api/v1/catalogs/{cid}"), None).await;
    assert_eq!(
        g["requestCatalogView"]["requestCatalog"]["id"],
        cid.as_str()
    );

    // Rename through the mask: the resource and the enrollment entitlement follow.
    let u = s
        .ok(
            "POST",
            &format!("/api/v1/catalogs/{cid}"),
            Some(
                json!({"catalog": {"displayName": "On-call SRE", "description": "ignored"},
                        "updateMask": "display_name",
                        "expandMask": {"paths": ["created_by_user_id"]}}),
            ),
        )
        .await;
    let uc = &u["requestCatalogView"]["requestCatalog"];
    assert_eq!(uc["displayName"], "On-call SRE");
    assert_eq!(uc["description"], "for the rotation");
    assert_eq!(
        u["requestCatalogView"]["createdByUserPath"],
        "$.expanded[0]"
    );
    let e = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{BUILTIN}/entitlements/{enroll}"),
            None,
        )
        .await;
    assert_eq!(
        e["appEntitlementView"]["appEntitlement"]["displayName"],
        "On-call SRE member"
    );
    let r = s.ok("GET", &res_path, None).await;
    assert_eq!(
        r["appResourceView"]["appResource"]["displayName"],
        "On-call SRE"
    );

    // Bad input changes nothing.
    refused(
        s,
        "POST",
        "/api/v1/catalogs",
        Some(json!({"displayName": "  "})),
        400,
        "displayName",
    )
    .await;
    refused(
        s,
        "POST",
        "/api/v1/catalogs",
        Some(json!({"displayName": "x", "colour": "red"})),
        400,
        "colour",
    )
    .await;
    refused(
        s,
        "POST",
        "/api/v1/catalogs",
        Some(json!({"displayName": "x", "unenrollmentBehavior": "REVOKE_EVERYTHING"})),
        400,
        "REQUEST_CATALOG_UNENROLLMENT_BEHAVIOR_REVOKE_ALL",
    )
    .await;
    let path = format!("/api/v1/catalogs/{cid}");
    refused(
        s,
        "POST",
        &path,
        Some(json!({"catalog": {"displayName": ""}, "updateMask": "displayName"})),
        400,
        "displayName must not be blank",
    )
    .await;
    refused(
        s,
        "POST",
        &path,
        Some(json!({"catalog": {"id": "x"}, "updateMask": "id"})),
        400,
        "does not match",
    )
    .await;
    refused(s, "POST", &path, Some(json!({"catalog": {"enrollmentEntitlementId": "x"}, "updateMask": "enrollmentEntitlementId"})), 400, "`enrollmentEntitlementId` is not a field that can be updated").await;
    refused(
        s,
        "POST",
        &path,
        Some(json!({"updateMask": "displayName"})),
        400,
        "`catalog` is required",
    )
    .await;
    refused(
        s,
        "GET",
        "/api/v1/catalogs/nope",
        None,
        404,
        "was not found",
    )
    .await;
    refused(
        s,
        "DELETE",
        "/api/v1/catalogs/nope",
        None,
        404,
        "was not found",
    )
    .await;
    let g = s.ok("GET", &path, None).await;
    assert_eq!(
        g["requestCatalogView"]["requestCatalog"]["displayName"],
        "On-call SRE"
    );

    // The built-in app and enrollment entitlements are removed through their catalogs only.
    refused(
        s,
        "DELETE",
        &format!("/api/v1/apps/{BUILTIN}"),
        None,
        400,
        "cannot be deleted",
    )
    .await;
    refused(
        s,
        "DELETE",
        &format!("/api/v1/apps/{BUILTIN}/entitlements/{enroll}"),
        None,
        400,
        "enrollment entitlement of access profile",
    )
    .await;

    // Every catalog path refuses an unknown catalog by name.
    let nope = "0000000000000000000000nope1";
    for (m, p) in [
        (
            "GET",
            format!("/api/v1/catalogs/{nope}/requestable_entitlements"),
        ),
        (
            "GET",
            format!("/api/v1/catalogs/{nope}/requestable_entitlementIDs"),
        ),
        (
            "GET",
            format!("/api/v1/catalogs/{nope}/visibility_entitlements"),
        ),
        ("GET", format!("/api/v1/catalogs/{nope}/bundle_automation")),
        (
            "POST",
            format!("/api/v1/catalogs/{nope}/bundle_automation/run"),
        ),
        (
            "POST",
            format!("/api/v1/catalogs/{nope}/bundle_automation/resume"),
        ),
        (
            "DELETE",
            format!("/api/v1/catalogs/{nope}/bundle_automation"),
        ),
    ] {
        refused(s, m, &p, None, 404, "request catalog").await;
    }
    refused(
        s,
        "GET",
        "/api/v1/catalogs?page_size=-1",
        None,
        400,
        "page_size",
    )
    .await;
    refused(
        s,
        "GET",
        "/api/v1/catalogs/bad$id",
        None,
        400,
        "not a valid id",
    )
    .await;

    // A user's account in the built-in app is created once, linked by hand.
    let carl = s.local_user("carl@example.com", "Carl", &[]).await;
    let audit = chamberlain_store::AuditCtx::system("test");
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let c = carl.clone();
        accounts.push(
            chamberlain_store::write_tx!(s.store, &audit, |tx| {
                chamberlain_store::repo::catalogs::ensure_builtin_account(tx, &c).await
            })
            .unwrap(),
        );
    }
    assert_eq!(accounts[0], accounts[1]);
    let au = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{BUILTIN}/users/{carl}/app_users"),
            None,
        )
        .await;
    assert_eq!(au["list"].as_array().unwrap().len(), 1, "{au}");
    let source: String = sqlx::query_scalar("SELECT link_source FROM app_users WHERE id = $1")
        .bind(&accounts[0])
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(source, "manual");

    // Non-admins may not write; read-only admins may read.
    let (_, ro) = s
        .user_with_token("ro@example.com", &["read-only-admin"])
        .await;
    let (st, _) = s.call(&ro, "GET", &path, None).await;
    assert_eq!(st, 200);
    let (st, _) = s
        .call(
            &ro,
            "POST",
            "/api/v1/catalogs",
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(st, 403);

    // Delete: the catalog, its resource and enrollment entitlement go.
    s.ok("DELETE", &path, None).await;
    let (st, _) = s.call(&s.admin, "GET", &path, None).await;
    assert_eq!(st, 404);
    let (st, _) = s
        .call(
            &s.admin,
            "GET",
            &format!("/api/v1/apps/{BUILTIN}/entitlements/{enroll}"),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s.call(&s.admin, "GET", &res_path, None).await;
    assert_eq!(st, 404);
    let list = s.ok("GET", "/api/v1/catalogs", None).await;
    assert_eq!(list["list"].as_array().unwrap().len(), 1);
    assert_eq!(list["list"][0]["requestCatalog"]["id"], c2["id"]);
}

pub async fn catalog_entries_and_visibility_bindings(s: &TestServer) {
    let app = s.create_app("AWS").await;
    let admin = s.create_entitlement(&app, "Admin").await;
    let read = s.create_entitlement(&app, "Read").await;
    let pager = s.create_app("PagerDuty").await;
    let oncall = s.create_entitlement(&pager, "Primary on-call").await;
    let gone_app = s.create_app("Old").await;
    let gone_ent = s.create_entitlement(&gone_app, "Old role").await;
    s.ok("DELETE", &format!("/api/v1/apps/{gone_app}"), None)
        .await;
    let c = create_catalog(s, json!({"displayName": "On-call", "published": true})).await;
    let cid = id(&c);
    let enroll = c["enrollmentEntitlementId"].as_str().unwrap().to_string();
    let entries = format!("/api/v1/catalogs/{cid}/requestable_entries");

    s.ok(
        "POST",
        &entries,
        Some(json!({"appEntitlements": [{"appId": app, "id": admin}]})),
    )
    .await;
    // PUT one entry.
    let put = s
        .ok("PUT", &format!("{entries}/{app}/{read}"), Some(json!({})))
        .await;
    assert_eq!(put["requestableEntry"]["catalogId"], cid.as_str());
    assert_eq!(put["requestableEntry"]["entitlementId"], read.as_str());
    let g = s.ok("GET", &format!("{entries}/{app}/{read}"), None).await;
    assert_eq!(g["requestableEntry"]["appId"], app.as_str());
    let l = s
        .ok(
            "GET",
            &format!("/api/v1/catalogs/{cid}/requestable_entitlements"),
            None,
        )
        .await;
    let names: Vec<&str> = l["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["appEntitlement"]["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Admin") && names.contains(&"Read"));
    let ids = s
        .ok(
            "GET",
            &format!("/api/v1/catalogs/{cid}/requestable_entitlementIDs"),
            None,
        )
        .await;
    assert_eq!(ids["refs"].as_array().unwrap().len(), 2);

    // Refusals: nothing changes.
    let one = |a: &str, e: &str| json!({"appEntitlements": [{"appId": a, "id": e}]});
    refused(
        s,
        "POST",
        &entries,
        Some(one(&app, &admin)),
        409,
        "already in catalog",
    )
    .await;
    refused(
        s,
        "POST",
        &entries,
        Some(json!({"appEntitlements": [{"appId": pager, "id": oncall}, {"appId": app, "id": admin}]})),
        409,
        "appEntitlements[1]: entitlement",
    )
    .await;
    refused(s, "POST", &entries, Some(json!({"appEntitlements": [{"appId": pager, "id": oncall}, {"appId": pager, "id": oncall}]})), 400, "listed twice").await;
    refused(
        s,
        "POST",
        &entries,
        Some(one(&app, "0000000000000000000000nope1")),
        404,
        "appEntitlements[0]",
    )
    .await;
    refused(
        s,
        "POST",
        &entries,
        Some(one(&pager, &admin)),
        404,
        "not found in app",
    )
    .await;
    refused(
        s,
        "POST",
        &entries,
        Some(one(&gone_app, &gone_ent)),
        404,
        "appEntitlements[0]",
    )
    .await;
    refused(
        s,
        "POST",
        &entries,
        Some(one(BUILTIN, &enroll)),
        400,
        "own enrollment entitlement",
    )
    .await;
    refused(
        s,
        "POST",
        &entries,
        Some(json!({"appEntitlements": []})),
        400,
        "at least one",
    )
    .await;
    refused(
        s,
        "POST",
        &entries,
        Some(json!({"appEntitlements": [{"appId": app}]})),
        400,
        "both `appId` and `id`",
    )
    .await;
    refused(
        s,
        "POST",
        &entries,
        Some(json!({"appEntitlements": [], "extra": 1})),
        400,
        "extra",
    )
    .await;
    refused(
        s,
        "DELETE",
        &entries,
        Some(one(&pager, &oncall)),
        404,
        "is not in catalog",
    )
    .await;
    refused(
        s,
        "GET",
        &format!("{entries}/{pager}/{oncall}"),
        None,
        404,
        "not requestable",
    )
    .await;
    refused(
        s,
        "PUT",
        &format!("{entries}/{app}/{admin}"),
        Some(json!({})),
        409,
        "already in catalog",
    )
    .await;
    refused(
        s,
        "POST",
        "/api/v1/catalogs/0000000000000000000000nope1/requestable_entries",
        Some(one(&app, &admin)),
        404,
        "request catalog",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("/api/v1/catalogs/{cid}/requestable_entitlements/update"),
        Some(json!({})),
        400,
        "appEntitlements is required",
    )
    .await;

    // Remove one, delete another, then replace the whole list.
    s.ok("DELETE", &entries, Some(one(&app, &admin))).await;
    s.ok("DELETE", &format!("{entries}/{app}/{read}"), None)
        .await;
    let ids = s
        .ok(
            "GET",
            &format!("/api/v1/catalogs/{cid}/requestable_entitlementIDs"),
            None,
        )
        .await;
    assert_eq!(ids["refs"], json!([]));
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}/requestable_entitlements/update"),
        Some(json!({"appEntitlements": [{"appId": app, "id": admin}, {"appId": app, "id": read}]})),
    )
    .await;
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}/requestable_entitlements/update"),
        Some(json!({"appEntitlements": [{"appId": app, "id": read}]})),
    )
    .await;
    let ids = s
        .ok(
            "GET",
            &format!("/api/v1/catalogs/{cid}/requestable_entitlementIDs"),
            None,
        )
        .await;
    assert_eq!(ids["refs"], json!([{"appId": app, "id": read}]));

    // Visibility bindings.
    let vis = format!("/api/v1/catalogs/{cid}/visibility_bindings");
    s.ok(
        "POST",
        &vis,
        Some(json!({"accessEntitlements": [{"appId": pager, "id": oncall}]})),
    )
    .await;
    refused(
        s,
        "POST",
        &vis,
        Some(json!({"accessEntitlements": [{"appId": pager, "id": oncall}]})),
        409,
        "already",
    )
    .await;
    refused(
        s,
        "POST",
        &vis,
        Some(json!({})),
        400,
        "accessEntitlements must list",
    )
    .await;
    refused(
        s,
        "DELETE",
        &vis,
        Some(json!({"accessEntitlements": [{"appId": app, "id": admin}]})),
        404,
        "is not in catalog",
    )
    .await;
    let l = s
        .ok(
            "GET",
            &format!("/api/v1/catalogs/{cid}/visibility_entitlements"),
            None,
        )
        .await;
    assert_eq!(l["list"][0]["appEntitlement"]["id"], oncall.as_str());
    let g = s.ok("GET", &format!("/api/v1/catalogs/{cid}"), None).await;
    assert_eq!(
        g["requestCatalogView"]["requestCatalog"]["accessEntitlements"][0]["displayName"],
        "Primary on-call"
    );
    s.ok(
        "DELETE",
        &vis,
        Some(json!({"accessEntitlements": [{"appId": pager, "id": oncall}]})),
    )
    .await;
    let l = s
        .ok(
            "GET",
            &format!("/api/v1/catalogs/{cid}/visibility_entitlements"),
            None,
        )
        .await;
    assert_eq!(l["list"], json!([]));

    // A deleted entitlement drops out of the lists.
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/entitlements/{read}"),
        None,
    )
    .await;
    let l = s
        .ok(
            "GET",
            &format!("/api/v1/catalogs/{cid}/requestable_entitlements"),
            None,
        )
        .await;
    assert_eq!(l["list"], json!([]));
}

pub async fn requestability_follows_visibility(s: &TestServer) {
    let pager = s.create_app("PagerDuty").await;
    let oncall = s.create_entitlement(&pager, "Primary on-call").await;
    let aws = s.create_app("AWS").await;
    let admin = s.create_entitlement(&aws, "Admin").await;
    let open = s.create_entitlement(&aws, "Read").await;
    let ann = s.local_user("ann@example.com", "Ann", &[]).await;
    let bob = s.local_user("bob@example.com", "Bob", &[]).await;
    grant(s, &pager, &oncall, &[&ann]).await;

    let c = create_catalog(s, json!({"displayName": "On-call", "published": true})).await;
    let cid = id(&c);
    let enroll = c["enrollmentEntitlementId"].as_str().unwrap().to_string();
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}/requestable_entries"),
        Some(json!({"appEntitlements": [{"appId": aws, "id": admin}]})),
    )
    .await;
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}/visibility_bindings"),
        Some(json!({"accessEntitlements": [{"appId": pager, "id": oncall}]})),
    )
    .await;
    let how = |user: String, app: String, ent: String| async move {
        s.ok(
            "GET",
            &format!("/api/v1/catalogs/requestability/{app}/{ent}?user_id={user}"),
            None,
        )
        .await
    };
    let visible = |user: String| async move {
        s.ok(
            "GET",
            &format!("/api/v1/catalogs/visible?user_id={user}"),
            None,
        )
        .await["catalogIds"]
            .clone()
    };

    // The on-call holder sees the catalog and may request through it; Bob may not.
    assert_eq!(visible(ann.clone()).await, json!([cid]));
    assert_eq!(visible(bob.clone()).await, json!([]));
    let a = how(ann.clone(), aws.clone(), admin.clone()).await;
    assert_eq!(a, json!({"requestability": "CATALOG", "catalogId": cid}));
    let b = how(bob.clone(), aws.clone(), admin.clone()).await;
    assert_eq!(b["requestability"], "HIDDEN");
    // Listed in a second catalog everyone sees: Bob may request through that one, Ann still
    // through the first (the smallest visible id); a deleted second catalog no longer counts.
    let c2 = id(&create_catalog(
        s,
        json!({"displayName": "Everyone", "published": true, "visibleToEveryone": true}),
    )
    .await);
    s.ok(
        "PUT",
        &format!("/api/v1/catalogs/{c2}/requestable_entries/{aws}/{admin}"),
        None,
    )
    .await;
    assert_eq!(
        how(bob.clone(), aws.clone(), admin.clone()).await["catalogId"],
        c2.as_str()
    );
    assert_eq!(
        how(ann.clone(), aws.clone(), admin.clone()).await["catalogId"],
        cid.as_str()
    );
    s.ok("DELETE", &format!("/api/v1/catalogs/{c2}"), None)
        .await;
    assert_eq!(
        how(bob.clone(), aws.clone(), admin.clone()).await["requestability"],
        "HIDDEN"
    );
    // An entitlement in no catalog is open to everyone.
    assert_eq!(
        how(bob.clone(), aws.clone(), open.clone()).await["requestability"],
        "OPEN"
    );
    // The enrollment entitlement needs requestBundle.
    assert_eq!(
        how(ann.clone(), BUILTIN.into(), enroll.clone()).await["requestability"],
        "HIDDEN"
    );
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}"),
        Some(json!({"catalog": {"requestBundle": true}, "updateMask": "requestBundle"})),
    )
    .await;
    assert_eq!(
        how(ann.clone(), BUILTIN.into(), enroll.clone()).await,
        json!({"requestability": "CATALOG", "catalogId": cid})
    );
    assert_eq!(
        how(bob.clone(), BUILTIN.into(), enroll.clone()).await["requestability"],
        "HIDDEN"
    );
    // Visible to everyone: Bob too.
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}"),
        Some(json!({"catalog": {"visibleToEveryone": true}, "updateMask": "visibleToEveryone"})),
    )
    .await;
    assert_eq!(
        how(bob.clone(), aws.clone(), admin.clone()).await["catalogId"],
        cid.as_str()
    );
    // Unpublished: nobody.
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}"),
        Some(json!({"catalog": {"published": false}, "updateMask": "published"})),
    )
    .await;
    assert_eq!(
        how(ann.clone(), aws.clone(), admin.clone()).await["requestability"],
        "HIDDEN"
    );
    assert_eq!(visible(ann.clone()).await, json!([]));
    // Losing the visibility entitlement hides it again.
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}"),
        Some(json!({"catalog": {"published": true, "visibleToEveryone": false}, "updateMask": "published,visibleToEveryone"})),
    )
    .await;
    assert_eq!(visible(ann.clone()).await, json!([cid]));
    let acct = s
        .ok("GET", &format!("/api/v1/apps/{pager}/app_users"), None)
        .await["list"][0]["appUser"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{pager}/entitlements/{oncall}/remove-membership"),
        Some(json!({"appUserId": acct})),
    )
    .await;
    assert_eq!(visible(ann.clone()).await, json!([]));
    assert_eq!(
        how(ann.clone(), aws.clone(), admin.clone()).await["requestability"],
        "HIDDEN"
    );

    // A basic user may ask about themselves only.
    let (me, tok) = s.user_with_token("carl@example.com", &[]).await;
    let (st, v) = s.call(&tok, "GET", "/api/v1/catalogs/visible", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["userId"], me.as_str());
    let (st, _) = s
        .call(
            &tok,
            "GET",
            &format!("/api/v1/catalogs/visible?user_id={ann}"),
            None,
        )
        .await;
    assert_eq!(st, 403);
}

pub async fn bundle_automation_plans_pauses_and_resumes(s: &TestServer) {
    let pager = s.create_app("PagerDuty").await;
    let oncall = s.create_entitlement(&pager, "Primary on-call").await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(
            s.local_user(&format!("u{i}@example.com"), &format!("U{i}"), &[])
                .await,
        );
    }
    let c = create_catalog(s, json!({"displayName": "On-call"})).await;
    let cid = id(&c);
    let enroll = c["enrollmentEntitlementId"].as_str().unwrap().to_string();
    let base = format!("/api/v1/catalogs/{cid}/bundle_automation");

    refused(s, "GET", &base, None, 404, "has no bundle automation").await;
    refused(
        s,
        "POST",
        &format!("{base}/run"),
        Some(json!({})),
        404,
        "has no bundle automation",
    )
    .await;
    // Bad input.
    let rule = json!({"entitlementRefs": [{"appId": pager, "id": oncall}]});
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"enabled": true})),
        400,
        "needs a rule",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"entitlements": rule, "cel": {"expression": "true"}})),
        400,
        "not both",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"cel": {"expression": "subject.departmnt == \"SRE\""}})),
        400,
        "line 1, column",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"cel": {"expression": "subject.email"}})),
        400,
        "cel.expression",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"cel": {"expression": " "}})),
        400,
        "cel.expression is empty",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"entitlements": rule, "removedMembersThresholdPercent": "101"})),
        400,
        "from 1 to 100",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"entitlements": rule, "removedMembersThresholdPercent": -5})),
        400,
        "from 1 to 100",
    )
    .await;
    refused(s, "POST", &format!("{base}/create"), Some(json!({"entitlements": {"entitlementRefs": [{"appId": pager, "id": "0000000000000000000000nope1"}]}})), 404, "entitlements.entitlementRefs[0]").await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"entitlements": {"entitlementRefs": []}})),
        400,
        "at least one",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"entitlements": rule, "paused": true})),
        400,
        "paused",
    )
    .await;

    // Members: the first four users; the rule selects holders of the on-call entitlement.
    let all: Vec<&str> = users.iter().map(String::as_str).collect();
    grant(s, BUILTIN, &enroll, &all[..4]).await;
    grant(s, &pager, &oncall, &all[3..5]).await;
    let a = s
        .ok(
            "POST",
            &format!("{base}/create"),
            Some(json!({"entitlements": rule, "enabled": false, "enforceOnSmallProfiles": true})),
        )
        .await;
    assert_eq!(a["requestCatalogId"], cid.as_str());
    assert_eq!(a["removedMembersThresholdPercent"], "20");
    // Disabled: "run now" plans and records, and applies nothing (the worker leaves it alone),
    // so the plans below are computed against the same members.
    assert_eq!(a["enabled"], false);
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"entitlements": rule})),
        409,
        "already has a bundle automation",
    )
    .await;
    let g = s.ok("GET", &format!("/api/v1/catalogs/{cid}"), None).await;
    assert_eq!(g["requestCatalogView"]["memberCount"], "4");

    // Removing 3 of 4 members trips the breaker (enforced on small profiles): nothing changes.
    refused(
        s,
        "POST",
        &format!("{base}/resume"),
        Some(json!({})),
        400,
        "not paused",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/run"),
        Some(json!({"refs": [{"appId": pager, "id": oncall}]})),
        501,
        "refs",
    )
    .await;
    let run = s.ok("POST", &format!("{base}/run"), Some(json!({}))).await;
    assert_eq!(run["plan"]["enroll"], json!([]));
    assert_eq!(run["plan"]["unenroll"], json!([]));
    assert!(
        run["plan"]["paused"].as_str().unwrap().contains("3 of 4"),
        "{run}"
    );
    let a = s.ok("GET", &base, None).await;
    assert_eq!(
        a["circuitBreaker"]["state"],
        "CIRCUIT_BREAKER_STATE_TRIGGERED"
    );
    assert_eq!(
        a["state"]["status"],
        "BUNDLE_AUTOMATION_RUN_STATUS_WAITING_FOR_APPROVAL"
    );
    assert!(a["state"]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("threshold"));
    // Still paused on the next run.
    let run = s.ok("POST", &format!("{base}/run"), Some(json!({}))).await;
    assert!(run["plan"]["paused"].is_string(), "{run}");
    // Changing the settings keeps the pause.
    s.ok(
        "POST",
        &base,
        Some(json!({"entitlements": rule, "enabled": false, "enforceOnSmallProfiles": true, "removedMembersThresholdPercent": "50"})),
    )
    .await;
    let a = s.ok("GET", &base, None).await;
    assert_eq!(
        a["circuitBreaker"]["state"],
        "CIRCUIT_BREAKER_STATE_TRIGGERED"
    );
    assert_eq!(a["removedMembersThresholdPercent"], "50");
    // Resume: the next run applies once.
    s.ok("POST", &format!("{base}/resume"), Some(json!({})))
        .await;
    let a = s.ok("GET", &base, None).await;
    assert_eq!(a["circuitBreaker"]["state"], "CIRCUIT_BREAKER_STATE_BYPASS");
    let run = s.ok("POST", &format!("{base}/run"), Some(json!({}))).await;
    let mut unenroll: Vec<String> = users[..3].to_vec();
    unenroll.sort();
    assert_eq!(run["plan"]["unenroll"], json!(unenroll));
    assert_eq!(run["plan"]["enroll"], json!([users[4]]));
    assert!(run["plan"]["paused"].is_null());
    let a = s.ok("GET", &base, None).await;
    assert_eq!(
        a["circuitBreaker"]["state"],
        "CIRCUIT_BREAKER_STATE_UNSPECIFIED"
    );
    assert_eq!(a["state"]["status"], "BUNDLE_AUTOMATION_RUN_STATUS_SUCCESS");
    // The automation is not enabled, so "run now" only planned: still 4 members.
    let g = s.ok("GET", &format!("/api/v1/catalogs/{cid}"), None).await;
    assert_eq!(g["requestCatalogView"]["memberCount"], "4");
    // Not enforced on small profiles, and with the breaker disabled: applies.
    s.ok("POST", &base, Some(json!({"entitlements": rule})))
        .await;
    let run = s.ok("POST", &format!("{base}/run"), Some(json!({}))).await;
    assert_eq!(run["plan"]["unenroll"].as_array().unwrap().len(), 3);
    s.ok(
        "POST",
        &base,
        Some(json!({"entitlements": rule, "enforceOnSmallProfiles": true, "disableCircuitBreaker": true})),
    )
    .await;
    let run = s.ok("POST", &format!("{base}/run"), Some(json!({}))).await;
    assert_eq!(run["plan"]["unenroll"].as_array().unwrap().len(), 3);

    // Exclusions of the bundle automation are its enrollment entitlement's.
    let ex = format!("/api/v1/apps/{BUILTIN}/entitlements/{enroll}/automation/exclusions");
    s.ok("POST", &ex, Some(json!({"userIds": [users[4]]})))
        .await;
    let run = s.ok("POST", &format!("{base}/run"), Some(json!({}))).await;
    assert_eq!(run["plan"]["enroll"], json!([]));
    s.ok("DELETE", &ex, Some(json!({"userIds": [users[4]]})))
        .await;
    let run = s.ok("POST", &format!("{base}/run"), Some(json!({}))).await;
    assert_eq!(run["plan"]["enroll"], json!([users[4]]));

    // A CEL rule: users whose email starts with u1 or u4.
    let a = s
        .ok(
            "POST",
            &base,
            Some(json!({"cel": {"expression": "subject.email.startsWith(\"u1\") || subject.email.startsWith(\"u4\")"}})),
        )
        .await;
    assert!(a["entitlements"].is_null());
    let run = s.ok("POST", &format!("{base}/run"), Some(json!({}))).await;
    assert_eq!(run["plan"]["enroll"], json!([users[4]]));
    let mut gone = vec![users[0].clone(), users[2].clone(), users[3].clone()];
    gone.sort();
    assert_eq!(run["plan"]["unenroll"], json!(gone));
    let a = s.ok("GET", &base, None).await;
    assert_eq!(a["state"]["celEvaluation"]["matchedUsers"], "2");

    // Delete.
    refused(
        s,
        "DELETE",
        &base,
        Some(json!({"force": true})),
        400,
        "force",
    )
    .await;
    s.ok("DELETE", &base, None).await;
    refused(s, "GET", &base, None, 404, "has no bundle automation").await;
    refused(s, "DELETE", &base, None, 404, "has no bundle automation").await;
    // Create again after delete.
    s.ok(
        "POST",
        &format!("{base}/create"),
        Some(json!({"entitlements": rule})),
    )
    .await;
}

pub async fn entitlement_automation_and_exclusions(s: &TestServer) {
    let app = s.create_app("GitHub").await;
    let team = s.create_entitlement(&app, "SRE team").await;
    let src = s.create_entitlement(&app, "Org member").await;
    let other = s.create_entitlement(&app, "Other").await;
    let ann = s.local_user("ann@example.com", "Ann", &[]).await;
    let base = format!("/api/v1/apps/{app}/entitlements/{team}/automation");
    let rule = json!({"entitlementRefs": [{"appId": app, "id": src}]});

    refused(s, "GET", &base, None, 404, "has no automation").await;
    refused(
        s,
        "GET",
        &format!("{base}/exclusions"),
        None,
        400,
        "has no automation",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({})),
        400,
        "`automation` is required",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"automation": {}})),
        400,
        "exactly one condition",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"automation": {"entitlements": rule, "cel": {"expression": "true"}}})),
        400,
        "only one",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"automation": {"basic": {"expression": "subject.nope"}}})),
        400,
        "basic.expression",
    )
    .await;
    refused(s, "POST", &format!("{base}/create"), Some(json!({"automation": {"entitlements": {"entitlementRefs": [{"appId": app, "id": team}]}}})), 400, "its own entitlement").await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"automation": {"entitlements": rule, "appId": "zzz"}})),
        400,
        "does not match the path",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"automation": {"entitlements": rule, "colour": 1}})),
        400,
        "colour",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/0000000000000000000000nope1/automation/create"),
        Some(json!({"automation": {"entitlements": rule}})),
        404,
        "not found",
    )
    .await;

    let v = s
        .ok(
            "POST",
            &format!("{base}/create"),
            Some(json!({"automation": {"entitlements": rule, "description": "org members"}})),
        )
        .await;
    let a = &v["automation"];
    assert_eq!(a["appId"], app.as_str());
    assert_eq!(a["appEntitlementId"], team.as_str());
    assert_eq!(a["displayName"], "SRE team");
    assert_eq!(a["entitlements"], rule);
    refused(
        s,
        "POST",
        &format!("{base}/create"),
        Some(json!({"automation": {"entitlements": rule}})),
        409,
        "already has an automation",
    )
    .await;
    let g = s.ok("GET", &base, None).await;
    assert_eq!(g["AppEntitlementAutomation"]["description"], "org members");

    // Update with a mask: switching to CEL clears the entitlements rule.
    let u = s
        .ok(
            "POST",
            &format!("{base}/update"),
            Some(json!({"cel": {"expression": "subject.department == \"SRE\""}, "updateMask": "cel"})),
        )
        .await;
    let a = &u["AppEntitlementAutomation"];
    assert!(a["entitlements"].is_null(), "{a}");
    assert_eq!(a["cel"]["expression"], "subject.department == \"SRE\"");
    assert_eq!(a["description"], "org members");
    // Without a mask, the fields sent are taken.
    let u = s
        .ok(
            "POST",
            &format!("{base}/update"),
            Some(json!({"description": "new", "entitlements": {"entitlementRefs": [{"appId": app, "id": other}]}})),
        )
        .await;
    assert!(u["AppEntitlementAutomation"]["cel"].is_null());
    assert_eq!(u["AppEntitlementAutomation"]["description"], "new");
    refused(
        s,
        "POST",
        &format!("{base}/update"),
        Some(json!({"cel": {"expression": "1 +"}, "updateMask": "cel"})),
        400,
        "cel.expression",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/update"),
        Some(json!({"cel": {"expression": "true"}, "basic": {"expression": "true"}})),
        400,
        "only one",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/update"),
        Some(json!({"description": "x", "updateMask": "lastRunStatus"})),
        400,
        "`lastRunStatus` is not a field that can be updated",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/update"),
        Some(json!({"entitlements": null, "updateMask": "entitlements"})),
        400,
        "exactly one condition",
    )
    .await;
    refused(
        s,
        "POST",
        &format!("{base}/update"),
        Some(json!({"wat": 1})),
        400,
        "wat",
    )
    .await;
    let g = s.ok("GET", &base, None).await;
    assert_eq!(g["AppEntitlementAutomation"]["description"], "new");

    // Exclusions.
    let ex = format!("{base}/exclusions");
    s.ok("POST", &ex, Some(json!({"userIds": [ann]}))).await;
    s.ok("POST", &ex, Some(json!({"userIds": [ann]}))).await;
    let l = s.ok("GET", &ex, None).await;
    assert_eq!(l["list"].as_array().unwrap().len(), 1);
    assert_eq!(l["list"][0]["user"]["email"], "ann@example.com");
    assert_eq!(l["list"][0]["appEntitlementId"], team.as_str());
    refused(
        s,
        "POST",
        &ex,
        Some(json!({"userIds": []})),
        400,
        "at least one",
    )
    .await;
    refused(
        s,
        "POST",
        &ex,
        Some(json!({"userIds": ["0000000000000000000000nope1"]})),
        404,
        "userIds[0]",
    )
    .await;
    refused(
        s,
        "DELETE",
        &ex,
        Some(json!({"userIds": [s.admin_user_id]})),
        404,
        "automation exclusion",
    )
    .await;
    s.ok("DELETE", &ex, Some(json!({"userIds": [ann]}))).await;
    let l = s.ok("GET", &ex, None).await;
    assert_eq!(l["list"], json!([]));

    // The planner's inputs for this automation (the store-side loader).
    s.ok("POST", &ex, Some(json!({"userIds": [ann]}))).await;
    let inputs = chamberlain_access::automation::load_entitlement_inputs(&s.store, &team)
        .await
        .unwrap();
    assert!(inputs.excluded.contains(&ann));
    assert!(inputs.satisfying.unwrap().is_empty());
    // A run records its status on the automation (and grants nothing).
    let audit = chamberlain_store::AuditCtx::system("test");
    let (plan, a) =
        chamberlain_access::automation::run_entitlement_automation(&s.store, &audit, &team)
            .await
            .unwrap();
    assert!(plan.enroll.is_empty() && plan.paused.is_none());
    let status = a.last_run_status.unwrap();
    assert_eq!(
        status.status,
        chamberlain_model::catalog::EntitlementRunStatus::Success
    );
    let g = s.ok("GET", &base, None).await;
    assert_eq!(
        g["AppEntitlementAutomation"]["lastRunStatus"]["status"],
        "APP_ENTITLEMENT_AUTOMATION_RUN_STATUS_SUCCESS"
    );

    // Delete removes the automation and its exclusions.
    s.ok("DELETE", &base, None).await;
    refused(s, "GET", &base, None, 404, "has no automation").await;
    refused(s, "DELETE", &base, None, 404, "has no automation").await;
    s.ok(
        "POST",
        &format!("{base}/create"),
        Some(json!({"automation": {"none": {}}})),
    )
    .await;
    let l = s.ok("GET", &ex, None).await;
    assert_eq!(l["list"], json!([]));
}

pub async fn concurrent_first_catalogs_share_one_builtin_app(s: &TestServer) {
    let calls = (0..6).map(|i| {
        s.call(
            &s.admin,
            "POST",
            "/api/v1/catalogs",
            Some(json!({ "displayName": format!("Profile {i}") })),
        )
    });
    for (st, v) in futures::future::join_all(calls).await {
        assert_eq!(st, 200, "{v}");
    }
    let apps = s.ok("GET", "/api/v1/apps?page_size=100", None).await;
    let builtins: Vec<&Value> = apps["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["displayName"] == "Chamberlain")
        .collect();
    assert_eq!(builtins.len(), 1, "{apps}");
    assert_eq!(builtins[0]["id"], BUILTIN);
    let types = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{BUILTIN}/resource_types"),
            None,
        )
        .await;
    assert_eq!(types["list"].as_array().unwrap().len(), 1, "{types}");
    let ents = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{BUILTIN}/entitlements?page_size=100"),
            None,
        )
        .await;
    assert_eq!(ents["list"].as_array().unwrap().len(), 6);
}
