// The AI-access flow of the seeds in a real browser: an AI client connects to Chamberlain's
// MCP gateway (OAuth 2.1 with PKCE: sign-in and consent in the browser), sees no governed
// tools, its user requests the access profile holding a toolset from the web catalog, the
// approver approves in Tasks, and the client's tool list now has the toolset's tools.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { startServer, launchBrowser, newPage, signIn, screenshot, FIXTURE_BIN } from "./lib/harness.mjs";

const REDIRECT = "http://127.0.0.1:8976/callback";
let server, browser, fixture, ids;

async function startFixture() {
  const proc = spawn(FIXTURE_BIN, ["--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "ignore"] });
  const line = await new Promise((ok) => createInterface({ input: proc.stdout }).once("line", ok));
  assert.match(line, /^listening on /);
  return { proc, url: line.replace("listening on ", "").trim() };
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  fixture = await startFixture();
  const alice = server.user("alice@example.com", "Alice Adams");
  const carol = server.user("carol@example.com", "Carol Chen");
  const { api } = server;
  const app = (await api("POST", "/api/v1/apps", { displayName: "Echo service" })).app.id;
  const reg = await api("POST", `/api/v1/apps/${app}/mcp_servers`, {
    displayName: "Echo service",
    serverType: "MCP_SERVER_TYPE_EXTERNAL",
    toolPrefix: "fx",
    externalConfig: {
      url: fixture.url,
      transportType: "MCP_SERVER_TRANSPORT_TYPE_STREAMABLE_HTTP",
      requireToolApproval: "OPTIONAL_BOOL_TRUE",
    },
  });
  const connector = reg.mcpServer.connectorId;
  const tools = (await api("GET", `/api/v1/apps/${app}/connectors/${connector}/mcp_tools?page_size=100`)).tools;
  const echo = tools.find((t) => t.toolName === "echo");
  await api("POST", `/api/v1/apps/${app}/connectors/${connector}/mcp_tools/${echo.id}`, {
    tool: { state: "MCP_TOOL_STATE_APPROVED" },
    updateMask: "state",
  });
  const toolset = (await api("GET", `/api/v1/apps/${app}/connectors/${connector}/mcp_toolsets`)).profiles.find(
    (t) => t.chamberlainBuiltIn === "ALL_APPROVED",
  );
  // The access profile holding the toolset; joining it needs Carol's approval.
  const profile = (
    await api("POST", "/api/v1/catalogs", {
      displayName: "AI: Echo tools",
      description: "Echo tools for your AI assistant",
      published: true,
      visibleToEveryone: true,
      requestBundle: true,
    })
  ).requestCatalogView.requestCatalog;
  await api("POST", `/api/v1/catalogs/${profile.id}/requestable_entries`, {
    appEntitlements: [{ appId: app, id: toolset.appEntitlementId }],
  });
  const policy = (
    await api("POST", "/api/v1/policies", {
      displayName: "Carol approves AI tools",
      policyType: "POLICY_TYPE_GRANT",
      policySteps: { grant: { steps: [{ approval: { users: { userIds: [carol] } } }] } },
    })
  ).policy.id;
  const builtin = "0000000000000000Chamberlain";
  await api("POST", `/api/v1/apps/${builtin}/entitlements/${profile.enrollmentEntitlementId}`, {
    entitlement: { grantPolicyId: policy },
    updateMask: "grantPolicyId",
  });
  ids = { alice, carol, enrollment: profile.enrollmentEntitlementId };
});

after(async () => {
  fixture?.proc.kill();
  await browser?.close();
  await server?.stop();
});

/** A minimal MCP client over Streamable HTTP (JSON or SSE answers). */
function mcpClient(base, token) {
  let session = null;
  let version = null;
  let next = 1;
  async function rpc(method, params, notify = false) {
    const headers = {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    };
    if (session) headers["mcp-session-id"] = session;
    if (version) headers["mcp-protocol-version"] = version;
    const body = notify ? { jsonrpc: "2.0", method, params } : { jsonrpc: "2.0", id: next++, method, params };
    const r = await fetch(`${base}/mcp`, { method: "POST", headers, body: JSON.stringify(body) });
    if (notify) return null;
    const text = await r.text();
    assert.equal(r.status, 200, `${method}: ${r.status} ${text}`);
    session = r.headers.get("mcp-session-id") || session;
    const json = r.headers.get("content-type")?.includes("text/event-stream")
      ? JSON.parse(text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join(""))
      : JSON.parse(text);
    assert.ok(!json.error, `${method}: ${JSON.stringify(json.error)}`);
    return json.result;
  }
  return {
    async connect() {
      const init = await rpc("initialize", {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "browser-test-client", version: "1.0" },
      });
      version = init.protocolVersion;
      await rpc("notifications/initialized", {}, true);
    },
    async toolNames() {
      return (await rpc("tools/list", {})).tools.map((t) => t.name).sort();
    },
  };
}

