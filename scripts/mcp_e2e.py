"""The MCP gateway end to end with the official Python MCP client (`mcp` on PyPI) against a
running Chamberlain: the client discovers the authorization server, registers itself (DCR),
runs the authorization-code flow with PKCE (the browser part — sign-in and consent — is driven
here with httpx), then lists and calls tools through `/mcp` while an admin grants, revokes and
grants for a few seconds (JIT). Used by scripts/test; exits non-zero on any mismatch.

Usage: python scripts/mcp_e2e.py BASE_URL CLIENT_ID CLIENT_SECRET FIXTURE_BIN CHAMBERLAIN_BIN DATA_DIR

The server must allow outbound connections to 127.0.0.1 (`--outbound-allow-hosts 127.0.0.1`),
since the fixture MCP server listens on loopback.
"""
import asyncio
import json
import secrets
import subprocess
import sys
import time
from html.parser import HTMLParser
from importlib.metadata import version
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# Nothing listens here: the redirect handler reads the code from the Location header instead.
REDIRECT_URI = "http://127.0.0.1:8976/callback"
TOOL = "fx_echo"
DENIAL = f"Access denied: tool `{TOOL}` is not in your current tool list."
JIT_SECONDS = 3


class Failure(Exception):
    """A mismatch between what Chamberlain did and what this test expects."""


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failure(what)


# ---------------------------------------------------------------------------- admin side


