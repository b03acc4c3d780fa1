// The admin side of AI access management in a real browser: register the project's fixture MCP
// server (running on loopback in this test) from the catalog, review its tools on the Tools tab
// (pending review → approved / disabled, classification), build a toolset and see the access
// profile it is in, the AI clients tab, the kill switches with their confirmation questions,
// the Okta template (instance URL, per-user OAuth vs service mode; a bad instance URL is
// refused with the API's message), the tool usage audit and Settings › AI Connections.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { existsSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { startServer, launchBrowser, newPage, signIn, screenshot, FIXTURE_BIN, BIN } from "./lib/harness.mjs";

const fixtureBin =
  process.env.FIXTURE_BIN ||
  (process.env.CHAMBERLAIN_BIN && existsSync(join(dirname(BIN), "chamberlain-mcp-fixture"))
    ? join(dirname(BIN), "chamberlain-mcp-fixture")
    : FIXTURE_BIN);

let server, browser, fixture, fixtureUrl, toolsDir, toolsFile;

/** The fixture's extra tool, re-read on every tools/list (so its definition can change). */
function writeTools(description) {
  writeFileSync(
    toolsFile,
    JSON.stringify([
      { name: "lookup_ticket", description, annotations: { readOnlyHint: true }, inputSchema: { type: "object", properties: { id: { type: "string" } } } },
    ]),
  );
}

/** Starts the fixture MCP server over Streamable HTTP on a free loopback port. */
async function startFixture() {
  const proc = spawn(fixtureBin, ["--listen", "127.0.0.1:0", "--tools-file", toolsFile], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`fixture did not start: ${out}`)), 15_000);
    const onData = (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+\/mcp)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", (d) => (out += d));
    proc.once("exit", (c) => fail(new Error(`fixture exited ${c}: ${out}`)));
  });
  return { proc, url };
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  server.user("admin@example.com", "Ada Admin", "super-admin");
  server.user("reader@example.com", "Rita Reader", "read-only-admin");
  toolsDir = mkdtempSync(join(tmpdir(), "chamberlain-admin-ai-"));
  toolsFile = join(toolsDir, "tools.json");
  writeTools("Looks up a support ticket");
  ({ proc: fixture, url: fixtureUrl } = await startFixture());
});

after(async () => {
  fixture?.kill("SIGTERM");
  await browser?.close();
  await server?.stop();
  if (toolsDir) rmSync(toolsDir, { recursive: true, force: true });
});

/** Accepts the next confirmation dialog, checking its question. */
function acceptConfirm(page, pattern) {
  return new Promise((ok, fail) => {
    page.once("dialog", async (d) => {
      try {
        assert.equal(d.type(), "confirm");
        assert.match(d.message(), pattern);
        await d.accept();
        ok();
      } catch (e) {
        fail(e);
      }
    });
  });
}

