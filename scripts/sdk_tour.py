"""The README's five-minute tour, run with C1's official Python SDK (conductorone-sdk) against a
running Chamberlain. Used by scripts/test; exits non-zero on any mismatch.

Usage: python scripts/sdk_tour.py BASE_URL CLIENT_ID CLIENT_SECRET
"""
import sys
import time

import requests
from conductorone_sdk import SDK
from conductorone_sdk.models import shared

base, client_id, client_secret = sys.argv[1], sys.argv[2], sys.argv[3]

# 1. Exchange the client credentials for an access token.
resp = requests.post(
    f"{base}/auth/v1/token",
    data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    timeout=10,
)
resp.raise_for_status()
token = resp.json()["access_token"]

# 2. Point the SDK at Chamberlain.
sdk = SDK(security=shared.Security(bearer_auth=token, oauth=token), server_url=base)

# 3. Create an app and an entitlement.
app = sdk.apps.create(request={"display_name": "SDK tour app"}).create_app_response.app
ent = sdk.app_entitlements.create(
    request={"app_id": app.id, "create_app_entitlement_request": {"display_name": "Admins", "duration_grant": "3600s"}}
).create_app_entitlement_response.app_entitlement_view.app_entitlement

# 4. Add a member: the calling service user gets an account in the app and the grant.
me = requests.get(f"{base}/api/v1/auth/introspect", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["userId"]
sdk.app_entitlements.add_manually_managed_members(
    request={"app_id": app.id, "app_entitlement_id": ent.id, "add_manually_managed_users_request": {"user_ids": [me]}}
)

# 5. Read it back.
users = sdk.app_entitlements.list_users(request={"app_id": app.id, "app_entitlement_id": ent.id}).list_app_entitlement_users_response
assert len(users.list) == 1, users
apps = sdk.apps.list().list_apps_response
assert any(a.id == app.id for a in apps.list), apps
# 6. Make an HR spreadsheet app a directory and read the users it created.
hr = sdk.apps.create(request={"display_name": "SDK tour HR"}).create_app_response.app
auth = {"Authorization": f"Bearer {token}"}
conn = requests.post(f"{base}/api/v1/apps/{hr.id}/connectors", json={"displayName": "sheet"}, headers=auth, timeout=10).json()
conn_id = conn["connectorView"]["connector"]["id"]
csv = "User ID,Email Address,Full Name,Department\nu1,tour.ann@example.com,Ann Tour,Eng\n"
requests.post(f"{base}/api/v1/apps/{hr.id}/connectors/{conn_id}/file", data=csv, headers=auth, timeout=10).raise_for_status()
created = sdk.directory.create(request={"app_id": hr.id}).directory_service_create_response
assert created.directory_view.directory.app_id == hr.id, created
dirs = sdk.directory.list().directory_service_list_response
assert any(d.directory.app_id == hr.id for d in dirs.list), dirs
for _ in range(100):
    found = sdk.user_search.search(request={"email": "tour.ann@example.com"}).search_users_response
    if found.list:
        break
    time.sleep(0.1)
assert found.list and found.list[0].user.department == "Eng", found

# 7. Request access through a policy with an approval step, approve it, and read the task.
pol = sdk.policies.create(
    request={
        "display_name": "SDK tour approval",
        "policy_type": "POLICY_TYPE_GRANT",
        "policy_steps": {"grant": {"steps": [{"approval": {"users": {"user_ids": [me], "allow_self_approval": True}}}, {"provision": {}}]}},
    }
).create_policy_response.policy
guarded = sdk.app_entitlements.create(
    request={"app_id": app.id, "create_app_entitlement_request": {"display_name": "Deployers", "grant_policy_id": pol.id}}
).create_app_entitlement_response.app_entitlement_view.app_entitlement
task = sdk.task.create_grant_task(
    request={"app_id": app.id, "app_entitlement_id": guarded.id, "identity_user_id": me, "description": "SDK tour"}
).task_service_create_grant_response.task_view.task
assert task.state == "TASK_STATE_OPEN" and me in task.step_approver_ids, task
step = task.policy_instance.policy_step_instance.id
sdk.task_actions.approve(
    request={"task_id": task.id, "task_actions_service_approve_request": {"comment": "ok", "policy_step_id": step}}
)
done = sdk.task.get(request={"id": task.id}).task_service_get_response.task_view.task
assert done.state == "TASK_STATE_CLOSED" and done.task_type.task_type_grant.outcome == "GRANT_OUTCOME_GRANTED", done
mine = sdk.task_search.search(request={"subject_ids": [me]}).task_search_response
assert any(v.task.id == task.id for v in mine.list), mine

print(f"SDK tour OK: app {app.id}, entitlement {ent.id}, {len(users.list)} member, directory {hr.id}, task {done.numeric_id} granted")