class Admin:
    """Chamberlain's REST API as the super-admin client created by scripts/test."""

    def __init__(self, http: httpx.AsyncClient, client_id: str, client_secret: str):
        self.http = http
        self.client_id, self.client_secret = client_id, client_secret

    async def login(self) -> None:
        resp = await self.http.post(
            "/auth/v1/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
        )
        check(resp.status_code == 200, f"admin token: {resp.status_code} {resp.text}")
        self.http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    async def call(self, method: str, path: str, body: dict | None = None) -> dict:
        resp = await self.http.request(method, path, json=body)
        check(resp.status_code == 200, f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json()


async def auto_approved_app(admin: Admin) -> str:
    """An app whose grant and revoke policies accept at once, so grants apply synchronously."""
    app = (await admin.call("POST", "/api/v1/apps", {"displayName": "MCP e2e"}))["app"]["id"]
    grant = await admin.call("POST", "/api/v1/policies", {
        "displayName": "MCP e2e auto grant", "policyType": "POLICY_TYPE_GRANT",
        "policySteps": {"grant": {"steps": [{"accept": {}}]}}})
    revoke = await admin.call("POST", "/api/v1/policies", {
        "displayName": "MCP e2e auto revoke", "policyType": "POLICY_TYPE_REVOKE",
        "policySteps": {"revoke": {"steps": [{"accept": {}}]}}})
    await admin.call("POST", f"/api/v1/apps/{app}", {
        "app": {"grantPolicyId": grant["policy"]["id"], "revokePolicyId": revoke["policy"]["id"]},
        "updateMask": "grantPolicyId,revokePolicyId"})
    return app


async def register_fixture(admin: Admin, app: str, url: str) -> str:
    """Registers the fixture as an external MCP server whose tools need review; returns its id."""
    reg = await admin.call("POST", f"/api/v1/apps/{app}/mcp_servers", {
        "displayName": "MCP e2e fixture", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": "fx",
        "externalConfig": {"url": url, "transportType": "MCP_SERVER_TRANSPORT_TYPE_STREAMABLE_HTTP",
                           "requireToolApproval": "OPTIONAL_BOOL_TRUE"}})
    server = reg["mcpServer"]
    check(server["chamberlainLastDiscovery"]["ok"] is True, f"discovery failed: {server['chamberlainLastDiscovery']}")
    return server["connectorId"]


async def approve_echo_only(admin: Admin, app: str, server: str) -> None:
    """Approves `echo`; every other discovered tool stays pending review."""
    tools = (await admin.call("GET", f"/api/v1/apps/{app}/connectors/{server}/mcp_tools?page_size=100"))["tools"]
    by_name = {t["toolName"]: t for t in tools}
    check("echo" in by_name, f"fixture has no echo tool: {sorted(by_name)}")
    pending = [t["toolName"] for t in tools if t["state"] != "MCP_TOOL_STATE_PENDING_REVIEW"]
    check(not pending, f"tools not pending review despite requireToolApproval: {pending}")
    await admin.call("POST", f"/api/v1/apps/{app}/connectors/{server}/mcp_tools/{by_name['echo']['id']}",
                     {"tool": {"state": "MCP_TOOL_STATE_APPROVED"}, "updateMask": "state"})


async def all_approved_toolset(admin: Admin, app: str, server: str) -> str:
    """The entitlement of the built-in "All approved" toolset."""
    sets = (await admin.call("GET", f"/api/v1/apps/{app}/connectors/{server}/mcp_toolsets"))["profiles"]
    found = [t for t in sets if t["chamberlainBuiltIn"] == "ALL_APPROVED"]
    check(len(found) == 1, f"expected one ALL_APPROVED toolset: {sets}")
    check(str(found[0]["toolCount"]) == "1", f"All approved should hold echo only: {found[0]}")
    return found[0]["appEntitlementId"]


async def grant(admin: Admin, app: str, ent: str, user: str, duration: str | None = None) -> None:
    body = {"appId": app, "appEntitlementId": ent, "identityUserId": user, "description": "MCP e2e"}
    if duration:
        body["grantDuration"] = duration
    task = (await admin.call("POST", "/api/v1/task/grant", body))["taskView"]["task"]
    check(task["type"]["grant"]["outcome"] == "GRANT_OUTCOME_GRANTED", f"grant not granted: {task}")


async def revoke(admin: Admin, app: str, ent: str, user: str) -> None:
    body = {"appId": app, "appEntitlementId": ent, "identityUserId": user, "description": "MCP e2e"}
    task = (await admin.call("POST", "/api/v1/task/revoke", body))["taskView"]["task"]
    check(task["type"]["revoke"]["outcome"] == "REVOKE_OUTCOME_REVOKED", f"revoke not revoked: {task}")


def create_user(chamberlain: str, data_dir: str, email: str, password: str) -> str:
    """A local user with a password, through the CLI (password on stdin, never in argv)."""
    out = subprocess.run(
        [chamberlain, "admin", "create-user", "--email", email, "--display-name", "MCP e2e user",
         "--password-stdin", "--output", "json", "--data-dir", data_dir],
        input=password + "\n", capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, f"create-user failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout)["id"]


# ---------------------------------------------------------------------------- fixture


def start_fixture(binary: str) -> tuple[subprocess.Popen, str]:
    """Starts the fixture MCP server on a free loopback port; returns it and its URL."""
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise Failure(f"unexpected fixture output: {line!r}")
    return proc, line.removeprefix("listening on ")


# ---------------------------------------------------------------------------- the AI client


class MemoryStorage:
    """The client's TokenStorage, kept in memory for this run."""

    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


class HiddenFields(HTMLParser):
    """Collects the hidden inputs of a page's form (CSRF token, the authorization request)."""

    def __init__(self, html: str):
        super().__init__()
        self.fields: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value") or ""


def page_says(resp: httpx.Response) -> str:
    """A page's error message (`<p id="error">`), or the start of the body."""
    html = resp.text
    start = html.find('id="error">')
    if start >= 0:
        return html[start + len('id="error">'):html.find("</p>", start)]
    return html[:300]


class Browser:
    """The user's browser: signs in with email and password, allows the client on the consent
    page and hands the redirect's query to the client's callback handler."""

    def __init__(self, base: str, email: str, password: str):
        self.base, self.email, self.password = base, email, password
        self.result: AuthorizationCodeResult | None = None
        self.pages: list[str] = []  # what the user went through, for the summary

    async def redirect_handler(self, authorize_url: str) -> None:
        check(authorize_url.startswith(f"{self.base}/auth/v1/authorize?"), f"unexpected authorize URL {authorize_url}")
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as b:
            resp = await b.get(authorize_url)
            if resp.status_code == 303 and resp.headers["location"].startswith("/auth/v1/signin"):
                self.pages.append("sign-in")
                resp = await self.sign_in(b, urljoin(self.base, resp.headers["location"]))
            check(resp.status_code == 200 and 'id="client-name"' in resp.text,
                  f"expected the consent page, got {resp.status_code}: {page_says(resp)}")
            self.pages.append("consent")
            form = HiddenFields(resp.text).fields | {"decision": "allow"}
            resp = await b.post(f"{self.base}/auth/v1/authorize", data=form)
            location = resp.headers.get("location", "")
            check(resp.status_code == 303 and location.startswith(REDIRECT_URI + "?"),
                  f"consent did not redirect to the client: {resp.status_code} {location or page_says(resp)}")
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        check("code" in query, f"no code in the redirect: {location}")
        self.result = AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    async def sign_in(self, b: httpx.AsyncClient, signin_url: str) -> httpx.Response:
        page = await b.get(signin_url)
        check(page.status_code == 200, f"sign-in page: {page.status_code}")
        form = HiddenFields(page.text).fields | {"email": self.email, "password": self.password}
        resp = await b.post(f"{self.base}/auth/v1/signin", data=form)
        back = resp.headers.get("location", "")
        check(resp.status_code == 303 and back.startswith("/auth/v1/authorize?"),
              f"sign-in failed: {resp.status_code} {back or page_says(resp)}")
        return await b.get(urljoin(self.base, back))

    async def callback_handler(self) -> AuthorizationCodeResult:
        check(self.result is not None, "callback before the redirect handler finished")
        result, self.result = self.result, None
        return result


def oauth_provider(base: str, browser: Browser) -> OAuthClientProvider:
    """The official client's OAuth support: discovery, DCR, PKCE, token exchange and refresh."""
    metadata = OAuthClientMetadata(
        client_name="Chamberlain MCP e2e (official Python client)",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )
    return OAuthClientProvider(
        server_url=f"{base}/mcp",
        client_metadata=metadata,
        storage=MemoryStorage(),
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
    )


async def tool_names(session: ClientSession) -> list[str]:
    return sorted(t.name for t in (await session.list_tools()).tools)


async def call_echo(session: ClientSession, message: str) -> tuple[bool, str]:
    """Calls fx_echo; returns (isError, the first text content)."""
    result = await session.call_tool(TOOL, {"message": message})
    text = next((c.text for c in result.content if c.type == "text"), "")
    return bool(result.is_error), text


async def expect_echo(session: ClientSession, message: str) -> None:
    is_error, text = await call_echo(session, message)
    check(not is_error and text == message, f"{TOOL} should echo {message!r}, got isError={is_error} {text!r}")


async def expect_denied(session: ClientSession, when: str) -> None:
    is_error, text = await call_echo(session, "denied?")
    check(is_error and text == DENIAL, f"{when}: expected isError and {DENIAL!r}, got isError={is_error} {text!r}")


# ---------------------------------------------------------------------------- the run


async def run(base: str, client_id: str, client_secret: str, fixture_url: str, chamberlain: str, data_dir: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        admin = Admin(http, client_id, client_secret)
        await admin.login()
        return await scenario(base, admin, fixture_url, chamberlain, data_dir)


async def scenario(base: str, admin: Admin, fixture_url: str, chamberlain: str, data_dir: str) -> str:
    # 1. The governed server: echo approved, everything else pending review.
    app = await auto_approved_app(admin)
    server = await register_fixture(admin, app, fixture_url)
    await approve_echo_only(admin, app, server)
    ent = await all_approved_toolset(admin, app, server)

    # 2. A person who signs in with a password.
    email = f"mcp-e2e-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(18)
    user = create_user(chamberlain, data_dir, email, password)

    # 3. The AI client connects; its first request gets the 401 that starts the OAuth flow.
    browser = Browser(base, email, password)
    provider = oauth_provider(base, browser)
    async with (
        httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        client = provider.context.client_info
        check(client is not None and client.client_id, "the client did not register")
        check(browser.pages == ["sign-in", "consent"], f"browser went through {browser.pages}")

        # 4. No grant, no tools; with the grant, exactly the approved one, and it works.
        check(await tool_names(session) == [], "tools listed before any grant")
        await grant(admin, app, ent, user)
        names = await tool_names(session)
        check(names == [TOOL], f"after the grant expected [{TOOL}], got {names}")
        await expect_echo(session, "hello")

        # 5. Revocation applies to the very next call.
        await revoke(admin, app, ent, user)
        await expect_denied(session, "after revocation")

        # 6. JIT: a grant for a few seconds works, then denies once it has ended.
        await grant(admin, app, ent, user, f"{JIT_SECONDS}s")
        granted_at = time.monotonic()
        await expect_echo(session, "jit")
        # The server made the grant before answering, so it has ended by granted_at + JIT_SECONDS.
        await asyncio.sleep(max(0.0, granted_at + JIT_SECONDS + 0.3 - time.monotonic()))
        await expect_denied(session, "after the JIT grant ended")

    return (f"MCP e2e OK (mcp {version('mcp')}, protocol {init.protocol_version}): client {client.client_id} "
            f"registered and signed in as {email}; tools [] -> [{TOOL}] -> echo ok -> revoked denied -> "
            f"JIT {JIT_SECONDS}s ok then denied")


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The real errors inside anyio's exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in leaf_errors(e)]
    return [exc]


def main() -> int:
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    base, client_id, client_secret, fixture_bin, chamberlain, data_dir = sys.argv[1:]
    base = base.rstrip("/")
    fixture = None
    try:
        fixture, fixture_url = start_fixture(fixture_bin)
        print(asyncio.run(run(base, client_id, client_secret, fixture_url, chamberlain, data_dir)))
        return 0
    except BaseException as exc:  # noqa: BLE001 - report whatever broke, then fail
        for err in leaf_errors(exc):
            kind = "" if isinstance(err, Failure) else f"{type(err).__name__}: "
            print(f"MCP e2e FAILED: {kind}{err}", file=sys.stderr)
        return 1
    finally:
        if fixture:
            fixture.kill()
            fixture.wait()


if __name__ == "__main__":
    sys.exit(main())
