//! HTTP-level tests of the C1-compatible API, each run on SQLite and on PostgreSQL.

mod catalogs;
mod cli;
mod connectors;
mod directories;
mod harness;
mod jobs;
mod mcp;
mod mcp_connections;
mod notifications;
mod oauth;
mod policies;
mod slack;
mod slack_standin;
mod sso;
mod sync;
mod tasks;
mod webhooks;

use connectors::{
    baton_connector_syncs_and_provisions, connector_configuration_is_checked,
    connector_credentials_feed_only_their_connector, tasks_provision_through_connectors,
};
use directories::{
    account_owner_lives_in_columns, accounts_in_other_apps_are_linked,
    directories_create_match_ignore_and_remove, directory_bad_input_is_refused,
    directory_merge_rules_conflicts_and_preview,
};
use jobs::jobs_leases_locks_and_events;
use oauth::{
    oauth_client_metadata_documents, oauth_flow_pkce_codes_and_refresh_rotation,
    oauth_lifecycle_and_switches, oauth_refusals_are_clear,
};
use policies::cel_validation_reports_markers;

use sync::{c1z_import_and_resync, csv_file_app_sync, xlsx_file_app_sync};
use tasks::{
    auto_approval_and_expiry, default_policy_and_fallbacks,
    delegated_provisioning_through_a_binding, entitlement_automation_grants_and_revokes,
    escalations_and_wait_timeouts, grant_previews_show_the_policy_and_change_nothing,
    on_call_access_profiles, policy_bad_input_is_refused, policy_steps_and_task_actions,
    request_approval_and_refusals, task_bad_input_is_refused,
};

use webhooks::{
    tasks_provision_through_webhooks, webhook_callbacks_are_single_use_and_expire,
    webhook_delivery_envelope_jwt_and_sync_reply, webhook_retries_gone_and_bad_replies,
    webhooks_crud_search_and_url_rules,
};

use mcp::{
    gateway_governs_tools_end_to_end, gateway_proxies_resources_and_prompts, gateway_proxies_tasks,
    gateway_refuses_bad_tokens_and_sessions, hosted_stdio_server_through_the_gateway,
    mcp_registry_bad_input_is_refused, scheduled_discovery_picks_up_changes,
};
use mcp_connections::{
    client_credentials_against_a_real_token_endpoint, hosted_servers_run_supervised,
    per_user_oauth_against_a_real_oauth_mcp_server, per_user_tokens_are_refreshed_and_rotated,
    service_mode_oauth_identity_serves_everyone,
};

use notifications::{
    email_failures_are_retried_or_marked_failed, email_notifications_follow_requests,
    notification_settings_bad_input_is_refused, starttls_auth_and_digests,
};

use slack::{
    requests_from_slack_and_cli_reach_approvers_everywhere,
    slack_delivery_failures_are_retried_or_failed, slack_denials_and_refusals,
    slack_requests_and_approvals,
};

use cli::{
    cli_login_whoami_and_logout, cli_self_service_access, device_authorizations_are_capped,
    device_flow_rules_and_refusals, request_catalog_search_follows_requestability,
};

use sso::{
    sso_other_algorithms_and_client_auth, sso_refusals_are_clear,
    sso_signs_in_verified_users_by_email,
};

use harness::TestServer;
use serde_json::{json, Value};

on_both_backends!(
    grant_previews_show_the_policy_and_change_nothing,
    sso_signs_in_verified_users_by_email,
    sso_refusals_are_clear,
    sso_other_algorithms_and_client_auth,
    requests_from_slack_and_cli_reach_approvers_everywhere,
    slack_requests_and_approvals,
    slack_denials_and_refusals,
    slack_delivery_failures_are_retried_or_failed,
    cli_login_whoami_and_logout,
    device_flow_rules_and_refusals,
    device_authorizations_are_capped,
    cli_self_service_access,
    request_catalog_search_follows_requestability,
    email_notifications_follow_requests,
    notification_settings_bad_input_is_refused,
    email_failures_are_retried_or_marked_failed,
    starttls_auth_and_digests,
    gateway_governs_tools_end_to_end,
    gateway_proxies_resources_and_prompts,
    gateway_proxies_tasks,
    gateway_refuses_bad_tokens_and_sessions,
    mcp_registry_bad_input_is_refused,
    hosted_stdio_server_through_the_gateway,
    scheduled_discovery_picks_up_changes,
    per_user_oauth_against_a_real_oauth_mcp_server,
    service_mode_oauth_identity_serves_everyone,
    hosted_servers_run_supervised,
    per_user_tokens_are_refreshed_and_rotated,
    client_credentials_against_a_real_token_endpoint,
    oauth_flow_pkce_codes_and_refresh_rotation,
    oauth_refusals_are_clear,
    oauth_client_metadata_documents,
    oauth_lifecycle_and_switches,
    apps_crud_update_mask_and_delete,
    pagination_is_clamped_stable_and_tokens_are_checked,
    entitlements_members_and_grants,
    proxy_bindings_imply_and_withdraw_grants,
    owners_set_add_list_remove,
    resource_types_and_resources,
    app_users_link_to_users,
    settings_round_trip,
    users_and_search,
    system_log_records_changes_with_actor,
    bad_input_is_refused_and_changes_nothing,
    roles_are_enforced,
    tokens_and_assertions,
    c1z_import_and_resync,
    csv_file_app_sync,
    xlsx_file_app_sync,
    baton_connector_syncs_and_provisions,
    tasks_provision_through_connectors,
    policy_steps_and_task_actions,
    entitlement_automation_grants_and_revokes,
    delegated_provisioning_through_a_binding,
    escalations_and_wait_timeouts,
    task_bad_input_is_refused,
    connector_configuration_is_checked,
    connector_credentials_feed_only_their_connector,
    jobs_leases_locks_and_events,
    directories_create_match_ignore_and_remove,
    directory_merge_rules_conflicts_and_preview,
    accounts_in_other_apps_are_linked,
    account_owner_lives_in_columns,
    directory_bad_input_is_refused,
    cel_validation_reports_markers,
    request_approval_and_refusals,
    default_policy_and_fallbacks,
    auto_approval_and_expiry,
    policy_bad_input_is_refused,
    on_call_access_profiles,
    webhooks_crud_search_and_url_rules,
    webhook_delivery_envelope_jwt_and_sync_reply,
    webhook_callbacks_are_single_use_and_expire,
    webhook_retries_gone_and_bad_replies,
    tasks_provision_through_webhooks,
);