test("register the fixture, review tools, build a toolset, switches and audit", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/ai");
  assert.equal(new URL(page.url()).pathname, "/admin/ai");
  assert.match(await page.locator("#mcp-servers-empty").innerText(), /No MCP server is registered yet/);

  // Register an MCP server › Remote MCP server.
  await page.getByRole("link", { name: "Register an MCP server" }).click();
  await page.locator("#catalog").waitFor();
  assert.match(await page.locator("#catalog").innerText(), /Okta/);
  await screenshot(page, "admin-ai-catalog");
  await page.getByRole("link", { name: "Select Remote MCP server" }).click();
  await page.getByLabel("Display name").fill("Support fixture");
  await page.getByLabel("Server URL (Streamable HTTP)").fill(fixtureUrl);
  await page.getByLabel("Tool prefix").fill("fx");
  await page.getByLabel("New tools").selectOption("true");
  assert.match(await page.locator("#discovery-note").innerText(), /does not confirm that authentication works/);
  // Only the chosen method's fields show (the script hides the others).
  assert.equal(await page.getByLabel("Token", { exact: true }).isVisible(), false);
  await page.getByLabel("Authentication").selectOption("bearer");
  assert.equal(await page.getByLabel("Token", { exact: true }).isVisible(), true);
  await page.getByLabel("Authentication").selectOption("none");

  await page.getByRole("button", { name: "Test connection" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#notice").innerText(), /answered and listed \d+ tools/);
  assert.match(await page.locator("#notice").innerText(), /does not confirm that authentication works/);
  assert.equal(await page.getByLabel("Server URL (Streamable HTTP)").inputValue(), fixtureUrl);
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#notice").innerText(), /registered/);
  assert.match(await page.locator("#last-discovery").innerText(), /Discovered/);
  await screenshot(page, "admin-ai-server-overview");
  const [, , , , appId, connId] = new URL(page.url()).pathname.split("/");
  const serverHref = `/admin/ai/servers/${appId}/${connId}`;

  // Settings and write-only credentials on the Overview tab.
  await page.locator("#edit-server").getByLabel("Description").fill("The project's MCP fixture");
  await page.locator("#edit-server").getByRole("button", { name: "Save" }).click();
  await page.locator("#notice").waitFor();
  assert.equal(await page.locator("#edit-server").getByLabel("Description").inputValue(), "The project's MCP fixture");
  await page.locator("#credentials").getByLabel("Authentication").selectOption("bearer");
  await page.locator("#credentials").getByLabel("Token", { exact: true }).fill("tok-very-secret");
  await page.getByRole("button", { name: "Save authentication" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#server-facts").innerText(), /Bearer token: set/);
  assert.doesNotMatch(await page.content(), /tok-very-secret/);
  const stored = (await server.api("GET", `/api/v1/apps/${appId}/mcp_servers/${connId}`)).mcpServer;
  assert.equal(stored.bearerTokenConfigured, true);
  assert.doesNotMatch(JSON.stringify(stored), /tok-very-secret/);

  // Tools tab: every discovered tool waits for review.
  await page.getByRole("link", { name: "Tools", exact: true }).click();
  await page.locator("#tool-filters").getByRole("link", { name: "Pending review" }).click();
  const row = (name) => page.locator("#tools tr", { has: page.locator(`form[data-tool="${name}"]`) });
  await row("echo").waitFor();
  assert.match(await row("echo").innerText(), /Pending review/);
  assert.match(await row("delete_item").innerText(), /Pending review/);
  await screenshot(page, "admin-ai-tools-pending");

  // Approve echo with a classification, approve whoami in bulk, disable delete_item.
  await row("echo").getByLabel("Classification of echo").selectOption("TOOL_CLASSIFICATION_READ");
  await row("echo").getByRole("button", { name: "Approve" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#notice").innerText(), /Approved/);
  await page.getByLabel("Select whoami").check();
  await page.getByRole("button", { name: "Approve selected" }).click();
  await page.locator("#notice").waitFor();
  await row("delete_item").getByRole("button", { name: "Disable" }).click();
  await page.locator("#notice").waitFor();
  assert.equal(await row("echo").count(), 0, "echo left the pending list");

  await page.locator("#tool-filters").getByRole("link", { name: "Approved" }).click();
  await row("echo").waitFor();
  assert.match(await row("echo").innerText(), /Approved/);
  assert.match(await row("whoami").innerText(), /Approved/);
  assert.equal(await row("echo").getByLabel("Classification of echo").inputValue(), "TOOL_CLASSIFICATION_READ");
  await screenshot(page, "admin-ai-tools-approved");
  await page.locator("#tool-filters").getByRole("link", { name: "Disabled" }).click();
  await row("delete_item").waitFor();
  assert.match(await row("delete_item").innerText(), /Disabled/);

  // The tool page: definition, history.
  await row("delete_item").getByRole("link", { name: "delete_item" }).click();
  await page.locator("#tool-history").waitFor();
  assert.match(await page.locator("#tool-facts").innerText(), /fx_delete_item/);
  assert.ok((await page.locator("#tool-history tbody tr").count()) >= 2, "discovered and disabled are in the history");

  // A definition change keeps the state but is flagged, with the change visible.
  await page.goto(`${server.base}${serverHref}?tab=tools&state=pending`);
  await row("lookup_ticket").getByRole("button", { name: "Approve" }).click();
  await page.locator("#notice").waitFor();
  writeTools("Looks up a support ticket and its customer's email address");
  await page.goto(`${server.base}${serverHref}`);
  await page.getByRole("button", { name: "Resync tools" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#notice").innerText(), /discovery ran again/i);
  await page.goto(`${server.base}${serverHref}?tab=tools&state=approved`);
  assert.match(await row("lookup_ticket").innerText(), /Approved/);
  assert.match(await row("lookup_ticket").innerText(), /Definition changed: description/);
  await row("lookup_ticket").getByRole("link", { name: /Definition changed/ }).click();
  const change = page.locator("#definition-change");
  await change.waitFor();
  assert.match(await change.innerText(), /Looks up a support ticket"/);
  assert.match(await change.innerText(), /customer's email address/);
  await screenshot(page, "admin-ai-definition-change");
  await page.getByRole("button", { name: "Mark the change reviewed" }).click();
  await page.locator("#notice").waitFor();
  assert.equal(await page.locator("#definition-change").count(), 0);

  // Toolsets: a custom toolset with echo and whoami.
  await page.goto(`${server.base}${serverHref}?tab=toolsets`);
  assert.match(await page.locator("#toolsets").innerText(), /Built-in: every approved tool/);
  await page.getByLabel("Name").fill("Support tools");
  await page.getByRole("button", { name: "Create toolset" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#toolset-tools-empty").innerText(), /No tools are in this toolset yet/);
  await page.getByLabel("Select echo").check();
  await page.getByLabel("Select whoami").check();
  await page.getByRole("button", { name: "Add selected to the toolset" }).click();
  await page.locator("#notice").waitFor();
  const inSet = await page.locator("#toolset-tools").innerText();
  assert.match(inSet, /echo/);
  assert.match(inSet, /whoami/);
  assert.match(await page.locator("#toolset-profiles").innerText(), /Not in any access profile/);

  // Setup through the API: the toolset goes into an access profile.
  const sets = (await server.api("GET", `/api/v1/apps/${appId}/connectors/${connId}/mcp_toolsets`)).profiles;
  const support = sets.find((s) => s.displayName === "Support tools");
  const catalog = (await server.api("POST", "/api/v1/catalogs", { displayName: "AI support", published: true }))
    .requestCatalogView.requestCatalog.id;
  await server.api("POST", `/api/v1/catalogs/${catalog}/requestable_entries`, {
    appEntitlements: [{ appId, id: support.appEntitlementId }],
  });
  await page.reload();
  assert.match(await page.locator("#toolset-profiles").innerText(), /AI support/);
  await screenshot(page, "admin-ai-toolset");

  // AI clients: none yet.
  await page.goto(`${server.base}/admin/ai?tab=clients`);
  assert.match(await page.locator("#ai-clients-empty").innerText(), /No AI client has been authorized yet/);
  await screenshot(page, "admin-ai-clients");

  // The tenant kill switch, with its confirmation question.
  await page.goto(`${server.base}/admin/ai?tab=kill`);
  assert.match(await page.locator("#tenant-state").innerText(), /MCP traffic is on/);
  let asked = acceptConfirm(page, /Stop all MCP traffic for the whole tenant/);
  await page.getByRole("button", { name: "Disable MCP traffic for the whole tenant" }).click();
  await asked;
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#tenant-state").innerText(), /MCP traffic is disabled/);
  const settings = (await server.api("GET", "/api/v1/settings/ai-governance")).aiGovernanceSettings;
  assert.equal(settings.enabled, false, "the tenant switch is on (traffic disabled)");
  await screenshot(page, "admin-ai-kill-switches");
  asked = acceptConfirm(page, /Turn MCP traffic back on/);
  await page.getByRole("button", { name: "Turn MCP traffic back on" }).click();
  await asked;
  await page.locator("#notice").waitFor();
  assert.equal((await server.api("GET", "/api/v1/settings/ai-governance")).aiGovernanceSettings.enabled, true);

  // The server kill switch, dismissed first (nothing changes), then accepted.
  await page.goto(`${server.base}${serverHref}`);
  page.once("dialog", (d) => d.dismiss());
  await page.getByRole("button", { name: "Kill switch: stop this server" }).click();
  await page.waitForTimeout(300);
  let sv = (await server.api("GET", `/api/v1/apps/${appId}/mcp_servers/${connId}`)).mcpServer;
  assert.equal(sv.chamberlainKilled ?? false, false);
  asked = acceptConfirm(page, /Stop MCP server "Support fixture"\? Every call to its tools is refused/);
  await page.getByRole("button", { name: "Kill switch: stop this server" }).click();
  await asked;
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#server-state").innerText(), /Switched off/);
  sv = (await server.api("GET", `/api/v1/apps/${appId}/mcp_servers/${connId}`)).mcpServer;
  assert.equal(sv.chamberlainKilled, true);
  await page.goto(`${server.base}/admin/ai?tab=kill`);
  assert.match(await page.locator("#killed-servers").innerText(), /Support fixture/);

  // The tool kill switch.
  await page.goto(`${server.base}${serverHref}?tab=tools&state=approved`);
  await row("echo").getByRole("link", { name: "echo" }).click();
  asked = acceptConfirm(page, /Stop tool "echo"\?/);
  await page.getByRole("button", { name: "Kill switch: stop this tool" }).click();
  await asked;
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#tool-facts").innerText(), /Switched off/);

  // The audit: filters, empty state, export.
  await page.goto(`${server.base}/admin/ai?tab=audit`);
  await page.getByLabel("Outcome").selectOption("DENIED");
  await page.getByRole("button", { name: "Filter" }).click();
  assert.match(await page.locator("#audit-empty").innerText(), /No MCP requests match/);
  const href = await page.locator("#audit-export").getAttribute("href");
  assert.match(href, /outcome=DENIED/);
  const exported = await page.request.get(`${server.base}${href}`);
  assert.equal(exported.status(), 200);
  assert.match(exported.headers()["content-type"], /ndjson/);
  await screenshot(page, "admin-ai-audit");

  // Server time of the pages (navigation timing: request sent → first byte), reported.
  const timings = [];
  for (const path of [
    "/admin/ai",
    `${serverHref}`,
    `${serverHref}?tab=tools`,
    `${serverHref}?tab=toolsets`,
    `${serverHref}?tab=connections`,
    `${serverHref}/toolsets/${support.id}`,
    "/admin/ai?tab=clients",
    "/admin/ai?tab=kill",
    "/admin/ai?tab=audit",
    "/admin/ai/servers/new?catalog=generic-remote",
    "/admin/settings",
  ]) {
    await page.goto(`${server.base}${path}`);
    const ms = await page.evaluate(() => {
      const n = performance.getEntriesByType("navigation")[0];
      return n.responseStart - n.requestStart;
    });
    timings.push(`${path} ${ms.toFixed(1)} ms`);
    assert.ok(ms < 1000, `${path} took ${ms} ms of server time`);
  }
  console.log(`server time per page (debug build):\n  ${timings.join("\n  ")}`);

  // Phone width: the server list stays readable.
  const phone = await newPage(browser, { phone: true });
  await signIn(phone, server.base, "admin@example.com", "/admin/ai");
  await phone.locator("#mcp-servers").waitFor();
  assert.match(await phone.locator("#mcp-servers").innerText(), /Support fixture/);
  await screenshot(phone, "admin-ai-servers-phone");
  await phone.context().close();
  await page.context().close();
});

test("the Okta template: instance URL, per-user OAuth or service mode", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/ai/servers/new");
  await page.getByRole("link", { name: "Select Okta" }).click();
  await page.getByLabel("Okta instance URL").waitFor();
  assert.equal(await page.getByLabel("Per-user OAuth (recommended)").isChecked(), true);
  await page.getByLabel("OAuth2 — service mode").waitFor();
  await page.getByLabel("Client ID").waitFor();
  await page.getByLabel("Client secret").waitFor();
  assert.match(await page.getByLabel("Scopes (separated by spaces)").inputValue(), /okta\.users\.read/);
  await screenshot(page, "admin-ai-okta-form");

  // A bad instance URL is refused with the API's message; the form keeps what was typed.
  await page.getByLabel("Okta instance URL").fill("acme okta");
  await page.getByLabel("Client ID").fill("0oa-client");
  await page.getByLabel("Client secret").fill("s3cret");
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#notice").innerText(), /is not an absolute https URL/);
  assert.equal(await page.getByLabel("Okta instance URL").inputValue(), "acme okta");
  assert.equal(await page.getByLabel("Client secret").inputValue(), "", "secrets are not written back");
  const apps = (await server.api("GET", "/api/v1/apps")).list ?? [];
  assert.ok(!apps.some((a) => (a.app ?? a).displayName === "Okta"), "the app made for a refused registration is removed");

  // Service mode: an admin authorizes once, from the server's page.
  await page.getByLabel("Okta instance URL").fill("https://acme.okta.com");
  await page.getByLabel("OAuth2 — service mode").check();
  await page.getByLabel("Client secret").fill("s3cret");
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#notice").innerText(), /registered/);
  assert.match(await page.locator("#server-facts").innerText(), /OAuth2 — service mode/);
  assert.match(await page.locator("#server-facts").innerText(), /instanceUrl = https:\/\/acme\.okta\.com/);
  assert.match(await page.locator("#server-facts").innerText(), /client secret set/);
  assert.doesNotMatch(await page.content(), /s3cret/);
  const authorize = page.getByRole("link", { name: "Authorize as administrator" });
  assert.match(await authorize.getAttribute("href"), /^\/auth\/v1\/mcp\/connect\//);
  await screenshot(page, "admin-ai-okta-service-mode");

  // A hosted command: the fixture over stdio, started and supervised by Chamberlain.
  await page.goto(`${server.base}/admin/ai/servers/new`);
  await page.getByRole("link", { name: "Select Hosted command (stdio)" }).click();
  await page.getByLabel("Display name").fill("Hosted fixture");
  await page.getByLabel("Command", { exact: true }).fill(fixtureBin);
  await page.getByLabel("Arguments (one per line)").fill("--stdio\n--only-generated\n--tools\n2");
  await page.getByLabel(/^Environment/).fill("REGION=eu");
  await page.getByLabel(/^Secret environment/).fill("API_KEY=hosted-secret");
  await page.getByLabel("Tool prefix").fill("hx");
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#notice").innerText(), /registered/);
  assert.match(await page.locator("#last-discovery").innerText(), /Discovered/);
  const facts = await page.locator("#server-facts").innerText();
  assert.match(facts, /--stdio/);
  assert.match(facts, /REGION = eu/);
  assert.doesNotMatch(await page.content(), /hosted-secret/);
  await page.getByRole("link", { name: "Tools", exact: true }).click();
  assert.match(await page.locator("#tools").innerText(), /gen_0001/);
  await page.context().close();
});

test("Settings › AI Connections: defaults saved with history; a read-only admin is refused", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/settings");
  await page.locator("#ai-connections").waitFor();
  assert.equal(await page.getByLabel(/Require tool approval/).isChecked(), true);
  await page.getByLabel(/Require tool approval/).uncheck();
  await page.getByLabel("Default tool classification").selectOption("TOOL_CLASSIFICATION_READ");
  await page.getByRole("button", { name: "Save AI Connections" }).click();
  await page.locator("#notice").waitFor();
  const s = (await server.api("GET", "/api/v1/settings/ai-governance")).aiGovernanceSettings;
  assert.equal(s.requireToolApproval, false);
  assert.equal(s.defaultToolClassification, "TOOL_CLASSIFICATION_READ");
  assert.equal(await page.getByLabel(/Require tool approval/).isChecked(), false);
  assert.ok((await page.locator("#ai-settings-history tbody tr").count()) >= 1);
  // Notification settings: write-only secrets show as "not set".
  assert.match(await page.locator("#smtp-password-state").innerText(), /not set/);
  assert.match(await page.locator("#slack-bot-state").innerText(), /not set/);
  // Write-only secrets: saved, shown as "set", never written into the page.
  await page.getByLabel("From address").fill("chamberlain@example.com");
  await page.getByLabel("SMTP host").fill("smtp.example.com");
  await page.getByLabel("Username").fill("mailer");
  await page.getByLabel("Password", { exact: true }).fill("smtp-pw-secret");
  await page.getByRole("button", { name: "Save email settings" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#smtp-password-state").innerText(), /^set$/);
  await page.getByLabel("Bot token (xoxb-…)").fill("xoxb-bot-secret");
  await page.getByRole("button", { name: "Save Slack settings" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#slack-bot-state").innerText(), /^set$/);
  const html = await page.content();
  assert.doesNotMatch(html, /smtp-pw-secret|xoxb-bot-secret/);
  await screenshot(page, "admin-settings");
  await page.context().close();

  const reader = await newPage(browser);
  await signIn(reader, server.base, "reader@example.com", "/admin/settings");
  await reader.getByLabel(/Require tool approval/).check();
  await reader.getByRole("button", { name: "Save AI Connections" }).click();
  await reader.locator("#notice").waitFor();
  assert.match(await reader.locator("#notice").innerText(), /Super Admin|not allowed|permission|denied/i);
  assert.equal((await server.api("GET", "/api/v1/settings/ai-governance")).aiGovernanceSettings.requireToolApproval, false);
  // A read-only admin sees the AI pages, and the API refuses their changes there too.
  await reader.goto(`${server.base}/admin/ai?tab=kill`);
  const asked = acceptConfirm(reader, /Stop all MCP traffic/);
  await reader.getByRole("button", { name: "Disable MCP traffic for the whole tenant" }).click();
  await asked;
  await reader.locator("#notice").waitFor();
  assert.match(await reader.locator("#notice").innerText(), /Super Admin|not allowed|permission|denied/i);
  assert.equal((await server.api("GET", "/api/v1/settings/ai-governance")).aiGovernanceSettings.enabled, true);
  await reader.context().close();

  // Someone without an admin role gets a plain refusal, not an admin page.
  server.user("bob@example.com", "Bob Basic");
  const bob = await newPage(browser);
  await signIn(bob, server.base, "bob@example.com", "/admin/ai");
  assert.match(await bob.locator("h1").innerText(), /Administrators only/);
  const resp = await bob.goto(`${server.base}/admin/settings`);
  assert.equal(resp.status(), 403);
  await bob.context().close();
});

test("AI clients: a user's authorized client with its state; kill switch, reopen, close", async () => {
  server.user("alice@example.com", "Alice Adams");
  // The AI client registers itself (DCR) and Alice allows it on the consent page.
  const reg = await fetch(`${server.base}/auth/v1/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "Claude Code (browser test)",
      redirect_uris: ["http://127.0.0.1:9/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    }),
  });
  assert.equal(reg.status, 201, await reg.clone().text());
  const clientId = (await reg.json()).client_id;
  const challenge = createHash("sha256").update("v".repeat(50)).digest("base64url");
  const authorize =
    `/auth/v1/authorize?response_type=code&client_id=${encodeURIComponent(clientId)}` +
    `&redirect_uri=${encodeURIComponent("http://127.0.0.1:9/callback")}&code_challenge=${challenge}` +
    `&code_challenge_method=S256&scope=mcp&state=s1&resource=${encodeURIComponent(`${server.base}/mcp`)}`;
  const alice = await newPage(browser);
  await signIn(alice, server.base, "alice@example.com", authorize);
  const back = alice.waitForRequest((r) => r.url().startsWith("http://127.0.0.1:9/callback"));
  await alice.getByRole("button", { name: "Allow" }).click().catch(() => {});
  const code = new URL((await back).url()).searchParams.get("code");
  assert.ok(code);
  await alice.context().close();

  // The client calls a tool it does not hold: denied, and the audit records it.
  const tok = await fetch(`${server.base}/auth/v1/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: "http://127.0.0.1:9/callback",
      client_id: clientId,
      code_verifier: "v".repeat(50),
      resource: `${server.base}/mcp`,
    }),
  });
  assert.equal(tok.status, 200, await tok.clone().text());
  const accessToken = (await tok.json()).access_token;
  const rpc = async (body, session) => {
    const r = await fetch(`${server.base}/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${accessToken}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...(session ? { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" } : {}),
      },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    const data = text.includes("data:") ? text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).pop() : text;
    return { session: r.headers.get("mcp-session-id"), msg: data ? JSON.parse(data) : null, status: r.status };
  };
  const init = await rpc({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "browser-test", version: "1" } },
  });
  assert.equal(init.status, 200, JSON.stringify(init));
  await rpc({ jsonrpc: "2.0", method: "notifications/initialized" }, init.session);
  const call = await rpc(
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "fx_echo", arguments: { message: "hi" } } },
    init.session,
  );
  assert.equal(call.msg.result.isError, true);
  assert.match(call.msg.result.content[0].text, /Access denied: tool `fx_echo` is not in your current tool list\./);

  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/ai?tab=clients");
  const row = page.locator("#ai-clients tr", { hasText: "Claude Code (browser test)" });
  await row.waitFor();
  assert.match(await row.innerText(), /Alice Adams/);
  assert.match(await row.innerText(), /Active/);
  await screenshot(page, "admin-ai-clients-active");

  // The audit shows the denied call; filtered by the user's email and outcome.
  await page.goto(`${server.base}/admin/ai?tab=audit`);
  await page.getByLabel("User (email or id)").fill("alice@example.com");
  await page.getByLabel("Outcome").selectOption("DENIED");
  await page.getByRole("button", { name: "Filter" }).click();
  const audited = page.locator("#audit tbody tr", { hasText: "fx_echo" });
  await audited.first().waitFor();
  assert.match(await audited.first().innerText(), /Alice Adams/);
  assert.match(await audited.first().innerText(), /Denied/);
  assert.match(await audited.first().innerText(), /Claude Code \(browser test\)/);
  await screenshot(page, "admin-ai-audit-denied");
  await page.getByLabel("Outcome").selectOption("SUCCESS");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.locator("#audit-empty").waitFor();
  await page.goto(`${server.base}/admin/ai?tab=clients`);

  const info = async () =>
    (await server.api("POST", "/api/v1/search/iam/external_clients", { query: "browser test" })).list[0];
  // Close one user's connection: its tokens for that user stop working.
  let asked = acceptConfirm(page, /Close Claude Code \(browser test\) for Alice Adams/);
  await row.getByRole("button", { name: "Close for this user" }).click();
  await asked;
  await page.locator("#notice").waitFor();
  assert.match(await row.innerText(), /Closed/);
  assert.equal((await info()).chamberlainState, "CLOSED");

  // The client's kill switch (for everyone), then back on.
  asked = acceptConfirm(page, /Stop AI client Claude Code \(browser test\) for everyone\?/);
  await row.getByRole("button", { name: "Kill switch" }).click();
  await asked;
  await page.locator("#notice").waitFor();
  assert.match(await row.innerText(), /Switched off/);
  assert.equal((await info()).chamberlainKilled, true);
  asked = acceptConfirm(page, /Switch AI client Claude Code \(browser test\) back on\?/);
  await row.getByRole("button", { name: "Switch back on" }).click();
  await asked;
  await page.locator("#notice").waitFor();
  assert.equal((await info()).chamberlainKilled, false);
  await page.context().close();
});
