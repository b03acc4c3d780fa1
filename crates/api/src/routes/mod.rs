//! The route table: every C1 operation Chamberlain serves, with the reference spec's method,
//! path, operationId and schema names. The router and the OpenAPI document are both built from
//! this one table, so they cannot disagree.

pub mod ai_governance;
pub mod app_users;
pub mod apps;
pub mod bindings;
pub mod catalogs;
pub mod common;
pub mod connectors;
pub mod directories;
pub mod entitlement_rules;
pub mod entitlements;
pub mod external_clients;
pub mod iam;
pub mod mcp;
pub mod mcp_tools;
pub mod notifications;
pub mod ops;
pub mod owners;
pub mod policies;
pub mod requestable;
pub mod resources;
pub mod search;
pub mod settings;
pub mod systemlog;
pub mod tasks;
pub mod token;
pub mod users;
pub mod webhooks;

use crate::state::Shared;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

/// One served operation.
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path as in the reference spec, with its parameter names.
    pub path: &'static str,
    /// The reference spec's operationId.
    pub operation_id: &'static str,
    /// The reference spec's tag.
    pub tag: &'static str,
    /// Request body schema name, if the operation has a body.
    pub request: Option<&'static str>,
    /// Response schema name.
    pub response: &'static str,
    /// The handler.
    pub handler: MethodRouter<Shared>,
    /// A Chamberlain addition that C1's spec does not have (documented in the README).
    pub extension: bool,
}

impl Route {
    /// The path for the router: parameters renamed by position (`{p0}`, `{p1}`…), because C1
    /// uses different names for the same position (`{id}`, `{app_id}`, `{src_app_id}`), which
    /// the router would treat as conflicting. Handlers read parameters positionally.
    pub fn axum_path(&self) -> String {
        let mut out = String::new();
        let mut n = 0;
        let mut in_param = false;
        for c in self.path.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push_str(&format!("{{p{n}}}"));
                    n += 1;
                }
                '}' => in_param = false,
                _ if in_param => {}
                _ => out.push(c),
            }
        }
        out
    }
}

macro_rules! route {
    ($m:ident $path:literal $op:literal [$tag:literal] $req:expr => $resp:literal, $h:expr) => {
        Route {
            method: stringify!($m),
            path: $path,
            operation_id: $op,
            tag: $tag,
            request: $req,
            response: $resp,
            handler: on(filter(stringify!($m)), $h),
            extension: false,
        }
    };
    (ext $m:ident $path:literal $op:literal [$tag:literal] $req:expr => $resp:literal, $h:expr) => {
        Route { extension: true, ..route!($m $path $op [$tag] $req => $resp, $h) }
    };
}

fn filter(m: &str) -> MethodFilter {
    match m {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "DELETE" => MethodFilter::DELETE,
        _ => MethodFilter::PATCH,
    }
}

const NONE: Option<&str> = None;