async fn apps_crud_update_mask_and_delete(s: &TestServer) {
    let v = s
        .ok(
            "POST",
            "/api/v1/apps",
            Some(json!({"displayName": "GitHub", "description": "code", "monthlyCostUsd": 12})),
        )
        .await;
    let app = &v["app"];
    let id = app["id"].as_str().unwrap();
    assert_eq!(app["userCount"], "0", "int64 is a string");
    assert_eq!(app["deletedAt"], Value::Null);
    assert_eq!(
        app["identityMatching"],
        "APP_USER_IDENTITY_MATCHING_UNSPECIFIED"
    );
    let v = s.ok("POST", &format!("/api/v1/apps/{id}"), Some(json!({"app": {"displayName": "GitHub Enterprise", "description": "ignored"}, "updateMask": "displayName"}))).await;
    assert_eq!(v["app"]["displayName"], "GitHub Enterprise");
    assert_eq!(
        v["app"]["description"], "code",
        "fields outside the mask are kept"
    );
    // snake_case mask paths are accepted too
    let v = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{id}"),
            Some(json!({"app": {"description": "new"}, "updateMask": "description"})),
        )
        .await;
    assert_eq!(v["app"]["description"], "new");
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{id}"),
            Some(json!({"app": {"userCount": "5"}, "updateMask": "user_count"})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("userCount"));
    let got = s.ok("GET", &format!("/api/v1/apps/{id}"), None).await;
    assert_eq!(got["app"]["displayName"], "GitHub Enterprise");
    s.ok("DELETE", &format!("/api/v1/apps/{id}"), None).await;
    let (st, e) = s
        .call(&s.admin, "GET", &format!("/api/v1/apps/{id}"), None)
        .await;
    assert_eq!(st, 404);
    assert_eq!(e["code"], 5);
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{id}"),
            Some(json!({"app": {"displayName": "x"}})),
        )
        .await;
    assert_eq!(st, 404, "a deleted app cannot be updated");
}