test("an AI client's tools change after a request is approved in the web app", async () => {
  const base = server.base;
  // The AI client registers itself and sends its user to the authorization page.
  const reg = await (
    await fetch(`${base}/auth/v1/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_name: "Browser test AI client", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
    })
  ).json();
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const authorize = new URL(`${base}/auth/v1/authorize`);
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: reg.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s1",
    resource: `${base}/mcp`,
  }))
    authorize.searchParams.set(k, v);

  const alice = await newPage(browser);
  let code = null;
  await alice.route("http://127.0.0.1:8976/**", (route) => {
    code = new URL(route.request().url()).searchParams.get("code");
    route.fulfill({ status: 200, contentType: "text/html", body: "<p>You can close this window.</p>" });
  });
  await alice.goto(authorize.toString());
  await alice.getByLabel("Email").fill("alice@example.com");
  await alice.getByLabel("Password").fill("correct horse battery staple");
  await alice.getByRole("button", { name: "Sign in" }).click();
  await alice.getByRole("button", { name: "Allow" }).waitFor();
  await screenshot(alice, "mcp-consent");
  await alice.getByRole("button", { name: "Allow" }).click();
  await alice.waitForURL(/8976\/callback/);
  assert.ok(code, "the client received an authorization code");
  const tok = await (
    await fetch(`${base}/auth/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: REDIRECT,
        client_id: reg.client_id,
        code_verifier: verifier,
        resource: `${base}/mcp`,
      }),
    })
  ).json();
  assert.ok(tok.access_token, JSON.stringify(tok));
  const mcp = mcpClient(base, tok.access_token);
  await mcp.connect();
  assert.deepEqual((await mcp.toolNames()).filter((n) => n.startsWith("fx_")), [], "no governed tools before the request");

  // The AI & API page shows the MCP URL and the connected client.
  await alice.goto(`${base}/ai-api`);
  assert.equal(await alice.locator("#mcp-url").inputValue(), `${base}/mcp`);
  assert.match(await alice.locator("#ai-connections").innerText(), /Browser test AI client/);
  await screenshot(alice, "ai-and-api");

  // Request the profile from the catalog: its card names the toolset's tools and the approver.
  await alice.goto(`${base}/requests?q=${encodeURIComponent("Echo tools")}`);
  await screenshot(alice, "catalog-ai-profile");
  const card = alice.locator(`article[data-entitlement="${ids.enrollment}"]`);
  await card.waitFor();
  assert.match(await card.innerText(), /Approval by Carol Chen/);
  assert.match(await card.innerText(), /fx_echo/);
  await card.getByRole("link", { name: "Request access" }).click();
  await alice.getByLabel(/Justification/).fill("Summaries for the weekly report");
  await alice.getByRole("button", { name: "Submit" }).click();
  assert.match(await alice.locator("#request-status").innerText(), /Open/);

  const carol = await newPage(browser);
  await signIn(carol, base, "carol@example.com", "/tasks");
  await carol.locator("article.task").first().getByRole("button", { name: "Approve" }).click();
  assert.match(await carol.locator("#notice").innerText(), /Approved/);

  let names = [];
  for (let i = 0; i < 50 && !names.includes("fx_echo"); i++) {
    names = await mcp.toolNames();
    if (!names.includes("fx_echo")) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(names.includes("fx_echo"), `fx_echo appears after approval (tools: ${names})`);
  assert.ok(!names.some((n) => n.startsWith("fx_") && n !== "fx_echo"), "tools still pending review stay hidden");
});
