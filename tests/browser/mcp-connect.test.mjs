// The per-user OAuth click-path of the AI access guide: "Go to your profile menu and click AI &
// API > MCP connections > Connect". The downstream MCP server is a second Chamberlain's gateway
// (its own OAuth authorization server, sign-in and consent), so the whole round trip runs
// offline in the browser: Chamberlain A's Connect → B's sign-in and consent → A's callback →
// connected as B's user → Disconnect.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { startServer, launchBrowser, newPage, signIn, screenshot, FIXTURE_BIN, PASSWORD } from "./lib/harness.mjs";

let a, b, browser, fixture;

async function autoApp(api, name) {
  const app = (await api("POST", "/api/v1/apps", { displayName: name })).app.id;
  const policy = (
    await api("POST", "/api/v1/policies", {
      displayName: `${name} auto`,
      policyType: "POLICY_TYPE_GRANT",
      policySteps: { grant: { steps: [{ accept: {} }] } },
    })
  ).policy.id;
  await api("POST", `/api/v1/apps/${app}`, { app: { grantPolicyId: policy }, updateMask: "grantPolicyId" });
  return app;
}

async function allApproved(api, app, server) {
  const sets = (await api("GET", `/api/v1/apps/${app}/connectors/${server}/mcp_toolsets`)).profiles;
  return sets.find((t) => t.chamberlainBuiltIn === "ALL_APPROVED").appEntitlementId;
}

before(async () => {
  // B: the downstream service, on "localhost" so its session cookie is not A's.
  b = await startServer([], { host: "localhost" });
  // A: the gateway the employee uses; it may reach B.
  a = await startServer([], { allowHosts: ["127.0.0.1", "localhost"] });
  browser = await launchBrowser();
  const proc = spawn(FIXTURE_BIN, ["--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "ignore"] });
  const line = await new Promise((ok) => createInterface({ input: proc.stdout }).once("line", ok));
  fixture = { proc, url: line.replace("listening on ", "").trim() };

  const bApp = await autoApp(b.api, "Fixture at B");
  const bServer = (
    await b.api("POST", `/api/v1/apps/${bApp}/mcp_servers`, {
      displayName: "Fixture",
      serverType: "MCP_SERVER_TYPE_EXTERNAL",
      toolPrefix: "fx",
      externalConfig: { url: fixture.url, requireToolApproval: "OPTIONAL_BOOL_FALSE" },
    })
  ).mcpServer.connectorId;
  const bob = b.user("bob@example.com", "Bob at B");
  await b.api("POST", "/api/v1/task/grant", {
    appId: bApp,
    appEntitlementId: await allApproved(b.api, bApp, bServer),
    identityUserId: bob,
  });

  const aApp = await autoApp(a.api, "Service B");
  const aServer = (
    await a.api("POST", `/api/v1/apps/${aApp}/mcp_servers`, {
      displayName: "Service B",
      serverType: "MCP_SERVER_TYPE_EXTERNAL",
      toolPrefix: "b",
      externalConfig: {
        url: `${b.base}/mcp`,
        requireToolApproval: "OPTIONAL_BOOL_FALSE",
        oauth2: { mode: "MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH" },
      },
    })
  ).mcpServer.connectorId;
  const alice = a.user("alice@example.com", "Alice Adams");
  await a.api("POST", "/api/v1/task/grant", {
    appId: aApp,
    appEntitlementId: await allApproved(a.api, aApp, aServer),
    identityUserId: alice,
  });
});

after(async () => {
  fixture?.proc.kill();
  await browser?.close();
  await a?.stop();
  await b?.stop();
});

test("AI & API > MCP connections > Connect authorizes my own account, Disconnect revokes it", async () => {
  const page = await newPage(browser);
  await signIn(page, a.base, "alice@example.com", "/requests");
  await page.locator("#profile-menu summary").click();
  await page.getByRole("link", { name: "AI & API" }).click();
  await page.getByRole("link", { name: "MCP connections" }).click();
  const row = page.locator("#mcp-connections tr", { hasText: "Service B" });
  assert.match(await row.innerText(), /Not connected/);
  await screenshot(page, "mcp-connections-before");
  await row.getByRole("link", { name: "Connect" }).click();

  // A's connect page, then B's sign-in and consent, then back to A.
  await page.getByRole("button", { name: /^(Connect|Reconnect)/ }).first().click();
  await page.waitForURL(new RegExp(`^${b.base}/auth/v1/signin`));
  await page.getByLabel("Email").fill("bob@example.com");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL(new RegExp(`^${a.base}/`));
  assert.match(await page.locator("#connected").innerText(), /connected/);

  await page.goto(`${a.base}/ai-api?tab=mcp`);
  const connected = page.locator("#mcp-connections tr", { hasText: "Service B" });
  assert.match(await connected.innerText(), /Connected/);
  assert.match(await connected.innerText(), /Reconnect/);
  await screenshot(page, "mcp-connections-connected");

  page.once("dialog", (d) => d.accept());
  await connected.getByRole("button", { name: "Disconnect" }).click();
  assert.match(await page.locator("#notice").innerText(), /Revoked/);
  assert.match(
    await page.locator("#mcp-connections tr", { hasText: "Service B" }).innerText(),
    /Not connected/,
  );
});