async fn pagination_is_clamped_stable_and_tokens_are_checked(s: &TestServer) {
    for i in 0..30 {
        s.create_app(&format!("app{i:02}")).await;
    }
    let first = s.ok("GET", "/api/v1/apps", None).await;
    assert_eq!(
        first["list"].as_array().unwrap().len(),
        25,
        "default page size is 25"
    );
    let small = s.ok("GET", "/api/v1/apps?page_size=1", None).await;
    assert_eq!(
        small["list"].as_array().unwrap().len(),
        10,
        "sizes below 10 become 10"
    );
    let zero = s.ok("GET", "/api/v1/apps?page_size=0", None).await;
    assert_eq!(
        zero["list"].as_array().unwrap().len(),
        25,
        "0 means the default"
    );
    let big = s.ok("GET", "/api/v1/apps?page_size=10000", None).await;
    assert_eq!(
        big["list"].as_array().unwrap().len(),
        30,
        "sizes above 100 become 100"
    );
    let token = small["nextPageToken"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    // Inserting while paging must not shift the next page.
    s.create_app("late").await;
    let page2 = s
        .ok(
            "GET",
            &format!("/api/v1/apps?page_size=10&page_token={token}"),
            None,
        )
        .await;
    let names: Vec<&str> = page2["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"app10"));
    let (st, e) = s
        .call(&s.admin, "GET", "/api/v1/apps?page_token=bogus", None)
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("page_token"));
    let (st, _) = s
        .call(&s.admin, "GET", "/api/v1/apps?page_size=-3", None)
        .await;
    assert_eq!(st, 400);
    let (st, _) = s
        .call(&s.admin, "GET", "/api/v1/apps?page_size=ten", None)
        .await;
    assert_eq!(st, 400);
    // A token from another list is refused.
    let app = s.create_app("x").await;
    let (st, _) = s
        .call(
            &s.admin,
            "GET",
            &format!("/api/v1/apps/{app}/entitlements?page_token={token}"),
            None,
        )
        .await;
    assert_eq!(st, 400);
}

async fn entitlements_members_and_grants(s: &TestServer) {
    let app = s.create_app("Okta").await;
    let v = s
        .ok("POST", &format!("/api/v1/apps/{app}/entitlements"), Some(json!({"displayName": "Admins", "slug": "admins", "durationGrant": "3600s", "purpose": "APP_ENTITLEMENT_PURPOSE_VALUE_ASSIGNMENT"})))
        .await;
    let ent = v["appEntitlementView"]["appEntitlement"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        v["appEntitlementView"]["appEntitlement"]["durationGrant"],
        "3600s"
    );
    assert_eq!(v["appEntitlementView"]["appPath"], "$.expanded[0]");
    assert_eq!(
        v["expanded"][0]["@type"],
        "type.googleapis.com/c1.api.app.v1.App"
    );
    let (uid, _) = s
        .user_with_token("alice@example.com", &["basic-user"])
        .await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{ent}/add-manual-user"),
        Some(json!({"userIds": [uid]})),
    )
    .await;
    // Adding again is idempotent.
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{ent}/add-manual-user"),
        Some(json!({"userIds": [uid]})),
    )
    .await;
    let users = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/users"),
            None,
        )
        .await;
    let list = users["list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let au = list[0]["appUserId"].as_str().unwrap().to_string();
    assert_eq!(list[0]["appUser"]["identityUserId"], uid.as_str());
    assert!(
        list[0]["appEntitlementUserBindingDeprovisionAt"].is_string(),
        "durationGrant sets deprovisionAt"
    );
    let got = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}"),
            None,
        )
        .await;
    assert_eq!(
        got["appEntitlementView"]["appEntitlement"]["grantCount"],
        "1"
    );
    let app_v = s.ok("GET", &format!("/api/v1/apps/{app}"), None).await;
    assert_eq!(app_v["app"]["userCount"], "1");
    // Search grants by user.
    let found = s
        .ok(
            "POST",
            "/api/v1/search/grants",
            Some(json!({"userId": uid})),
        )
        .await;
    assert_eq!(found["list"].as_array().unwrap().len(), 1);
    assert_eq!(
        found["list"][0]["appEntitlementUserBinding"]["appUserId"],
        au.as_str()
    );
    assert_eq!(
        found["list"][0]["entitlement"]["appEntitlement"]["id"],
        ent.as_str()
    );
    // Entitlements for the account.
    let held = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/users/{au}"),
            None,
        )
        .await;
    assert_eq!(held["list"][0]["appEntitlement"]["id"], ent.as_str());
    // Grant duration.
    let b = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/users/{au}/update-grant-duration"),
            Some(json!({"newDeprovisionAt": "2099-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(b["binding"]["deprovisionAt"], "2099-01-01T00:00:00Z");
    let b = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/users/{au}/remove-grant-duration"),
            Some(json!({})),
        )
        .await;
    assert_eq!(b["binding"]["deprovisionAt"], Value::Null);
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/users/{au}/update-grant-duration"),
            Some(json!({"newDeprovisionAt": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(st, 400, "a past end is refused");
    // Remove membership; the grant stays visible in the history list.
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/entitlements/{ent}/remove-membership"),
        Some(json!({"appUserId": au})),
    )
    .await;
    let users = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/users"),
            None,
        )
        .await;
    assert!(users["list"].as_array().unwrap().is_empty());
    let hist = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/grants"),
            None,
        )
        .await;
    assert_eq!(hist["list"].as_array().unwrap().len(), 1);
    assert!(hist["list"][0]["expired"].is_string());
    assert_eq!(hist["list"][0]["user"]["id"], uid.as_str());
    let (st, _) = s
        .call(
            &s.admin,
            "DELETE",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/remove-membership"),
            Some(json!({"appUserId": au})),
        )
        .await;
    assert_eq!(st, 404, "removing twice says there is nothing to remove");
    // Update and delete the entitlement.
    let v = s.ok("POST", &format!("/api/v1/apps/{app}/entitlements/{ent}"), Some(json!({"entitlement": {"displayName": "Super Admins"}, "updateMask": "displayName"}))).await;
    assert_eq!(
        v["appEntitlementView"]["appEntitlement"]["displayName"],
        "Super Admins"
    );
    assert_eq!(v["appEntitlementView"]["appEntitlement"]["slug"], "admins");
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/entitlements/{ent}"),
        None,
    )
    .await;
    let (st, _) = s
        .call(
            &s.admin,
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}"),
            None,
        )
        .await;
    assert_eq!(st, 404);
}