/// Every authenticated `/api/v1` operation.
pub fn table() -> Vec<Route> {
    use app_users as au;
    use catalogs as cat;
    use entitlements as ent;
    use resources as res;
    vec![
        // Apps
        route!(GET "/api/v1/apps" "c1.api.app.v1.Apps.List" ["App"] NONE => "c1.api.app.v1.ListAppsResponse", apps::list),
        route!(POST "/api/v1/apps" "c1.api.app.v1.Apps.Create" ["App"] Some("c1.api.app.v1.CreateAppRequest") => "c1.api.app.v1.CreateAppResponse", apps::create),
        route!(GET "/api/v1/apps/{id}" "c1.api.app.v1.Apps.Get" ["App"] NONE => "c1.api.app.v1.GetAppResponse", apps::get),
        route!(POST "/api/v1/apps/{id}" "c1.api.app.v1.Apps.Update" ["App"] Some("c1.api.app.v1.UpdateAppRequestInput") => "c1.api.app.v1.UpdateAppResponse", apps::update),
        route!(DELETE "/api/v1/apps/{id}" "c1.api.app.v1.Apps.Delete" ["App"] Some("c1.api.app.v1.DeleteAppRequestInput") => "c1.api.app.v1.DeleteAppResponse", apps::delete),
        route!(POST "/api/v1/search/apps" "c1.api.app.v1.AppSearch.Search" ["App"] Some("c1.api.app.v1.SearchAppsRequest") => "c1.api.app.v1.SearchAppsResponse", search::apps),
        // Resource types and resources
        route!(GET "/api/v1/apps/{app_id}/resource_types" "c1.api.app.v1.AppResourceTypeService.List" ["App Resource Type"] NONE => "c1.api.app.v1.AppResourceTypeServiceListResponse", res::list_types),
        route!(POST "/api/v1/apps/{app_id}/resource_types" "c1.api.app.v1.AppResourceTypeService.CreateManuallyManagedResourceType" ["App Resource Type"] Some("c1.api.app.v1.CreateManuallyManagedResourceTypeRequestInput") => "c1.api.app.v1.CreateManuallyManagedResourceTypeResponse", res::create_type),
        route!(GET "/api/v1/apps/{app_id}/resource_types/{id}" "c1.api.app.v1.AppResourceTypeService.Get" ["App Resource Type"] NONE => "c1.api.app.v1.AppResourceTypeServiceGetResponse", res::get_type),
        route!(POST "/api/v1/apps/{app_id}/resource_types/{id}" "c1.api.app.v1.AppResourceTypeService.UpdateManuallyManagedResourceType" ["App Resource Type"] Some("c1.api.app.v1.UpdateManuallyManagedResourceTypeRequestInput") => "c1.api.app.v1.UpdateManuallyManagedResourceTypeResponse", res::update_type),
        route!(DELETE "/api/v1/apps/{app_id}/resource_types/{id}" "c1.api.app.v1.AppResourceTypeService.DeleteManuallyManagedResourceType" ["App Resource Type"] Some("c1.api.app.v1.DeleteManuallyManagedResourceTypeRequestInput") => "c1.api.app.v1.DeleteManuallyManagedResourceTypeResponse", res::delete_type),
        route!(GET "/api/v1/apps/{app_id}/resource_types/{app_resource_type_id}/resources" "c1.api.app.v1.AppResourceService.List" ["App Resource"] NONE => "c1.api.app.v1.AppResourceServiceListResponse", res::list_resources),
        route!(POST "/api/v1/apps/{app_id}/resource_types/{app_resource_type_id}/resources" "c1.api.app.v1.AppResourceService.CreateManuallyManagedAppResource" ["App Resource"] Some("c1.api.app.v1.CreateManuallyManagedAppResourceRequestInput") => "c1.api.app.v1.CreateManuallyManagedAppResourceResponse", res::create_resource),
        route!(GET "/api/v1/apps/{app_id}/resource_types/{app_resource_type_id}/resources/{id}" "c1.api.app.v1.AppResourceService.Get" ["App Resource"] NONE => "c1.api.app.v1.AppResourceServiceGetResponse", res::get_resource),
        route!(POST "/api/v1/apps/{app_id}/resource_types/{app_resource_type_id}/resources/{id}" "c1.api.app.v1.AppResourceService.Update" ["App Resource"] Some("c1.api.app.v1.AppResourceServiceUpdateRequestInput") => "c1.api.app.v1.AppResourceServiceUpdateResponse", res::update_resource),
        route!(DELETE "/api/v1/apps/{app_id}/resource_types/{app_resource_type_id}/resources/{id}" "c1.api.app.v1.AppResourceService.DeleteManuallyManagedAppResource" ["App Resource"] Some("c1.api.app.v1.DeleteManuallyManagedAppResourceRequestInput") => "c1.api.app.v1.DeleteManuallyManagedAppResourceResponse", res::delete_resource),
        // Entitlements
        route!(GET "/api/v1/apps/{app_id}/entitlements" "c1.api.app.v1.AppEntitlements.List" ["App Entitlement"] NONE => "c1.api.app.v1.ListAppEntitlementsResponse", ent::list),
        route!(POST "/api/v1/apps/{app_id}/entitlements" "c1.api.app.v1.AppEntitlements.Create" ["App Entitlement"] Some("c1.api.app.v1.CreateAppEntitlementRequestInput") => "c1.api.app.v1.CreateAppEntitlementResponse", ent::create),
        route!(GET "/api/v1/apps/{app_id}/entitlements/{id}" "c1.api.app.v1.AppEntitlements.Get" ["App Entitlement"] NONE => "c1.api.app.v1.GetAppEntitlementResponse", ent::get),
        route!(POST "/api/v1/apps/{app_id}/entitlements/{id}" "c1.api.app.v1.AppEntitlements.Update" ["App Entitlement"] Some("c1.api.app.v1.UpdateAppEntitlementRequestInput") => "c1.api.app.v1.UpdateAppEntitlementResponse", ent::update),
        route!(DELETE "/api/v1/apps/{app_id}/entitlements/{id}" "c1.api.app.v1.AppEntitlements.Delete" ["App Entitlement"] Some("c1.api.app.v1.DeleteAppEntitlementRequestInput") => "c1.api.app.v1.DeleteAppEntitlementResponse", ent::delete),
        route!(POST "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/add-manual-user" "c1.api.app.v1.AppEntitlements.AddManuallyManagedMembers" ["App Entitlement"] Some("c1.api.app.v1.AddManuallyManagedUsersRequestInput") => "c1.api.app.v1.ManuallyManagedUsersResponse", ent::add_manual_users),
        route!(DELETE "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/remove-membership" "c1.api.app.v1.AppEntitlements.RemoveEntitlementMembership" ["App Entitlement"] Some("c1.api.app.v1.RemoveEntitlementMembershipRequestInput") => "c1.api.app.v1.RemoveEntitlementMembershipResponse", ent::remove_membership),
        route!(GET "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/users" "c1.api.app.v1.AppEntitlements.ListUsers" ["App Entitlement"] NONE => "c1.api.app.v1.ListAppEntitlementUsersResponse", ent::list_users),
        route!(GET "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/grants" "c1.api.app.v1.AppEntitlementSearchService.SearchAppEntitlementsWithExpired" ["App Entitlement"] NONE => "c1.api.app.v1.SearchAppEntitlementsWithExpiredResponse", ent::list_grants_with_expired),
        route!(POST "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/users/{app_user_id}/update-grant-duration" "c1.api.app.v1.AppEntitlementUserBindingService.UpdateGrantDuration" ["App Entitlement User Binding"] Some("c1.api.app.v1.UpdateGrantDurationRequestInput") => "c1.api.app.v1.UpdateGrantDurationResponse", ent::update_grant_duration),
        route!(POST "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/users/{app_user_id}/remove-grant-duration" "c1.api.app.v1.AppEntitlementUserBindingService.RemoveGrantDuration" ["App Entitlement User Binding"] Some("c1.api.app.v1.RemoveGrantDurationRequestInput") => "c1.api.app.v1.RemoveGrantDurationResponse", ent::remove_grant_duration),
        route!(GET "/api/v1/apps/{app_id}/entitlements/users/{app_user_id}" "c1.api.app.v1.AppEntitlements.ListForAppUser" ["App Entitlement"] NONE => "c1.api.app.v1.ListAppEntitlementsResponse", ent::list_for_app_user),
        route!(GET "/api/v1/search/apps/{app_id}/entitlements/users/{app_user_id}" "c1.api.app.v1.AppEntitlementSearchService.SearchAppEntitlementsForAppUser" ["App Entitlement"] NONE => "c1.api.app.v1.ListAppEntitlementsResponse", ent::list_for_app_user),
        route!(GET "/api/v1/apps/{app_id}/entitlements/resource_types/{app_resource_type_id}/resources/{app_resource_id}" "c1.api.app.v1.AppEntitlements.ListForAppResource" ["App Entitlement"] NONE => "c1.api.app.v1.ListAppEntitlementsResponse", ent::list_for_resource),
        route!(POST "/api/v1/search/entitlements" "c1.api.app.v1.AppEntitlementSearchService.Search" ["App Entitlement"] Some("c1.api.app.v1.AppEntitlementSearchServiceSearchRequest") => "c1.api.app.v1.AppEntitlementSearchServiceSearchResponse", search::entitlements),
        route!(POST "/api/v1/search/request_catalog/entitlements" "c1.api.requestcatalog.v1.RequestCatalogSearchService.SearchEntitlements" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogSearchServiceSearchEntitlementsRequest") => "c1.api.requestcatalog.v1.RequestCatalogSearchServiceSearchEntitlementsResponse", requestable::search_entitlements),
        route!(POST "/api/v1/search/grants" "c1.api.app.v1.AppEntitlementSearchService.SearchGrants" ["App Entitlement"] Some("c1.api.app.v1.AppEntitlementSearchServiceSearchGrantsRequest") => "c1.api.app.v1.AppEntitlementSearchServiceSearchGrantsResponse", search::grants),
        // AI access management: MCP servers, tools, toolsets (the gateway itself is /mcp)
        route!(GET "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools" "c1.api.ai_governance.v1.MCPToolService.List" ["MCP Tools"] NONE => "c1.api.ai_governance.v1.MCPToolServiceListResponse", mcp_tools::list_tools),
        route!(DELETE "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools/{id}" "c1.api.ai_governance.v1.MCPToolService.Delete" ["MCP Tools"] Some("c1.api.ai_governance.v1.MCPToolServiceDeleteRequestInput") => "c1.api.ai_governance.v1.MCPToolServiceDeleteResponse", mcp_tools::delete_tool),
        route!(GET "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools/{id}" "c1.api.ai_governance.v1.MCPToolService.Get" ["MCP Tools"] NONE => "c1.api.ai_governance.v1.MCPToolServiceGetResponse", mcp_tools::get_tool),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools/{id}" "c1.api.ai_governance.v1.MCPToolService.Update" ["MCP Tools"] Some("c1.api.ai_governance.v1.MCPToolServiceUpdateRequestInput") => "c1.api.ai_governance.v1.MCPToolServiceUpdateResponse", mcp_tools::update_tool),
        route!(GET "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools/{id}/history" "c1.api.ai_governance.v1.MCPToolService.ListHistory" ["MCP Tools"] NONE => "c1.api.ai_governance.v1.MCPToolServiceListHistoryResponse", mcp_tools::tool_history),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools/search" "c1.api.ai_governance.v1.MCPToolService.Search" ["MCP Tools"] Some("c1.api.ai_governance.v1.MCPToolServiceSearchRequestInput") => "c1.api.ai_governance.v1.MCPToolServiceSearchResponse", mcp_tools::search_tools),
        route!(GET "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_toolsets" "c1.api.ai_governance.v1.MCPAccessProfileService.List" ["MCP Toolsets"] NONE => "c1.api.ai_governance.v1.MCPAccessProfileServiceListResponse", mcp_tools::list_toolsets),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_toolsets" "c1.api.ai_governance.v1.MCPAccessProfileService.Create" ["MCP Toolsets"] Some("c1.api.ai_governance.v1.MCPAccessProfileServiceCreateRequestInput") => "c1.api.ai_governance.v1.MCPAccessProfileServiceCreateResponse", mcp_tools::create_toolset),
        route!(GET "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_toolsets/{access_profile_id}/tool_bindings" "c1.api.ai_governance.v1.MCPAccessProfileToolBindingService.List" ["MCP Toolsets"] NONE => "c1.api.ai_governance.v1.MCPAccessProfileToolBindingServiceListResponse", mcp_tools::list_bindings),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_toolsets/{access_profile_id}/tool_bindings" "c1.api.ai_governance.v1.MCPAccessProfileToolBindingService.CreateBindings" ["MCP Toolsets"] Some("c1.api.ai_governance.v1.MCPAccessProfileToolBindingServiceCreateRequestInput") => "c1.api.ai_governance.v1.MCPAccessProfileToolBindingServiceCreateResponse", mcp_tools::create_bindings),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_toolsets/{access_profile_id}/tool_bindings/delete" "c1.api.ai_governance.v1.MCPAccessProfileToolBindingService.DeleteBindings" ["MCP Toolsets"] Some("c1.api.ai_governance.v1.MCPAccessProfileToolBindingServiceDeleteRequestInput") => "c1.api.ai_governance.v1.MCPAccessProfileToolBindingServiceDeleteResponse", mcp_tools::delete_bindings),
        route!(GET "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_toolsets/{access_profile_id}/tool_bindings/history" "c1.api.ai_governance.v1.MCPAccessProfileToolBindingService.ListToolsByProfileHistory" ["MCP Toolsets"] NONE => "c1.api.ai_governance.v1.MCPAccessProfileToolBindingServiceListToolsByProfileHistoryResponse", mcp_tools::toolset_binding_history),
        route!(DELETE "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_toolsets/{id}" "c1.api.ai_governance.v1.MCPAccessProfileService.Delete" ["MCP Toolsets"] Some("c1.api.ai_governance.v1.MCPAccessProfileServiceDeleteRequestInput") => "c1.api.ai_governance.v1.MCPAccessProfileServiceDeleteResponse", mcp_tools::delete_toolset),
        route!(GET "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_toolsets/{id}" "c1.api.ai_governance.v1.MCPAccessProfileService.Get" ["MCP Toolsets"] NONE => "c1.api.ai_governance.v1.MCPAccessProfileServiceGetResponse", mcp_tools::get_toolset),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/mcp_toolsets/{id}" "c1.api.ai_governance.v1.MCPAccessProfileService.Update" ["MCP Toolsets"] Some("c1.api.ai_governance.v1.MCPAccessProfileServiceUpdateRequestInput") => "c1.api.ai_governance.v1.MCPAccessProfileServiceUpdateResponse", mcp_tools::update_toolset),
        route!(GET "/api/v1/apps/{app_id}/connectors/{connector_id}/tool_bindings/by_tool/{mcp_tool_id}/history" "c1.api.ai_governance.v1.MCPAccessProfileToolBindingService.ListProfilesByToolHistory" ["MCP Toolsets"] NONE => "c1.api.ai_governance.v1.MCPAccessProfileToolBindingServiceListProfilesByToolHistoryResponse", mcp_tools::tool_binding_history),
        route!(GET "/api/v1/apps/{app_id}/mcp_servers" "c1.api.ai_governance.v1.MCPServerService.List" ["MCP Servers"] NONE => "c1.api.ai_governance.v1.MCPServerServiceListResponse", mcp::list),
        route!(POST "/api/v1/apps/{app_id}/mcp_servers" "c1.api.ai_governance.v1.MCPServerService.Register" ["MCP Servers"] Some("c1.api.ai_governance.v1.MCPServerServiceRegisterRequestInput") => "c1.api.ai_governance.v1.MCPServerServiceRegisterResponse", mcp::register),
        route!(DELETE "/api/v1/apps/{app_id}/mcp_servers/{connector_id}" "c1.api.ai_governance.v1.MCPServerService.Delete" ["MCP Servers"] Some("c1.api.ai_governance.v1.MCPServerServiceDeleteRequestInput") => "c1.api.ai_governance.v1.MCPServerServiceDeleteResponse", mcp::delete),
        route!(GET "/api/v1/apps/{app_id}/mcp_servers/{connector_id}" "c1.api.ai_governance.v1.MCPServerService.Get" ["MCP Servers"] NONE => "c1.api.ai_governance.v1.MCPServerServiceGetResponse", mcp::get),
        route!(POST "/api/v1/apps/{app_id}/mcp_servers/{connector_id}" "c1.api.ai_governance.v1.MCPServerService.Update" ["MCP Servers"] Some("c1.api.ai_governance.v1.MCPServerServiceUpdateRequestInput") => "c1.api.ai_governance.v1.MCPServerServiceUpdateResponse", mcp::update),
        route!(POST "/api/v1/apps/{app_id}/mcp_servers/{connector_id}/credentials" "c1.api.ai_governance.v1.MCPServerService.UpdateCredentials" ["MCP Servers"] Some("c1.api.ai_governance.v1.MCPServerServiceUpdateCredentialsRequestInput") => "c1.api.ai_governance.v1.MCPServerServiceUpdateCredentialsResponse", mcp::update_credentials),
        route!(POST "/api/v1/apps/{app_id}/mcp_servers/{connector_id}/resync_tools" "c1.api.ai_governance.v1.MCPServerService.ResyncTools" ["MCP Servers"] Some("c1.api.ai_governance.v1.MCPServerServiceResyncToolsRequestInput") => "c1.api.ai_governance.v1.MCPServerServiceResyncToolsResponse", mcp::resync_tools),
        route!(POST "/api/v1/apps/{app_id}/mcp_servers/search" "c1.api.ai_governance.v1.MCPServerService.SearchWithToolCount" ["MCP Servers"] Some("c1.api.ai_governance.v1.MCPServerServiceSearchWithToolCountRequestInput") => "c1.api.ai_governance.v1.MCPServerServiceSearchWithToolCountResponse", mcp::search),
        route!(GET "/api/v1/apps/{app_id}/mcp_toolsets/by_app_entitlement_id/{app_entitlement_id}" "c1.api.ai_governance.v1.MCPAccessProfileService.GetByAppEntitlementId" ["MCP Toolsets"] NONE => "c1.api.ai_governance.v1.MCPAccessProfileServiceGetByAppEntitlementIdResponse", mcp_tools::toolset_by_entitlement),
        route!(GET "/api/v1/mcp_server_catalog" "c1.api.ai_governance.v1.MCPServerService.ListCatalog" ["MCP Servers"] NONE => "c1.api.ai_governance.v1.MCPServerServiceListCatalogResponse", mcp::list_catalog),
        route!(GET "/api/v1/mcp_server_catalog/{catalog_id}" "c1.api.ai_governance.v1.MCPServerService.GetCatalog" ["MCP Servers"] NONE => "c1.api.ai_governance.v1.MCPServerServiceGetCatalogResponse", mcp::get_catalog),
        route!(GET "/api/v1/settings/notifications/org" "c1.api.settings.v1.OrgNotificationSettingsService.Get" ["Org Notification Settings"] NONE => "c1.api.settings.v1.GetOrgNotificationSettingsResponse", notifications::get_org),
        route!(POST "/api/v1/settings/notifications/org" "c1.api.settings.v1.OrgNotificationSettingsService.Update" ["Org Notification Settings"] Some("c1.api.settings.v1.UpdateOrgNotificationSettingsRequest") => "c1.api.settings.v1.UpdateOrgNotificationSettingsResponse", notifications::update_org),
        route!(GET "/api/v1/settings/notifications/user" "c1.api.settings.v1.UserNotificationSettingsService.Get" ["User Notification Settings"] NONE => "c1.api.settings.v1.GetUserNotificationSettingsResponse", notifications::get_user),
        route!(POST "/api/v1/settings/notifications/user" "c1.api.settings.v1.UserNotificationSettingsService.Update" ["User Notification Settings"] Some("c1.api.settings.v1.UpdateUserNotificationSettingsRequest") => "c1.api.settings.v1.UpdateUserNotificationSettingsResponse", notifications::update_user),
        route!(GET "/api/v1/settings/email-provider" "c1.api.settings.v1.TenantEmailProviderService.Get" ["Tenant Email Provider"] NONE => "c1.api.settings.v1.GetTenantEmailProviderResponse", notifications::get_email_provider),
        route!(POST "/api/v1/settings/email-provider" "c1.api.settings.v1.TenantEmailProviderService.Update" ["Tenant Email Provider"] Some("c1.api.settings.v1.UpdateTenantEmailProviderRequest") => "c1.api.settings.v1.UpdateTenantEmailProviderResponse", notifications::update_email_provider),
        route!(POST "/api/v1/settings/email-provider/test" "c1.api.settings.v1.TenantEmailProviderService.Test" ["Tenant Email Provider"] Some("c1.api.settings.v1.TestTenantEmailProviderRequest") => "c1.api.settings.v1.TestTenantEmailProviderResponse", notifications::test_email_provider),
        route!(POST "/api/v1/settings/email-provider/audit-events" "c1.api.settings.v1.TenantEmailProviderService.SearchAuditEvents" ["Tenant Email Provider"] Some("c1.api.settings.v1.SearchEmailAuditEventsRequest") => "c1.api.settings.v1.SearchEmailAuditEventsResponse", notifications::email_audit_events),
        route!(ext GET "/api/v1/settings/slack" "chamberlain.settings.Slack.Get" ["Slack"] NONE => "chamberlain.SlackSettingsResponse", crate::slack::get_settings),
        route!(ext POST "/api/v1/settings/slack" "chamberlain.settings.Slack.Update" ["Slack"] Some("chamberlain.UpdateSlackSettingsRequest") => "chamberlain.SlackSettingsResponse", crate::slack::update_settings),
        route!(ext POST "/api/v1/settings/slack/test" "chamberlain.settings.Slack.Test" ["Slack"] NONE => "chamberlain.SlackTestResponse", crate::slack::test_settings),
        route!(ext GET "/api/v1/settings/sso" "chamberlain.settings.Sso.Get" ["Single sign-on"] NONE => "chamberlain.SsoSettingsResponse", crate::sso::get_settings),
        route!(ext POST "/api/v1/settings/sso" "chamberlain.settings.Sso.Update" ["Single sign-on"] Some("chamberlain.UpdateSsoSettingsRequest") => "chamberlain.SsoSettingsResponse", crate::sso::update_settings),
        route!(ext GET "/api/v1/notifications" "chamberlain.notifications.Notifications.List" ["Notifications"] NONE => "chamberlain.NotificationList", notifications::list),
        route!(ext POST "/api/v1/notifications/{id}/retry" "chamberlain.notifications.Notifications.Retry" ["Notifications"] NONE => "chamberlain.NotificationRetry", notifications::retry),
        route!(GET "/api/v1/mcp_server_connections" "c1.api.ai_governance.v1.MCPServerService.ListConnections" ["MCP Servers"] NONE => "c1.api.ai_governance.v1.MCPServerServiceListConnectionsResponse", mcp::list_connections),
        route!(ext DELETE "/api/v1/mcp_server_connections/{connector_id}" "chamberlain.ai_governance.MCPConnections.DisconnectOwn" ["MCP Servers"] NONE => "chamberlain.Empty", mcp::disconnect_own),
        route!(ext GET "/api/v1/apps/{app_id}/mcp_servers/{connector_id}/connections" "chamberlain.ai_governance.MCPConnections.ListForServer" ["MCP Servers"] NONE => "chamberlain.MCPConnectionList", mcp::server_connections),
        route!(ext DELETE "/api/v1/apps/{app_id}/mcp_servers/{connector_id}/connections/{user_id}" "chamberlain.ai_governance.MCPConnections.Revoke" ["MCP Servers"] NONE => "chamberlain.MCPConnection", mcp::revoke_connection),
        route!(POST "/api/v1/mcp_servers/test_connection" "c1.api.ai_governance.v1.MCPServerService.TestConnection" ["MCP Servers"] Some("c1.api.ai_governance.v1.MCPServerServiceTestConnectionRequest") => "c1.api.ai_governance.v1.MCPServerServiceTestConnectionResponse", mcp::test_connection),
        route!(GET "/api/v1/mcp_toolsets/search" "c1.api.ai_governance.v1.MCPAccessProfileService.SearchAccessProfiles" ["MCP Toolsets"] NONE => "c1.api.ai_governance.v1.MCPAccessProfileServiceSearchAccessProfilesResponse", mcp_tools::search_toolsets),
        route!(ext POST "/api/v1/mcp_server_catalog" "chamberlain.ai_governance.MCPServerCatalog.Put" ["MCP Servers"] Some("chamberlain.PutCatalogEntryRequest") => "c1.api.ai_governance.v1.MCPServerServiceGetCatalogResponse", mcp::put_catalog),
        route!(ext POST "/api/v1/ai-governance/audit/search" "chamberlain.ai_governance.ToolUsageAudit.Search" ["AI Governance Audit"] Some("chamberlain.ToolUsageAuditSearchRequest") => "chamberlain.ToolUsageAuditSearchResponse", mcp_tools::search_audit),
        route!(ext POST "/api/v1/ai-governance/audit/export" "chamberlain.ai_governance.ToolUsageAudit.Export" ["AI Governance Audit"] Some("chamberlain.ToolUsageAuditSearchRequest") => "chamberlain.ToolUsageAuditExport", mcp_tools::export_audit),
        // Entitlement configuration rules
        route!(GET "/api/v1/apps/{app_id}/entitlement_configuration_rules" "c1.api.app.v1.AppEntitlementRoutingRuleService.ListAppEntitlementRoutingRules" ["App Entitlement Configuration Rule"] NONE => "c1.api.app.v1.ListAppEntitlementRoutingRulesResponse", entitlement_rules::list),
        route!(POST "/api/v1/apps/{app_id}/entitlement_configuration_rules" "c1.api.app.v1.AppEntitlementRoutingRuleService.CreateAppEntitlementRoutingRule" ["App Entitlement Configuration Rule"] Some("c1.api.app.v1.CreateAppEntitlementRoutingRuleRequestInput") => "c1.api.app.v1.CreateAppEntitlementRoutingRuleResponse", entitlement_rules::create),
        route!(POST "/api/v1/apps/{app_id}/entitlement_configuration_rules/reorder" "c1.api.app.v1.AppEntitlementRoutingRuleService.ReorderAppEntitlementRoutingRules" ["App Entitlement Configuration Rule"] Some("c1.api.app.v1.ReorderAppEntitlementRoutingRulesRequestInput") => "c1.api.app.v1.ReorderAppEntitlementRoutingRulesResponse", entitlement_rules::reorder),
        route!(GET "/api/v1/apps/{app_id}/entitlement_configuration_rules/{id}" "c1.api.app.v1.AppEntitlementRoutingRuleService.GetAppEntitlementRoutingRule" ["App Entitlement Configuration Rule"] NONE => "c1.api.app.v1.GetAppEntitlementRoutingRuleResponse", entitlement_rules::get),
        route!(POST "/api/v1/apps/{app_id}/entitlement_configuration_rules/{id}" "c1.api.app.v1.AppEntitlementRoutingRuleService.UpdateAppEntitlementRoutingRule" ["App Entitlement Configuration Rule"] Some("c1.api.app.v1.UpdateAppEntitlementRoutingRuleRequestInput") => "c1.api.app.v1.UpdateAppEntitlementRoutingRuleResponse", entitlement_rules::update),
        route!(DELETE "/api/v1/apps/{app_id}/entitlement_configuration_rules/{id}" "c1.api.app.v1.AppEntitlementRoutingRuleService.DeleteAppEntitlementRoutingRule" ["App Entitlement Configuration Rule"] Some("c1.api.app.v1.DeleteAppEntitlementRoutingRuleRequestInput") => "c1.api.app.v1.DeleteAppEntitlementRoutingRuleResponse", entitlement_rules::delete),
        // App users
        route!(GET "/api/v1/apps/{app_id}/app_users" "c1.api.app.v1.AppUserService.List" ["AppUsers"] NONE => "c1.api.app.v1.AppUserServiceListResponse", au::list),
        route!(POST "/api/v1/apps/{app_user_app_id}/app_users/{app_user_id}" "c1.api.app.v1.AppUserService.Update" ["AppUsers"] Some("c1.api.app.v1.AppUserServiceUpdateRequestInput") => "c1.api.app.v1.AppUserServiceUpdateResponse", au::update),
        route!(GET "/api/v1/apps/{app_id}/users/{user_id}/app_users" "c1.api.app.v1.AppUserService.ListAppUsersForUser" ["AppUsers"] NONE => "c1.api.app.v1.AppUsersForUserServiceListResponse", au::list_for_user),
        route!(POST "/api/v1/search/app_users" "c1.api.app.v1.AppUserService.Search" ["AppUsers"] Some("c1.api.app.v1.AppUserServiceSearchRequest") => "c1.api.app.v1.AppUserServiceSearchResponse", search::app_users),
        // Owners
        route!(GET "/api/v1/apps/{app_id}/owners" "c1.api.app.v1.AppOwners.List" ["App Owner"] NONE => "c1.api.app.v1.ListAppOwnersResponse", owners::app_list),
        route!(PUT "/api/v1/apps/{app_id}/owners" "c1.api.app.v1.AppOwners.Set" ["App Owner"] Some("c1.api.app.v1.SetAppOwnersRequestInput") => "c1.api.app.v1.SetAppOwnersResponse", owners::app_set),
        route!(DELETE "/api/v1/apps/{app_id}/owners" "c1.api.app.v1.AppOwners.Delete" ["App Owner"] Some("c1.api.app.v1.DeleteAppOwnersRequestInput") => "c1.api.app.v1.DeleteAppOwnersResponse", owners::app_delete),
        route!(GET "/api/v1/apps/{app_id}/ownerids" "c1.api.app.v1.AppOwners.ListOwnerIDs" ["App Owner"] NONE => "c1.api.app.v1.ListAppOwnerIDsResponse", owners::app_ids),
        route!(POST "/api/v1/apps/{app_id}/owners/{user_id}" "c1.api.app.v1.AppOwners.Add" ["App Owner"] Some("c1.api.app.v1.AddAppOwnerRequestInput") => "c1.api.app.v1.AddAppOwnerResponse", owners::app_add),
        route!(DELETE "/api/v1/apps/{app_id}/owners/{user_id}" "c1.api.app.v1.AppOwners.Remove" ["App Owner"] Some("c1.api.app.v1.RemoveAppOwnerRequestInput") => "c1.api.app.v1.RemoveAppOwnerResponse", owners::app_remove),
        route!(GET "/api/v1/apps/{app_id}/entitlements/{entitlement_id}/owners" "c1.api.app.v1.AppEntitlementOwners.List" ["App Entitlement Owner"] NONE => "c1.api.app.v1.ListAppEntitlementOwnersResponse", owners::ent_list),
        route!(POST "/api/v1/apps/{app_id}/entitlements/{entitlement_id}/owners" "c1.api.app.v1.AppEntitlementOwners.Add" ["App Entitlement Owner"] Some("c1.api.app.v1.AddAppEntitlementOwnerRequestInput") => "c1.api.app.v1.AddAppEntitlementOwnerResponse", owners::ent_add),
        route!(PUT "/api/v1/apps/{app_id}/entitlements/{entitlement_id}/owners" "c1.api.app.v1.AppEntitlementOwners.Set" ["App Entitlement Owner"] Some("c1.api.app.v1.SetAppEntitlementOwnersRequestInput") => "c1.api.app.v1.SetAppEntitlementOwnersResponse", owners::ent_set),
        route!(DELETE "/api/v1/apps/{app_id}/entitlements/{entitlement_id}/owners" "c1.api.app.v1.AppEntitlementOwners.Delete" ["App Entitlement Owner"] Some("c1.api.app.v1.DeleteAppEntitlementOwnersRequestInput") => "c1.api.app.v1.DeleteAppEntitlementOwnersResponse", owners::ent_delete),
        route!(GET "/api/v1/apps/{app_id}/entitlements/{entitlement_id}/ownerids" "c1.api.app.v1.AppEntitlementOwners.ListOwnerIDs" ["App Entitlement Owner"] NONE => "c1.api.app.v1.ListAppEntitlementOwnerIDsResponse", owners::ent_ids),
        route!(DELETE "/api/v1/apps/{app_id}/entitlements/{entitlement_id}/owners/{user_id}" "c1.api.app.v1.AppEntitlementOwners.Remove" ["App Entitlement Owner"] Some("c1.api.app.v1.RemoveAppEntitlementOwnerRequestInput") => "c1.api.app.v1.RemoveAppEntitlementOwnerResponse", owners::ent_remove),
        route!(GET "/api/v1/apps/{app_id}/resource_types/{resource_type_id}/resource/{resource_id}/owners" "c1.api.app.v1.AppResourceOwners.List" ["App Resource Owner"] NONE => "c1.api.app.v1.ListAppResourceOwnersResponse", owners::res_list),
        route!(POST "/api/v1/apps/{app_id}/resource_types/{resource_type_id}/resource/{resource_id}/owners" "c1.api.app.v1.AppResourceOwners.Add" ["App Resource Owner"] Some("c1.api.app.v1.AddAppResourceOwnerRequestInput") => "c1.api.app.v1.AddAppResourceOwnerResponse", owners::res_add),
        route!(PUT "/api/v1/apps/{app_id}/resource_types/{resource_type_id}/resource/{resource_id}/owners" "c1.api.app.v1.AppResourceOwners.Set" ["App Resource Owner"] Some("c1.api.app.v1.SetAppResourceOwnersRequestInput") => "c1.api.app.v1.SetAppResourceOwnersResponse", owners::res_set),
        route!(DELETE "/api/v1/apps/{app_id}/resource_types/{resource_type_id}/resource/{resource_id}/owners" "c1.api.app.v1.AppResourceOwners.Remove" ["App Resource Owner"] Some("c1.api.app.v1.RemoveAppResourceOwnerRequestInput") => "c1.api.app.v1.RemoveAppResourceOwnerResponse", owners::res_remove),
        route!(GET "/api/v1/apps/{app_id}/resource_types/{resource_type_id}/resource/{resource_id}/ownerids" "c1.api.app.v1.AppResourceOwners.ListOwnerIDs" ["App Resource Owner"] NONE => "c1.api.app.v1.ListAppResourceOwnerIDsResponse", owners::res_ids),
        route!(DELETE "/api/v1/apps/{app_id}/resource_types/{resource_type_id}/resource/{resource_id}/ownerids" "c1.api.app.v1.AppResourceOwners.Delete" ["App Resource Owner"] Some("c1.api.app.v1.DeleteAppResourceOwnersRequestInput") => "c1.api.app.v1.DeleteAppResourceOwnersResponse", owners::res_delete),
        // Entitlement proxy bindings
        route!(GET "/api/v1/apps/{src_app_id}/{src_app_entitlement_id}/bindings/{dst_app_id}/{dst_app_entitlement_id}" "c1.api.app.v1.AppEntitlementsProxy.Get" ["App Entitlement Proxy Binding"] NONE => "c1.api.app.v1.GetAppEntitlementProxyResponse", bindings::get),
        route!(POST "/api/v1/apps/{src_app_id}/{src_app_entitlement_id}/bindings/{dst_app_id}/{dst_app_entitlement_id}" "c1.api.app.v1.AppEntitlementsProxy.Create" ["App Entitlement Proxy Binding"] Some("c1.api.app.v1.CreateAppEntitlementProxyRequestInput") => "c1.api.app.v1.CreateAppEntitlementProxyResponse", bindings::create),
        route!(DELETE "/api/v1/apps/{src_app_id}/{src_app_entitlement_id}/bindings/{dst_app_id}/{dst_app_entitlement_id}" "c1.api.app.v1.AppEntitlementsProxy.Delete" ["App Entitlement Proxy Binding"] Some("c1.api.app.v1.DeleteAppEntitlementProxyRequestInput") => "c1.api.app.v1.DeleteAppEntitlementProxyResponse", bindings::delete),
        // Connectors and sync
        route!(GET "/api/v1/apps/{app_id}/connectors" "c1.api.app.v1.ConnectorService.List" ["Connector"] NONE => "c1.api.app.v1.ConnectorServiceListResponse", connectors::list),
        route!(POST "/api/v1/apps/{app_id}/connectors" "c1.api.app.v1.ConnectorService.CreateDelegated" ["Connector"] Some("c1.api.app.v1.ConnectorServiceCreateDelegatedRequestInput") => "c1.api.app.v1.ConnectorServiceCreateResponse", connectors::create_delegated),
        route!(POST "/api/v1/apps/{app_id}/connectors/create" "c1.api.app.v1.ConnectorService.Create" ["Connector"] Some("c1.api.app.v1.ConnectorServiceCreateRequestInput") => "c1.api.app.v1.ConnectorServiceCreateResponse", connectors::create),
        route!(GET "/api/v1/apps/{app_id}/connectors/{id}" "c1.api.app.v1.ConnectorService.Get" ["Connector"] NONE => "c1.api.app.v1.ConnectorServiceGetResponse", connectors::get),
        route!(POST "/api/v1/apps/{app_id}/connectors/{id}" "c1.api.app.v1.ConnectorService.Update" ["Connector"] Some("c1.api.app.v1.ConnectorServiceUpdateRequestInput") => "c1.api.app.v1.ConnectorServiceUpdateResponse", connectors::update),
        route!(DELETE "/api/v1/apps/{app_id}/connectors/{id}" "c1.api.app.v1.ConnectorService.Delete" ["Connector"] Some("c1.api.app.v1.ConnectorServiceDeleteRequestInput") => "c1.api.app.v1.ConnectorServiceDeleteResponse", connectors::delete),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/force_sync" "c1.api.app.v1.ConnectorService.ForceSync" ["Connector"] Some("c1.api.app.v1.ForceSyncRequestInput") => "c1.api.app.v1.ForceSyncResponse", connectors::force_sync),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/pause" "c1.api.app.v1.ConnectorService.PauseSync" ["Connector"] Some("c1.api.app.v1.PauseSyncRequestInput") => "c1.api.app.v1.PauseSyncResponse", connectors::pause),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/resume" "c1.api.app.v1.ConnectorService.ResumeSync" ["Connector"] Some("c1.api.app.v1.ResumeSyncRequestInput") => "c1.api.app.v1.ResumeSyncResponse", connectors::resume),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/schedule" "c1.api.app.v1.ConnectorService.UpdateConnectorSchedule" ["Connector"] Some("c1.api.app.v1.UpdateConnectorScheduleRequestInput") => "c1.api.app.v1.UpdateConnectorScheduleResponse", connectors::schedule),
        route!(POST "/api/v1/apps/connectors/credentials" "c1.api.app.v1.ConnectorService.RotateCredential" ["Connector"] Some("c1.api.app.v1.ConnectorServiceRotateCredentialRequest") => "c1.api.app.v1.ConnectorServiceRotateCredentialResponse", connectors::rotate_credential),
        route!(GET "/api/v1/apps/{app_id}/connectors/{connector_id}/credentials/{id}" "c1.api.app.v1.ConnectorService.GetCredentials" ["Connector"] NONE => "c1.api.app.v1.ConnectorServiceGetCredentialsResponse", connectors::get_credential),
        route!(POST "/api/v1/apps/{app_id}/connectors/{connector_id}/credentials/{id}" "c1.api.app.v1.ConnectorService.RevokeCredential" ["Connector"] Some("c1.api.app.v1.ConnectorServiceRevokeCredentialRequestInput") => "c1.api.app.v1.ConnectorServiceRevokeCredentialResponse", connectors::revoke_credential),
        route!(ext POST "/api/v1/apps/{app_id}/connectors/{connector_id}/c1z" "chamberlain.v1.Sync.UploadC1z" ["Connector"] Some("chamberlain.v1.C1zFile") => "chamberlain.v1.UploadC1zResponse", connectors::upload_c1z),
        route!(ext POST "/api/v1/apps/{app_id}/connectors/{connector_id}/file" "chamberlain.v1.Sync.UploadFile" ["Connector"] Some("chamberlain.v1.TemplateCsv") => "chamberlain.v1.UploadC1zResponse", connectors::upload_file),
        route!(ext GET "/api/v1/apps/{app_id}/connectors/{connector_id}/sync_runs" "chamberlain.v1.Sync.ListSyncRuns" ["Connector"] NONE => "chamberlain.v1.ListSyncRunsResponse", connectors::sync_runs),
        // Access profiles (request catalogs)
        route!(GET "/api/v1/catalogs" "c1.api.requestcatalog.v1.RequestCatalogManagementService.List" ["Request Catalog"] NONE => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceListResponse", cat::list),
        route!(POST "/api/v1/catalogs" "c1.api.requestcatalog.v1.RequestCatalogManagementService.Create" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceCreateRequest") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceGetResponse", cat::create),
        route!(ext GET "/api/v1/catalogs/visible" "chamberlain.v1.RequestCatalog.ListVisible" ["Request Catalog"] NONE => "chamberlain.v1.VisibleCatalogsResponse", cat::visible),
        route!(ext GET "/api/v1/catalogs/requestability/{app_id}/{entitlement_id}" "chamberlain.v1.RequestCatalog.Requestability" ["Request Catalog"] NONE => "chamberlain.v1.RequestabilityResponse", cat::requestability),
        route!(GET "/api/v1/catalogs/{id}" "c1.api.requestcatalog.v1.RequestCatalogManagementService.Get" ["Request Catalog"] NONE => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceGetResponse", cat::get),
        route!(POST "/api/v1/catalogs/{id}" "c1.api.requestcatalog.v1.RequestCatalogManagementService.Update" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceUpdateRequestInput") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceGetResponse", cat::update),
        route!(DELETE "/api/v1/catalogs/{id}" "c1.api.requestcatalog.v1.RequestCatalogManagementService.Delete" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceDeleteRequestInput") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceDeleteResponse", cat::delete),
        route!(POST "/api/v1/catalogs/{catalog_id}/requestable_entries" "c1.api.requestcatalog.v1.RequestCatalogManagementService.AddAppEntitlements" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceAddAppEntitlementsRequestInput") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceAddAppEntitlementsResponse", cat::add_entries),
        route!(DELETE "/api/v1/catalogs/{catalog_id}/requestable_entries" "c1.api.requestcatalog.v1.RequestCatalogManagementService.RemoveAppEntitlements" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceRemoveAppEntitlementsRequestInput") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceRemoveAppEntitlementsResponse", cat::remove_entries),
        route!(GET "/api/v1/catalogs/{catalog_id}/requestable_entries/{app_id}/{entitlement_id}" "c1.api.requestcatalog.v1.RequestCatalogManagementService.GetRequestableEntry" ["Request Catalog"] NONE => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceGetRequestableEntryResponse", cat::get_entry),
        route!(PUT "/api/v1/catalogs/{catalog_id}/requestable_entries/{app_id}/{entitlement_id}" "c1.api.requestcatalog.v1.RequestCatalogManagementService.CreateRequestableEntry" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceCreateRequestableEntryRequestInput") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceCreateRequestableEntryResponse", cat::create_entry),
        route!(DELETE "/api/v1/catalogs/{catalog_id}/requestable_entries/{app_id}/{entitlement_id}" "c1.api.requestcatalog.v1.RequestCatalogManagementService.DeleteRequestableEntry" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceDeleteRequestableEntryRequestInput") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceDeleteRequestableEntryResponse", cat::delete_entry),
        route!(GET "/api/v1/catalogs/{catalog_id}/requestable_entitlements" "c1.api.requestcatalog.v1.RequestCatalogManagementService.ListEntitlementsPerCatalog" ["Request Catalog"] NONE => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceListEntitlementsPerCatalogResponse", cat::list_entries),
        route!(GET "/api/v1/catalogs/{catalog_id}/requestable_entitlementIDs" "c1.api.requestcatalog.v1.RequestCatalogManagementService.ListAllEntitlementIdsPerApp" ["Request Catalog"] NONE => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceListAllEntitlementIdsPerCatalogResponse", cat::entry_ids),
        route!(POST "/api/v1/catalogs/{catalog_id}/requestable_entitlements/update" "c1.api.requestcatalog.v1.RequestCatalogManagementService.UpdateAppEntitlements" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceUpdateAppEntitlementsRequestInput") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceUpdateAppEntitlementsResponse", cat::set_entries),
        route!(POST "/api/v1/catalogs/{catalog_id}/visibility_bindings" "c1.api.requestcatalog.v1.RequestCatalogManagementService.AddAccessEntitlements" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceAddAccessEntitlementsRequestInput") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceAddAccessEntitlementsResponse", cat::add_access),
        route!(DELETE "/api/v1/catalogs/{catalog_id}/visibility_bindings" "c1.api.requestcatalog.v1.RequestCatalogManagementService.RemoveAccessEntitlements" ["Request Catalog"] Some("c1.api.requestcatalog.v1.RequestCatalogManagementServiceRemoveAccessEntitlementsRequestInput") => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceRemoveAccessEntitlementsResponse", cat::remove_access),
        route!(GET "/api/v1/catalogs/{catalog_id}/visibility_entitlements" "c1.api.requestcatalog.v1.RequestCatalogManagementService.ListEntitlementsForAccess" ["Request Catalog"] NONE => "c1.api.requestcatalog.v1.RequestCatalogManagementServiceListEntitlementsForAccessResponse", cat::list_access),
        route!(GET "/api/v1/catalogs/{request_catalog_id}/bundle_automation" "c1.api.requestcatalog.v1.RequestCatalogManagementService.GetBundleAutomation" ["Request Catalog"] NONE => "c1.api.requestcatalog.v1.BundleAutomation", cat::get_bundle),
        route!(POST "/api/v1/catalogs/{request_catalog_id}/bundle_automation" "c1.api.requestcatalog.v1.RequestCatalogManagementService.SetBundleAutomation" ["Request Catalog"] Some("c1.api.requestcatalog.v1.SetBundleAutomationRequestInput") => "c1.api.requestcatalog.v1.BundleAutomation", cat::set_bundle),
        route!(DELETE "/api/v1/catalogs/{request_catalog_id}/bundle_automation" "c1.api.requestcatalog.v1.RequestCatalogManagementService.DeleteBundleAutomation" ["Request Catalog"] Some("c1.api.requestcatalog.v1.DeleteBundleAutomationRequestInput") => "c1.api.requestcatalog.v1.DeleteBundleAutomationResponse", cat::delete_bundle),
        route!(POST "/api/v1/catalogs/{request_catalog_id}/bundle_automation/create" "c1.api.requestcatalog.v1.RequestCatalogManagementService.CreateBundleAutomation" ["Request Catalog"] Some("c1.api.requestcatalog.v1.CreateBundleAutomationRequestInput") => "c1.api.requestcatalog.v1.BundleAutomation", cat::create_bundle),
        route!(POST "/api/v1/catalogs/{request_catalog_id}/bundle_automation/resume" "c1.api.requestcatalog.v1.RequestCatalogManagementService.ResumePausedBundleAutomation" ["Request Catalog"] Some("c1.api.requestcatalog.v1.ResumePausedBundleAutomationRequestInput") => "c1.api.requestcatalog.v1.ResumePausedBundleAutomationResponse", cat::resume_bundle),
        route!(POST "/api/v1/catalogs/{request_catalog_id}/bundle_automation/run" "c1.api.requestcatalog.v1.RequestCatalogManagementService.ForceRunBundleAutomation" ["Request Catalog"] Some("c1.api.requestcatalog.v1.ForceRunBundleAutomationRequestInput") => "c1.api.requestcatalog.v1.ForceRunBundleAutomationResponse", cat::run_bundle),
        // Per-entitlement automation
        route!(GET "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation" "c1.api.app.v1.AppEntitlements.GetAutomation" ["App Entitlement Automation"] NONE => "c1.api.app.v1.AppEntitlementServiceGetAutomationResponse", cat::get_automation),
        route!(DELETE "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation" "c1.api.app.v1.AppEntitlements.DeleteAutomation" ["App Entitlement Automation"] Some("c1.api.app.v1.DeleteAutomationRequestInput") => "c1.api.app.v1.DeleteAutomationResponse", cat::delete_automation),
        route!(POST "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation/create" "c1.api.app.v1.AppEntitlements.CreateAutomation" ["App Entitlement Automation"] Some("c1.api.app.v1.CreateAutomationRequestInput") => "c1.api.app.v1.CreateAutomationResponse", cat::create_automation),
        route!(POST "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation/update" "c1.api.app.v1.AppEntitlements.UpdateAutomation" ["App Entitlement Automation"] Some("c1.api.app.v1.AppEntitlementServiceUpdateAutomationRequestInput") => "c1.api.app.v1.AppEntitlementServiceUpdateAutomationResponse", cat::update_automation),
        route!(GET "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation/exclusions" "c1.api.app.v1.AppEntitlements.ListAutomationExclusions" ["App Entitlement Automation Exclusion"] NONE => "c1.api.app.v1.ListAutomationExclusionsResponse", cat::list_exclusions),
        route!(POST "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation/exclusions" "c1.api.app.v1.AppEntitlements.AddAutomationExclusion" ["App Entitlement Automation Exclusion"] Some("c1.api.app.v1.AddAutomationExclusionRequestInput") => "c1.api.app.v1.AddAutomationExclusionResponse", cat::add_exclusions),
        route!(DELETE "/api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation/exclusions" "c1.api.app.v1.AppEntitlements.RemoveAutomationExclusion" ["App Entitlement Automation Exclusion"] Some("c1.api.app.v1.RemoveAutomationExclusionRequestInput") => "c1.api.app.v1.RemoveAutomationExclusionResponse", cat::remove_exclusions),
        // Per-app settings
        route!(GET "/api/v1/directories" "c1.api.directory.v1.DirectoryService.List" ["Directory"] NONE => "c1.api.directory.v1.DirectoryServiceListResponse", directories::list),
        route!(POST "/api/v1/directories" "c1.api.directory.v1.DirectoryService.Create" ["Directory"] Some("c1.api.directory.v1.DirectoryServiceCreateRequest") => "c1.api.directory.v1.DirectoryServiceCreateResponse", directories::create),
        route!(GET "/api/v1/directories/{app_id}" "c1.api.directory.v1.DirectoryService.Get" ["Directory"] NONE => "c1.api.directory.v1.DirectoryServiceGetResponse", directories::get),
        route!(PUT "/api/v1/directories/{app_id}" "c1.api.directory.v1.DirectoryService.Update" ["Directory"] Some("c1.api.directory.v1.DirectoryServiceUpdateRequestInput") => "c1.api.directory.v1.DirectoryServiceUpdateResponse", directories::update),
        route!(DELETE "/api/v1/directories/{app_id}" "c1.api.directory.v1.DirectoryService.Delete" ["Directory"] Some("c1.api.directory.v1.DirectoryServiceDeleteRequestInput") => "c1.api.directory.v1.DirectoryServiceDeleteResponse", directories::delete),
        route!(ext POST "/api/v1/directories/preview" "chamberlain.v1.Directory.Preview" ["Directory"] Some("c1.api.directory.v1.DirectoryServiceCreateRequest") => "chamberlain.v1.IdentityRunPreview", directories::preview),
        route!(ext GET "/api/v1/directories/runs" "chamberlain.v1.Directory.ListRuns" ["Directory"] NONE => "chamberlain.v1.ListIdentityRunsResponse", directories::runs),
        route!(ext GET "/api/v1/apps/{app_id}/identity_runs" "chamberlain.v1.Directory.ListAppIdentityRuns" ["Directory"] NONE => "chamberlain.v1.ListIdentityRunsResponse", directories::app_runs),
        route!(GET "/api/v1/apps/{app_id}/usage_controls" "c1.api.app.v1.AppUsageControlsService.Get" ["App Usage Controls"] NONE => "c1.api.app.v1.GetAppUsageControlsResponse", settings::get_usage_controls),
        route!(POST "/api/v1/apps/{app_id}/usage_controls" "c1.api.app.v1.AppUsageControlsService.Update" ["App Usage Controls"] Some("c1.api.app.v1.UpdateAppUsageControlsRequestInput") => "c1.api.app.v1.UpdateAppUsageControlsResponse", settings::update_usage_controls),
        route!(GET "/api/v1/apps/{app_id}/access_request_defaults" "c1.api.app.v1.AppAccessRequestsDefaultsService.GetAppAccessRequestsDefaults" ["AppAccessRequestDefaults"] NONE => "c1.api.app.v1.AppAccessRequestDefaults", settings::get_request_defaults),
        route!(POST "/api/v1/apps/{app_id}/access_request_defaults" "c1.api.app.v1.AppAccessRequestsDefaultsService.CreateAppAccessRequestsDefaults" ["AppAccessRequestDefaults"] Some("c1.api.app.v1.AppAccessRequestDefaultsInput") => "c1.api.app.v1.AppAccessRequestDefaults", settings::put_request_defaults),
        route!(POST "/api/v1/apps/{app_id}/access_request_defaults/cancel" "c1.api.app.v1.AppAccessRequestsDefaultsService.CancelAppAccessRequestsDefaults" ["AppAccessRequestDefaults"] Some("c1.api.app.v1.CancelAccessRequestDefaultsRequestInput") => "c1.api.app.v1.AppAccessRequestDefaults", settings::cancel_request_defaults),
        // Users
        route!(GET "/api/v1/users" "c1.api.user.v1.UserService.List" ["User"] NONE => "c1.api.user.v1.UserServiceListResponse", users::list),
        route!(GET "/api/v1/users/{id}" "c1.api.user.v1.UserService.Get" ["User"] NONE => "c1.api.user.v1.UserServiceGetResponse", users::get),
        route!(POST "/api/v1/search/users" "c1.api.user.v1.UserSearch.Search" ["User"] Some("c1.api.user.v1.SearchUsersRequest") => "c1.api.user.v1.SearchUsersResponse", search::users),
        // IAM
        route!(GET "/api/v1/iam/personal_clients" "c1.api.iam.v1.PersonalClientService.List" ["Personal Client"] NONE => "c1.api.iam.v1.PersonalClientServiceListResponse", iam::list_clients),
        route!(POST "/api/v1/iam/personal_clients" "c1.api.iam.v1.PersonalClientService.Create" ["Personal Client"] Some("c1.api.iam.v1.PersonalClientServiceCreateRequest") => "c1.api.iam.v1.PersonalClientServiceCreateResponse", iam::create_client),
        route!(GET "/api/v1/iam/personal_clients/{id}" "c1.api.iam.v1.PersonalClientService.Get" ["Personal Client"] NONE => "c1.api.iam.v1.PersonalClientServiceGetResponse", iam::get_client),
        route!(DELETE "/api/v1/iam/personal_clients/{id}" "c1.api.iam.v1.PersonalClientService.Delete" ["Personal Client"] Some("c1.api.iam.v1.PersonalClientServiceDeleteRequestInput") => "c1.api.iam.v1.PersonalClientServiceDeleteResponse", iam::delete_client),
        route!(GET "/api/v1/iam/roles" "c1.api.iam.v1.Roles.List" ["Role"] NONE => "c1.api.iam.v1.ListRolesResponse", iam::list_roles),
        // AI clients of the MCP gateway
        route!(POST "/api/v1/search/iam/external_clients" "c1.api.iam.v1.ExternalClientSearchService.Search" ["External Client"] Some("c1.api.iam.v1.ExternalClientSearchServiceSearchRequest") => "c1.api.iam.v1.ExternalClientSearchServiceSearchResponse", external_clients::search),
        route!(ext GET "/api/v1/iam/external_clients/self" "chamberlain.v1.ExternalClients.ListOwn" ["External Client"] NONE => "c1.api.iam.v1.ExternalClientSearchServiceSearchResponse", external_clients::list_own),
        route!(ext POST "/api/v1/iam/external_clients/self/{mcp_client_id}/revoke" "chamberlain.v1.ExternalClients.RevokeOwn" ["External Client"] NONE => "chamberlain.v1.ExternalClientResponse", external_clients::revoke_own),
        route!(ext POST "/api/v1/iam/external_clients/{mcp_client_id}/users/{user_id}/close" "chamberlain.v1.ExternalClients.CloseForUser" ["External Client"] NONE => "chamberlain.v1.ExternalClientResponse", external_clients::close_user),
        route!(ext POST "/api/v1/iam/external_clients/{mcp_client_id}/kill" "chamberlain.v1.ExternalClients.Kill" ["External Client"] NONE => "chamberlain.v1.ExternalClientKillResponse", external_clients::kill),
        route!(ext POST "/api/v1/iam/external_clients/{mcp_client_id}/reopen" "chamberlain.v1.ExternalClients.Reopen" ["External Client"] NONE => "chamberlain.v1.ExternalClientKillResponse", external_clients::reopen),
        // AI governance settings
        route!(GET "/api/v1/settings/ai-governance" "c1.api.ai_governance.v1.AIGovernanceSettingsService.Get" ["AI Governance Settings"] NONE => "c1.api.ai_governance.v1.GetAIGovernanceSettingsResponse", ai_governance::get),
        route!(POST "/api/v1/settings/ai-governance" "c1.api.ai_governance.v1.AIGovernanceSettingsService.Update" ["AI Governance Settings"] Some("c1.api.ai_governance.v1.UpdateAIGovernanceSettingsRequest") => "c1.api.ai_governance.v1.UpdateAIGovernanceSettingsResponse", ai_governance::update),
        route!(GET "/api/v1/settings/ai-governance/history" "c1.api.ai_governance.v1.AIGovernanceSettingsService.ListHistory" ["AI Governance Settings"] NONE => "c1.api.ai_governance.v1.ListAIGovernanceSettingsHistoryResponse", ai_governance::history),
        route!(GET "/api/v1/settings/ai-governance/tenant-defaults" "c1.api.ai_governance.v1.AIGovernanceSettingsService.GetTenantDefaults" ["AI Governance Settings"] NONE => "c1.api.ai_governance.v1.GetTenantDefaultsResponse", ai_governance::tenant_defaults),
        route!(GET "/api/v1/auth/introspect" "c1.api.auth.v1.Auth.Introspect" ["Auth"] NONE => "c1.api.auth.v1.IntrospectResponse", iam::introspect),
        // Policies
        route!(POST "/api/v1/policies/validate/cel" "c1.api.policy.v1.PolicyValidate.ValidateCEL" ["Policy"] Some("c1.api.policy.v1.EditorValidateRequest") => "c1.api.policy.v1.EditorValidateResponse", policies::validate_cel),
        route!(GET "/api/v1/policies" "c1.api.policy.v1.Policies.List" ["Policy"] NONE => "c1.api.policy.v1.ListPolicyResponse", policies::list),
        route!(POST "/api/v1/policies" "c1.api.policy.v1.Policies.Create" ["Policy"] Some("c1.api.policy.v1.CreatePolicyRequest") => "c1.api.policy.v1.CreatePolicyResponse", policies::create),
        route!(GET "/api/v1/policies/{id}" "c1.api.policy.v1.Policies.Get" ["Policy"] NONE => "c1.api.policy.v1.GetPolicyResponse", policies::get),
        route!(POST "/api/v1/policies/{id}" "c1.api.policy.v1.Policies.Update" ["Policy"] Some("c1.api.policy.v1.UpdatePolicyRequestInput") => "c1.api.policy.v1.UpdatePolicyResponse", policies::update),
        route!(DELETE "/api/v1/policies/{id}" "c1.api.policy.v1.Policies.Delete" ["Policy"] Some("c1.api.policy.v1.DeletePolicyRequestInput") => "c1.api.policy.v1.DeletePolicyResponse", policies::delete),
        route!(POST "/api/v1/search/policies" "c1.api.policy.v1.PolicySearch.Search" ["Policy"] Some("c1.api.policy.v1.SearchPoliciesRequest") => "c1.api.policy.v1.SearchPoliciesResponse", policies::search),
        // Tasks
        route!(POST "/api/v1/task/grant" "c1.api.task.v1.TaskService.CreateGrantTask" ["Task"] Some("c1.api.task.v1.TaskServiceCreateGrantRequest") => "c1.api.task.v1.TaskServiceCreateGrantResponse", tasks::create_grant),
        route!(ext POST "/api/v1/task/grant/preview" "chamberlain.v1.Tasks.PreviewGrant" ["Task"] Some("c1.api.task.v1.TaskServiceCreateGrantRequest") => "chamberlain.v1.GrantPreview", tasks::preview_grant),
        route!(POST "/api/v1/task/revoke" "c1.api.task.v1.TaskService.CreateRevokeTask" ["Task"] Some("c1.api.task.v1.TaskServiceCreateRevokeRequest") => "c1.api.task.v1.TaskServiceCreateRevokeResponse", tasks::create_revoke),
        route!(GET "/api/v1/tasks/{id}" "c1.api.task.v1.TaskService.Get" ["Task"] NONE => "c1.api.task.v1.TaskServiceGetResponse", tasks::get),
        route!(POST "/api/v1/search/tasks" "c1.api.task.v1.TaskSearchService.Search" ["Task"] Some("c1.api.task.v1.TaskSearchRequest") => "c1.api.task.v1.TaskSearchResponse", tasks::search),
        route!(POST "/api/v1/task/audits" "c1.api.task.v1.TaskAudit.List" ["Task"] Some("c1.api.task.v1.TaskAuditListRequest") => "c1.api.task.v1.TaskAuditListResponse", tasks::audits),
        route!(POST "/api/v1/tasks/{task_id}/action/approve" "c1.api.task.v1.TaskActionsService.Approve" ["Task"] Some("c1.api.task.v1.TaskActionsServiceApproveRequestInput") => "c1.api.task.v1.TaskActionsServiceApproveResponse", tasks::approve),
        route!(POST "/api/v1/tasks/{task_id}/action/deny" "c1.api.task.v1.TaskActionsService.Deny" ["Task"] Some("c1.api.task.v1.TaskActionsServiceDenyRequestInput") => "c1.api.task.v1.TaskActionsServiceDenyResponse", tasks::deny),
        route!(POST "/api/v1/tasks/{task_id}/action/comment" "c1.api.task.v1.TaskActionsService.Comment" ["Task"] Some("c1.api.task.v1.TaskActionsServiceCommentRequestInput") => "c1.api.task.v1.TaskActionsServiceCommentResponse", tasks::comment),
        route!(POST "/api/v1/tasks/{task_id}/action/reassign" "c1.api.task.v1.TaskActionsService.Reassign" ["Task"] Some("c1.api.task.v1.TaskActionsServiceReassignRequestInput") => "c1.api.task.v1.TaskActionsServiceReassignResponse", tasks::reassign),
        route!(POST "/api/v1/tasks/{task_id}/action/close" "c1.api.task.v1.TaskActionsService.Close" ["Task"] Some("c1.api.task.v1.TaskActionsServiceCloseRequestInput") => "c1.api.task.v1.TaskActionsServiceCloseResponse", tasks::close),
        route!(POST "/api/v1/tasks/{task_id}/action/escalate" "c1.api.task.v1.TaskActionsService.EscalateToEmergencyAccess" ["Task"] Some("c1.api.task.v1.TaskActionsServiceEscalateToEmergencyAccessRequestInput") => "c1.api.task.v1.TaskServiceActionResponse", tasks::escalate),
        route!(POST "/api/v1/tasks/{task_id}/action/update-grant-duration" "c1.api.task.v1.TaskActionsService.UpdateGrantDuration" ["Task"] Some("c1.api.task.v1.TaskActionsServiceUpdateGrantDurationRequestInput") => "c1.api.task.v1.TaskServiceActionResponse", tasks::update_grant_duration),
        route!(POST "/api/v1/tasks/{task_id}/action/skip-step" "c1.api.task.v1.TaskActionsService.SkipStep" ["Task"] Some("c1.api.task.v1.TaskActionsServiceSkipStepRequestInput") => "c1.api.task.v1.TaskServiceActionResponse", tasks::skip_step),
        route!(POST "/api/v1/tasks/{task_id}/action/retry-provisioning" "c1.api.task.v1.TaskActionsService.RetryProvisioning" ["Task"] Some("c1.api.task.v1.TaskActionsServiceRetryProvisioningRequestInput") => "c1.api.task.v1.TaskServiceActionResponse", tasks::retry_provisioning),
        // Webhooks
        route!(GET "/api/v1/webhooks" "c1.api.webhooks.v1.WebhooksService.List" ["Webhook"] NONE => "c1.api.webhooks.v1.WebhooksServiceListResponse", webhooks::list),
        route!(POST "/api/v1/webhooks" "c1.api.webhooks.v1.WebhooksService.Create" ["Webhook"] Some("c1.api.webhooks.v1.WebhooksServiceCreateRequest") => "c1.api.webhooks.v1.WebhooksServiceCreateResponse", webhooks::create),
        route!(GET "/api/v1/webhooks/{id}" "c1.api.webhooks.v1.WebhooksService.Get" ["Webhook"] NONE => "c1.api.webhooks.v1.WebhooksServiceGetResponse", webhooks::get),
        route!(POST "/api/v1/webhooks/{id}" "c1.api.webhooks.v1.WebhooksService.Update" ["Webhook"] Some("c1.api.webhooks.v1.WebhooksServiceUpdateRequestInput") => "c1.api.webhooks.v1.WebhooksServiceUpdateResponse", webhooks::update),
        route!(DELETE "/api/v1/webhooks/{id}" "c1.api.webhooks.v1.WebhooksService.Delete" ["Webhook"] Some("c1.api.webhooks.v1.WebhooksServiceDeleteRequestInput") => "c1.api.webhooks.v1.WebhooksServiceDeleteResponse", webhooks::delete),
        route!(POST "/api/v1/webhooks/{id}/test" "c1.api.webhooks.v1.WebhooksService.Test" ["Webhook"] Some("c1.api.webhooks.v1.WebhooksServiceTestRequestInput") => "c1.api.webhooks.v1.WebhooksServiceTestResponse", webhooks::test),
        route!(POST "/api/v1/search/webhooks" "c1.api.webhooks.v1.WebhooksSearch.Search" ["Webhook"] Some("c1.api.webhooks.v1.WebhooksSearchRequest") => "c1.api.webhooks.v1.WebhooksSearchResponse", webhooks::search),
        // System log
        route!(POST "/api/v1/systemlog/events" "c1.api.systemlog.v1.SystemLogService.ListEvents" ["System Log"] Some("c1.api.systemlog.v1.SystemLogServiceListEventsRequest") => "c1.api.systemlog.v1.SystemLogServiceListEventsResponse", systemlog::list_events),
    ]
}

/// Routes that need no access token: token issuance, key set, health, metrics, OpenAPI,
/// webhook callback URLs (their token is the credential), and the OAuth authorization server
/// for AI clients (discovery, registration, authorization, sign-in pages).
pub fn public(_state: Shared) -> Router<Shared> {
    Router::new()
        .route("/auth/v1/token", axum::routing::post(token::token))
        .route("/auth/v1/jwks", axum::routing::get(token::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            axum::routing::get(token::metadata),
        )
        .route(
            "/mcp",
            axum::routing::post(crate::mcp_endpoint::post)
                .get(crate::mcp_endpoint::get)
                .delete(crate::mcp_endpoint::delete),
        )
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(token::metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            axum::routing::get(crate::oauth::metadata::protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            axum::routing::get(crate::oauth::metadata::protected_resource),
        )
        .route(
            "/auth/v1/authorize",
            axum::routing::get(crate::oauth::authorize::authorize)
                .post(crate::oauth::authorize::decide),
        )
        .route(
            "/auth/v1/device_authorization",
            axum::routing::post(crate::oauth::device::device_authorization),
        )
        .route(
            "/auth/v1/device",
            axum::routing::get(crate::oauth::device::page).post(crate::oauth::device::decide),
        )
        .route(
            "/auth/v1/register",
            axum::routing::post(crate::oauth::register::register),
        )
        .route(
            "/auth/v1/signin",
            axum::routing::get(crate::oauth::session::signin_page)
                .post(crate::oauth::session::signin_submit),
        )
        .route(
            "/auth/v1/signout",
            axum::routing::post(crate::oauth::session::signout),
        )
        .route(
            "/auth/v1/sso/start",
            axum::routing::get(crate::sso::flow::start),
        )
        .route(
            "/auth/v1/sso/callback",
            axum::routing::get(crate::sso::flow::callback),
        )
        .route(
            "/auth/v1/mcp/connect/{connector_id}",
            axum::routing::get(crate::oauth::connect::page).post(crate::oauth::connect::submit),
        )
        .route(
            "/auth/v1/mcp/callback",
            axum::routing::get(crate::oauth::connect::callback),
        )
        .route(
            "/slack/commands",
            axum::routing::post(crate::slack::command),
        )
        .route(
            "/slack/interactivity",
            axum::routing::post(crate::slack::interactivity),
        )
        .route("/healthz", axum::routing::get(ops::healthz))
        .route("/readyz", axum::routing::get(ops::readyz))
        .route("/metrics", axum::routing::get(ops::metrics))
        .route("/api/v1/openapi.json", axum::routing::get(ops::openapi))
        .route(
            "/api/v1/webhooks/callback/{token}",
            axum::routing::post(webhooks::callback),
        )
}