async fn proxy_bindings_imply_and_withdraw_grants(s: &TestServer) {
    let a = s.create_app("PagerDuty").await;
    let b = s.create_app("AWS").await;
    let src = s.create_entitlement(&a, "On call").await;
    let dst = s.create_entitlement(&b, "Prod read").await;
    let dst2 = s.create_entitlement(&b, "Logs").await;
    let (uid, _) = s.user_with_token("bob@example.com", &[]).await;
    // Bob has accounts in both apps.
    s.ok(
        "POST",
        &format!("/api/v1/apps/{b}/entitlements/{dst2}/add-manual-user"),
        Some(json!({"userIds": [uid]})),
    )
    .await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{a}/entitlements/{src}/add-manual-user"),
        Some(json!({"userIds": [uid]})),
    )
    .await;
    let v = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{a}/{src}/bindings/{b}/{dst}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        v["appProxyEntitlementView"]["appProxyEntitlement"]["srcAppEntitlementId"],
        src.as_str()
    );
    s.ok(
        "GET",
        &format!("/api/v1/apps/{a}/{src}/bindings/{b}/{dst}"),
        None,
    )
    .await;
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{a}/{src}/bindings/{b}/{dst}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 409, "a second identical binding is refused");
    // Chain: dst implies dst2, which Bob also holds directly.
    s.ok(
        "POST",
        &format!("/api/v1/apps/{b}/{dst}/bindings/{b}/{dst2}"),
        Some(json!({})),
    )
    .await;
    let implied = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{b}/entitlements/{dst}/users"),
            None,
        )
        .await;
    let list = implied["list"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{implied}");
    assert_eq!(list[0]["grantSources"], json!([{"appId": a, "id": src}]));
    let au_b = list[0]["appUserId"].as_str().unwrap().to_string();
    let chained = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{b}/entitlements/{dst2}/users"),
            None,
        )
        .await;
    assert_eq!(
        chained["list"][0]["grantSources"],
        json!([{"appId": b, "id": dst}])
    );
    // Removing the implied grant directly is refused with the reason.
    let (st, e) = s
        .call(
            &s.admin,
            "DELETE",
            &format!("/api/v1/apps/{b}/entitlements/{dst}/remove-membership"),
            Some(json!({"appUserId": au_b})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains(&src));
    // Removing the source removes what it alone implied, but not the direct grant of dst2.
    let au_a = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{a}/users/{uid}/app_users"),
            None,
        )
        .await["list"][0]["appUser"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{a}/entitlements/{src}/remove-membership"),
        Some(json!({"appUserId": au_a})),
    )
    .await;
    let implied = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{b}/entitlements/{dst}/users"),
            None,
        )
        .await;
    assert!(implied["list"].as_array().unwrap().is_empty(), "{implied}");
    let chained = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{b}/entitlements/{dst2}/users"),
            None,
        )
        .await;
    assert_eq!(chained["list"].as_array().unwrap().len(), 1);
    assert_eq!(chained["list"][0]["grantSources"], json!([]));
    // Re-grant, then deleting the binding withdraws the implied grant.
    s.ok(
        "POST",
        &format!("/api/v1/apps/{a}/entitlements/{src}/add-manual-user"),
        Some(json!({"userIds": [uid]})),
    )
    .await;
    assert_eq!(
        s.ok(
            "GET",
            &format!("/api/v1/apps/{b}/entitlements/{dst}/users"),
            None
        )
        .await["list"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{a}/{src}/bindings/{b}/{dst}"),
        None,
    )
    .await;
    assert!(s
        .ok(
            "GET",
            &format!("/api/v1/apps/{b}/entitlements/{dst}/users"),
            None
        )
        .await["list"]
        .as_array()
        .unwrap()
        .is_empty());
    let (st, _) = s
        .call(
            &s.admin,
            "GET",
            &format!("/api/v1/apps/{a}/{src}/bindings/{b}/{dst}"),
            None,
        )
        .await;
    assert_eq!(st, 404);
}

async fn owners_set_add_list_remove(s: &TestServer) {
    let app = s.create_app("Slack").await;
    let ent = s.create_entitlement(&app, "Workspace admin").await;
    let (u1, _) = s.user_with_token("o1@example.com", &[]).await;
    let (u2, _) = s.user_with_token("o2@example.com", &[]).await;
    s.ok(
        "PUT",
        &format!("/api/v1/apps/{app}/owners"),
        Some(json!({"userIds": [u1]})),
    )
    .await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/owners/{u2}"),
        Some(json!({})),
    )
    .await;
    let ids = s
        .ok("GET", &format!("/api/v1/apps/{app}/ownerids"), None)
        .await;
    assert_eq!(ids["userIds"], json!([u1, u2]));
    let owners = s
        .ok("GET", &format!("/api/v1/apps/{app}/owners"), None)
        .await;
    assert_eq!(owners["list"][1]["email"], "o2@example.com");
    let got = s.ok("GET", &format!("/api/v1/apps/{app}"), None).await;
    assert_eq!(got["app"]["appOwners"].as_array().unwrap().len(), 2);
    s.ok("DELETE", &format!("/api/v1/apps/{app}/owners/{u1}"), None)
        .await;
    assert_eq!(
        s.ok("GET", &format!("/api/v1/apps/{app}/ownerids"), None)
            .await["userIds"],
        json!([u2])
    );
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/owners"),
        Some(json!({"userIds": [u2]})),
    )
    .await;
    assert_eq!(
        s.ok("GET", &format!("/api/v1/apps/{app}/ownerids"), None)
            .await["userIds"],
        json!([])
    );
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{ent}/owners"),
        Some(json!({"userId": u1})),
    )
    .await;
    assert_eq!(
        s.ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/ownerids"),
            None
        )
        .await["userIds"],
        json!([u1])
    );
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/entitlements/{ent}/owners/{u1}"),
        None,
    )
    .await;
    assert_eq!(
        s.ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/ownerids"),
            None
        )
        .await["userIds"],
        json!([])
    );
    let (st, e) = s
        .call(
            &s.admin,
            "PUT",
            &format!("/api/v1/apps/{app}/owners"),
            Some(json!({"userIds": ["3MV0DLUQOyrZmA9Xss3inUGgEzG"]})),
        )
        .await;
    assert_eq!(st, 404, "unknown users cannot own: {e}");
}

async fn resource_types_and_resources(s: &TestServer) {
    let app = s.create_app("Jira").await;
    let v = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/resource_types"),
            Some(json!({"displayName": "Project", "resourceType": "PROJECT"})),
        )
        .await;
    let rt = v["appResourceType"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["appResourceType"]["traitIds"], json!(["TRAIT_PROJECT"]));
    let v = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/resource_types/{rt}/resources"),
            Some(json!({"displayName": "INFRA", "description": "infra"})),
        )
        .await;
    let r = v["appResource"]["id"].as_str().unwrap().to_string();
    let v = s.ok("POST", &format!("/api/v1/apps/{app}/resource_types/{rt}/resources/{r}"), Some(json!({"appResource": {"displayName": "Infrastructure"}, "updateMask": "displayName"}))).await;
    assert_eq!(
        v["appResourceView"]["appResource"]["displayName"],
        "Infrastructure"
    );
    let list = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/resource_types/{rt}/resources"),
            None,
        )
        .await;
    assert_eq!(list["list"].as_array().unwrap().len(), 1);
    let e = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/entitlements"),
            Some(json!({"displayName": "Admin", "appResourceTypeId": rt, "appResourceId": r})),
        )
        .await;
    let ent = e["appEntitlementView"]["appEntitlement"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let on_res = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/resource_types/{rt}/resources/{r}"),
            None,
        )
        .await;
    assert_eq!(on_res["list"][0]["appEntitlement"]["id"], ent.as_str());
    let (st, _) = s
        .call(
            &s.admin,
            "DELETE",
            &format!("/api/v1/apps/{app}/resource_types/{rt}"),
            None,
        )
        .await;
    assert_eq!(st, 400, "a type with resources cannot be deleted");
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/resource_types/{rt}/resources/{r}"),
        None,
    )
    .await;
    let (st, _) = s
        .call(
            &s.admin,
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}"),
            None,
        )
        .await;
    assert_eq!(st, 404, "a deleted resource takes its entitlements with it");
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/resource_types/{rt}"),
        None,
    )
    .await;
    let types = s
        .ok("GET", &format!("/api/v1/apps/{app}/resource_types"), None)
        .await;
    assert!(types["list"].as_array().unwrap().is_empty());
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/resource_types"),
            Some(json!({"displayName": "X", "resourceType": "SPACESHIP"})),
        )
        .await;
    assert_eq!(st, 400);
}

async fn app_users_link_to_users(s: &TestServer) {
    let app = s.create_app("Zoom").await;
    let ent = s.create_entitlement(&app, "Licensed").await;
    let (uid, _) = s.user_with_token("carol@example.com", &[]).await;
    let (other, _) = s.user_with_token("dave@example.com", &[]).await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{ent}/add-manual-user"),
        Some(json!({"userIds": [uid]})),
    )
    .await;
    let accounts = s
        .ok("GET", &format!("/api/v1/apps/{app}/app_users"), None)
        .await;
    let au = accounts["list"][0]["appUser"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = s
        .ok("POST", &format!("/api/v1/apps/{app}/app_users/{au}"), Some(json!({"appUser": {"identityUserId": other, "appUserType": "APP_USER_TYPE_SERVICE_ACCOUNT"}, "updateMask": "identityUserId,appUserType", "expandMask": {"paths": ["identity_user_id"]}})))
        .await;
    assert_eq!(
        v["appUserView"]["appUser"]["identityUserId"],
        other.as_str()
    );
    assert_eq!(v["expanded"][0]["email"], "dave@example.com");
    let mine = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/users/{other}/app_users"),
            None,
        )
        .await;
    assert_eq!(mine["list"].as_array().unwrap().len(), 1);
    let found = s
        .ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app, "query": "CAROL"})),
        )
        .await;
    assert_eq!(found["list"].as_array().unwrap().len(), 1);
    let (st, _) = s.call(&s.admin, "POST", &format!("/api/v1/apps/{app}/app_users/{au}"), Some(json!({"appUser": {"identityUserId": "3MV0DLUQOyrZmA9Xss3inUGgEzG"}, "updateMask": "identityUserId"}))).await;
    assert_eq!(st, 404, "linking to a missing user is refused");
}

async fn settings_round_trip(s: &TestServer) {
    let app = s.create_app("Box").await;
    let v = s
        .ok("GET", &format!("/api/v1/apps/{app}/usage_controls"), None)
        .await;
    assert_eq!(v["appUsageControls"]["notify"], false);
    let v = s.ok("POST", &format!("/api/v1/apps/{app}/usage_controls"), Some(json!({"appUsageControls": {"notify": true, "notifyAfterDays": 30, "revoke": true, "revokeAfterDays": 60}}))).await;
    assert_eq!(v["appUsageControls"]["revokeAfterDays"], 60);
    let (st, _) = s.call(&s.admin, "POST", &format!("/api/v1/apps/{app}/usage_controls"), Some(json!({"appUsageControls": {"revoke": true, "revokeAfterDays": 10}, "updateMask": "revokeAfterDays"}))).await;
    assert_eq!(st, 400, "revoking before warning is refused");
    let v = s.ok("POST", &format!("/api/v1/apps/{app}/access_request_defaults"), Some(json!({"defaultsEnabled": true, "durationGrant": "86400s", "emergencyGrantEnabled": true}))).await;
    assert_eq!(
        v["state"],
        "APP_ACCESS_REQUEST_DEFAULTS_LAST_APPLY_STATE_SUCCESS"
    );
    let v = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/access_request_defaults"),
            None,
        )
        .await;
    assert_eq!(v["durationGrant"], "86400s");
    let v = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/access_request_defaults/cancel"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        v["state"],
        "APP_ACCESS_REQUEST_DEFAULTS_LAST_APPLY_STATE_CANCEL_SUCCESS"
    );
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/access_request_defaults"),
            Some(json!({"durationGrant": "1 day"})),
        )
        .await;
    assert_eq!(st, 400);
}

async fn users_and_search(s: &TestServer) {
    let (uid, _) = s
        .user_with_token("erin@example.com", &["read-only-admin"])
        .await;
    let v = s.ok("GET", &format!("/api/v1/users/{uid}"), None).await;
    assert_eq!(v["userView"]["user"]["email"], "erin@example.com");
    assert_eq!(v["userView"]["user"]["roleIds"], json!(["read-only-admin"]));
    let all = s.ok("GET", "/api/v1/users", None).await;
    assert_eq!(all["list"].as_array().unwrap().len(), 2);
    let found = s
        .ok(
            "POST",
            "/api/v1/search/users",
            Some(json!({"email": "ERIN@example.com"})),
        )
        .await;
    assert_eq!(found["list"][0]["user"]["id"], uid.as_str());
    let found = s
        .ok(
            "POST",
            "/api/v1/search/users",
            Some(json!({"roleIds": ["read-only-admin"]})),
        )
        .await;
    assert_eq!(found["list"].as_array().unwrap().len(), 1);
    let app = s.create_app("Notion").await;
    s.create_app("Figma").await;
    let found = s
        .ok(
            "POST",
            "/api/v1/search/apps",
            Some(json!({"query": "noti"})),
        )
        .await;
    assert_eq!(found["list"].as_array().unwrap().len(), 1);
    s.create_entitlement(&app, "Editors").await;
    let found = s
        .ok(
            "POST",
            "/api/v1/search/entitlements",
            Some(json!({"query": "edit", "expandMask": {"paths": ["app_id"]}})),
        )
        .await;
    assert_eq!(found["list"][0]["appPath"], "$.expanded[0]");
    assert_eq!(found["expanded"][0]["displayName"], "Notion");
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/search/entitlements",
            Some(json!({"riskLevelIds": ["x"]})),
        )
        .await;
    assert_eq!(st, 501, "unimplemented filters are refused by name: {e}");
    assert!(e["message"].as_str().unwrap().contains("riskLevelIds"));
}

async fn system_log_records_changes_with_actor(s: &TestServer) {
    let app = s.create_app("Salesforce").await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}"),
        Some(json!({"app": {"displayName": "SFDC"}, "updateMask": "displayName"})),
    )
    .await;
    let v = s
        .ok(
            "POST",
            "/api/v1/systemlog/events",
            Some(json!({"objectId": app})),
        )
        .await;
    let list = v["list"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    assert_eq!(list[0]["activity_name"], "Create");
    assert_eq!(list[1]["activity_name"], "Update");
    assert_eq!(list[1]["entity"]["data"]["displayName"], "Salesforce");
    assert_eq!(list[1]["entity_result"]["data"]["displayName"], "SFDC");
    assert_eq!(list[1]["actor"]["user"]["uid"], s.admin_user_id.as_str());
    let desc = s
        .ok(
            "POST",
            "/api/v1/systemlog/events",
            Some(json!({"objectId": app, "sortDirection": "SORT_DIRECTION_DESC"})),
        )
        .await;
    assert_eq!(desc["list"][0]["activity_name"], "Update");
    let by_actor = s
        .ok(
            "POST",
            "/api/v1/systemlog/events",
            Some(json!({"actorUserId": s.admin_user_id, "pageSize": 100})),
        )
        .await;
    assert!(by_actor["list"].as_array().unwrap().len() >= 2);
}

async fn bad_input_is_refused_and_changes_nothing(s: &TestServer) {
    let app = s.create_app("Target").await;
    let before = s.event_count().await;
    let cases: Vec<(&str, String, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/apps".into(),
            b"{\"displayName\": ".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/api/v1/apps".into(),
            br#"{"displayName":"a","colour":"red"}"#.to_vec(),
            400,
            "colour",
        ),
        (
            "POST",
            "/api/v1/apps".into(),
            br#"{"displayName":42}"#.to_vec(),
            400,
            "displayName",
        ),
        (
            "POST",
            "/api/v1/apps".into(),
            br#"{"displayName":"a","identityMatching":"FUZZY"}"#.to_vec(),
            400,
            "APP_USER_IDENTITY_MATCHING_STRICT",
        ),
        (
            "POST",
            "/api/v1/apps".into(),
            br#"{"description":"no name"}"#.to_vec(),
            400,
            "displayName is required",
        ),
        (
            "POST",
            "/api/v1/apps".into(),
            br#"{"displayName":"a","annotations":{"c1/x":"y"}}"#.to_vec(),
            400,
            "reserved",
        ),
        (
            "POST",
            format!("/api/v1/apps/{app}/entitlements"),
            br#"{"displayName":"a","durationGrant":"forever"}"#.to_vec(),
            400,
            "duration",
        ),
        (
            "POST",
            format!("/api/v1/apps/{app}/entitlements"),
            br#"{"displayName":"a","appResourceTypeId":"nope"}"#.to_vec(),
            404,
            "nope",
        ),
        (
            "POST",
            "/api/v1/apps/not..an..id/entitlements".into(),
            br#"{"displayName":"a"}"#.to_vec(),
            400,
            "not a valid id",
        ),
        (
            "POST",
            format!("/api/v1/apps/{app}/entitlements/3MV0DLUQOyrZmA9Xss3inUGgEzG/add-manual-user"),
            br#"{"userIds":["x"]}"#.to_vec(),
            404,
            "app entitlement",
        ),
        (
            "POST",
            "/api/v1/search/grants".into(),
            br#"{"pageSize":"many"}"#.to_vec(),
            400,
            "pageSize",
        ),
        (
            "POST",
            "/api/v1/search/apps".into(),
            br#"{"pageToken":"zzz"}"#.to_vec(),
            400,
            "page_token",
        ),
        (
            "POST",
            format!("/api/v1/apps/{app}"),
            br#"{"app":{"displayName":"x"},"updateMask":"isDirectory"}"#.to_vec(),
            400,
            "isDirectory",
        ),
        (
            "POST",
            format!("/api/v1/apps/{app}"),
            br#"{"updateMask":"displayName"}"#.to_vec(),
            400,
            "`app` is required",
        ),
    ];
    for (m, path, body, status, needle) in cases {
        let (st, e) = s.raw(m, &path, body.clone()).await;
        assert_eq!(
            st,
            status,
            "{m} {path} {}: {e}",
            String::from_utf8_lossy(&body)
        );
        let msg = e["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "{m} {path}: message `{msg}` should mention `{needle}`"
        );
        assert!(msg.contains("request-id:"), "errors carry the request id");
        assert_eq!(e["details"], json!([]));
    }
    // add-manual-user with one bad id among good ones changes nothing.
    let ent = s.create_entitlement(&app, "E").await;
    let before2 = s.event_count().await;
    let (uid, _) = s.user_with_token("ok@example.com", &[]).await;
    let after_user = s.event_count().await;
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/add-manual-user"),
            Some(json!({"userIds": [uid, "3MV0DLUQOyrZmA9Xss3inUGgEzG"]})),
        )
        .await;
    assert_eq!(st, 404);
    assert_eq!(s.event_count().await, after_user, "nothing half-applied");
    assert!(s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/users"),
            None
        )
        .await["list"]
        .as_array()
        .unwrap()
        .is_empty());
    // A 50 MB body is refused before it is read.
    let (st, e) = s.oversized_post("/api/v1/apps", 50 * 1024 * 1024).await;
    assert_eq!(st, 413, "{e}");
    assert!(e["message"].as_str().unwrap().contains("limit"), "{e}");
    let _ = before2;
    assert_eq!(s.event_count().await - after_user, 0);
    // Unknown endpoint: 404 in the API error shape.
    let (st, e) = s.call(&s.admin, "GET", "/api/v1/nothing-here", None).await;
    assert_eq!(st, 404);
    assert_eq!(e["code"], 5);
    assert!(before <= s.event_count().await);
}

async fn roles_are_enforced(s: &TestServer) {
    let app = s.create_app("Owned").await;
    let other = s.create_app("NotOwned").await;
    let (_, ro) = s
        .user_with_token("ro@example.com", &["read-only-admin"])
        .await;
    let (aa_id, aa) = s.user_with_token("aa@example.com", &["app-admin"]).await;
    let (basic_id, basic) = s
        .user_with_token("basic@example.com", &["basic-user"])
        .await;
    s.ok(
        "PUT",
        &format!("/api/v1/apps/{app}/owners"),
        Some(json!({"userIds": [aa_id]})),
    )
    .await;
    let before = s.event_count().await;
    // Read-only admin reads but cannot change.
    assert_eq!(s.call(&ro, "GET", "/api/v1/apps", None).await.0, 200);
    let (st, e) = s
        .call(
            &ro,
            "POST",
            "/api/v1/apps",
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    assert_eq!(e["code"], 7);
    assert_eq!(
        s.call(
            &ro,
            "POST",
            &format!("/api/v1/apps/{app}/entitlements"),
            Some(json!({"displayName": "x"}))
        )
        .await
        .0,
        403
    );
    // App admin changes the app they own, not another, and cannot create apps.
    assert_eq!(
        s.call(
            &aa,
            "POST",
            &format!("/api/v1/apps/{app}/entitlements"),
            Some(json!({"displayName": "ok"}))
        )
        .await
        .0,
        200
    );
    let (st, e) = s
        .call(
            &aa,
            "POST",
            &format!("/api/v1/apps/{other}/entitlements"),
            Some(json!({"displayName": "no"})),
        )
        .await;
    assert_eq!(st, 403);
    assert!(e["message"].as_str().unwrap().contains("own"));
    assert_eq!(
        s.call(
            &aa,
            "POST",
            "/api/v1/apps",
            Some(json!({"displayName": "x"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        s.call(&aa, "DELETE", &format!("/api/v1/apps/{app}"), None)
            .await
            .0,
        403
    );
    // Basic user: only themselves.
    assert_eq!(s.call(&basic, "GET", "/api/v1/apps", None).await.0, 403);
    assert_eq!(
        s.call(&basic, "GET", &format!("/api/v1/users/{basic_id}"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        s.call(&basic, "GET", &format!("/api/v1/users/{aa_id}"), None)
            .await
            .0,
        403
    );
    assert_eq!(
        s.call(&basic, "POST", "/api/v1/systemlog/events", Some(json!({})))
            .await
            .0,
        403
    );
    assert_eq!(
        s.call(
            &basic,
            "POST",
            "/api/v1/search/grants",
            Some(json!({"userId": basic_id}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.call(
            &basic,
            "POST",
            "/api/v1/search/grants",
            Some(json!({"userId": aa_id}))
        )
        .await
        .0,
        403
    );
    // Exactly one change was made (the app admin's entitlement) plus nothing from refusals.
    assert_eq!(s.event_count().await - before, 1);
    // No token at all.
    let (st, e) = s.call("", "GET", "/api/v1/apps", None).await;
    assert_eq!(st, 401);
    assert_eq!(e["code"], 16);
}

async fn tokens_and_assertions(s: &TestServer) {
    use chamberlain_auth::{client_secret, jws};
    let (_, cid, secret) = s
        .user_with_client("svc@example.com", &["read-only-admin"])
        .await;
    // Signed assertion, as C1's SDKs do it.
    let key = client_secret::parse_secret(&secret).unwrap();
    let now = chamberlain_model::Timestamp::now().unix_seconds();
    let host = s.host.split(':').next().unwrap().to_string();
    let claims = json!({"iss": cid, "sub": cid, "aud": host, "iat": now, "nbf": now - 120, "exp": now + 120, "jti": "n1"});
    let assertion = jws::sign(&key, None, &claims);
    let form = |a: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), cid.clone()),
            (
                "client_assertion_type".to_string(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion".to_string(), a.to_string()),
        ]
    };
    let resp = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .form(&form(&assertion))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(s.call(&token, "GET", "/api/v1/apps", None).await.0, 200);
    // An assertion signed with another key is refused.
    let other = client_secret::parse_secret(&client_secret::mint("h", "pcc").secret).unwrap();
    let forged = jws::sign(&other, None, &claims);
    let resp = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .form(&form(&forged))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // Long-lived and expired assertions are refused.
    let long = jws::sign(
        &key,
        None,
        &json!({"iss": cid, "sub": cid, "aud": host, "exp": now + 3600}),
    );
    assert_eq!(
        s.http
            .post(format!("{}/auth/v1/token", s.base))
            .form(&form(&long))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let old = jws::sign(
        &key,
        None,
        &json!({"iss": cid, "sub": cid, "aud": host, "exp": now - 600}),
    );
    assert_eq!(
        s.http
            .post(format!("{}/auth/v1/token", s.base))
            .form(&form(&old))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Wrong secret, unknown client, unsupported grant.
    let wrong = client_secret::mint("h", "pcc").secret;
    let resp = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", cid.as_str()),
            ("client_secret", wrong.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .form(&[("grant_type", "password"), ("client_id", cid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Forged access tokens: signed by another key, or tampered.
    let forged_token = jws::sign(
        &other,
        Some("k1"),
        &json!({"iss": s.base, "sub": "x", "client_id": cid, "iat": now, "exp": now + 600, "jti": "j"}),
    );
    let (st, e) = s.call(&forged_token, "GET", "/api/v1/apps", None).await;
    assert_eq!(st, 401, "{e}");
    let (st, _) = s
        .call(&format!("{token}x"), "GET", "/api/v1/apps", None)
        .await;
    assert_eq!(st, 401);
    // Personal clients: create, use, revoke; revocation applies to tokens already issued.
    let v = s
        .ok(
            "POST",
            "/api/v1/iam/personal_clients",
            Some(json!({"displayName": "laptop", "expires": "3600s"})),
        )
        .await;
    let pc_id = v["client"]["id"].as_str().unwrap().to_string();
    let pc_client = v["client"]["clientId"].as_str().unwrap().to_string();
    let pc_secret = v["clientSecret"].as_str().unwrap().to_string();
    assert!(v["client"]["expiresTime"].is_string());
    let listed = s.ok("GET", "/api/v1/iam/personal_clients", None).await;
    assert!(
        !listed.to_string().contains(&pc_secret),
        "the secret is never shown again"
    );
    let pc_token = s.token_with_secret(&pc_client, &pc_secret).await;
    let me = s
        .call(&pc_token, "GET", "/api/v1/auth/introspect", None)
        .await
        .1;
    assert_eq!(me["userId"], s.admin_user_id.as_str());
    assert_eq!(me["roles"], json!(["super-admin"]));
    s.ok(
        "DELETE",
        &format!("/api/v1/iam/personal_clients/{pc_id}"),
        None,
    )
    .await;
    let (st, _) = s.call(&pc_token, "GET", "/api/v1/apps", None).await;
    assert_eq!(st, 401, "a revoked client's tokens stop working at once");
    // Key set and metadata.
    let jwks: Value = s
        .http
        .get(format!("{}/auth/v1/jwks", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(
        !jwks.to_string().contains("\"d\""),
        "private key material is never published"
    );
}

#[tokio::test]
async fn served_operations_exist_in_the_reference_spec() {
    let reference = include_str!("../data/c1-openapi-operations.txt");
    let known: std::collections::HashSet<(String, String, String)> = reference
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let op = parts
                .iter()
                .rev()
                .find(|p| p.starts_with("c1."))
                .copied()
                .unwrap_or_default();
            (parts[0].to_string(), parts[1].to_string(), op.to_string())
        })
        .collect();
    let doc = chamberlain_api::openapi::document("http://x");
    let mut served = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_string();
            if op["x-chamberlain-extension"] == json!(true) {
                assert!(
                    id.starts_with("chamberlain."),
                    "extensions use Chamberlain's own operationIds: {id}"
                );
                continue;
            }
            assert!(
                known.contains(&(method.to_uppercase(), path.clone(), id.clone())),
                "{} {path} {id} is not in the C1 reference spec",
                method.to_uppercase()
            );
            served += 1;
        }
    }
    assert!(served >= 70, "only {served} operations served");
    let app = &doc["components"]["schemas"]["c1.api.app.v1.App"]["properties"];
    assert_eq!(
        app["userCount"]["type"], "string",
        "int64 is a string in protojson"
    );
    assert_eq!(app["displayName"]["type"], "string");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints() {
    let s = TestServer::start(harness::Db::Sqlite).await;
    for p in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
        let r = s.http.get(format!("{}{p}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
        assert!(r.headers().contains_key("x-request-id"));
    }
    s.create_app("m").await;
    let metrics = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("chamberlain_http_requests_total{method=\"POST\",route=\"/api/v1/apps\",status=\"200\"} 1"), "{metrics}");
    let r = s
        .http
        .get(format!("{}/api/v1/apps", s.base))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-123");
    assert!(r.text().await.unwrap().contains("(request-id: trace-123)"));
    s.finish().await;
}
