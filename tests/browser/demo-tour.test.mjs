// The README's tour: `chamberlain serve --demo`, then the seeds' click-paths as a newcomer walks
// them in five minutes, with the sign-ins the demo prints. Each step asserts what a person would
// see, and the key pages are saved as target/browser-artifacts/tour-NN-….png (the README's
// screenshots in docs/tour/ are copies of these).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, signIn, screenshot } from "./lib/harness.mjs";

// Published in the README and printed at every --demo start.
const DEMO_PASSWORD = "chamberlain-demo";

let server, browser, who;

/** The sign-ins the demo printed: { admin, employee, manager } emails. */
function printedSignIns(output) {
  const find = (label) => {
    const m = output.match(new RegExp(`^\\s*${label}[^:]*: (\\S+@\\S+) / (\\S+)$`, "m"));
    assert.ok(m, `the demo printed the ${label} sign-in:\n${output}`);
    assert.equal(m[2], DEMO_PASSWORD);
    return m[1];
  };
  return { admin: find("Admin"), employee: find("Employee"), manager: find("Manager") };
}

before(async () => {
  server = await startServer(["--demo"]);
  browser = await launchBrowser();
  // The announcement follows the load; the server is ready when it is printed.
  for (let i = 0; i < 100 && !/Manager \(/.test(server.output()); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(server.output(), /DEMO MODE: loaded the sample company "Acme"/);
  assert.doesNotMatch(server.output(), /Note: no MCP server/, "the MCP fixture is next to the binary");
  who = printedSignIns(server.output());
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const JUSTIFICATION = "Tour: on the Platform rotation this week, need the incident tools";

test("the demo tour: employee, manager, admin", async () => {
  const base = server.base;

  // --- Employee (Sam): connect an AI client, then request access. -------------------------
  const sam = await newPage(browser);
  await signIn(sam, base, who.employee, "/requests", DEMO_PASSWORD);
  assert.equal(new URL(sam.url()).pathname, "/requests");

  // Profile menu → AI & API → AI connections: the MCP server URL with a Copy button.
  await sam.locator("#profile-menu summary").click();
  await sam.locator("#profile-menu").getByRole("link", { name: "AI & API" }).click();
  await sam.locator("nav.tabs").getByRole("link", { name: "AI connections" }).click();
  assert.equal(await sam.locator("#mcp-url").inputValue(), `${base}/mcp`);
  assert.ok(await sam.getByRole("button", { name: "Copy" }).isVisible());
  assert.match(await sam.locator("#client-setup").innerText(), /Claude Desktop[\s\S]*Claude Code[\s\S]*ChatGPT[\s\S]*Cursor/);
  await screenshot(sam, "tour-01-ai-and-api");

  // MCP connections: the servers Sam may use and whether there is anything to connect.
  await sam.locator("nav.tabs").getByRole("link", { name: "MCP connections" }).click();
  assert.match(await sam.locator("#mcp-connections").innerText(), /Ops Assistant/);
  await screenshot(sam, "tour-02-mcp-connections");

  // Requests → Access profiles: each card shows what it grants, its AI tools and its policy.
  await sam.locator("nav.main").getByRole("link", { name: "Requests", exact: true }).click();
  await sam.locator("#catalog-filters").getByRole("link", { name: "Access profiles" }).click();
  const aiCard = sam.locator("article.catalog-item", { hasText: "AI tools for incident response" });
  const aiText = await aiCard.innerText();
  assert.match(aiText, /AI tools: ops_create_ticket, ops_get_incident, ops_search_runbooks/);
  assert.match(aiText, /Requires approval · Approval by the requester's manager/);
  const oncall = sam.locator("article.catalog-item", { hasText: "On-call production access" });
  const oncallText = await oncall.innerText();
  assert.match(oncallText, /Grants: acme-production AdministratorAccess \(AWS\), acme-production PowerUserAccess \(AWS\)/);
  assert.match(oncallText, /Requires approval JIT: ends after 4 hours · Approval by the requester's manager/);
  await screenshot(sam, "tour-03-requests-catalog");

  // Sam is on the Platform rotation, so he sees and requests the on-call profile.
  await oncall.getByRole("link", { name: "Request access" }).click();
  await sam.getByText("What happens when you submit").waitFor();
  assert.match(await sam.locator("#policy-steps").innerText(), /Approval by the requester's manager/);
  await sam.getByLabel(/Justification/).fill(JUSTIFICATION);
  await screenshot(sam, "tour-04-request-form");
  await sam.getByRole("button", { name: "Submit" }).click();
  assert.match(await sam.locator("#notice").innerText(), /submitted/);
  assert.match(await sam.locator("#request-status").innerText(), /Open/);
  assert.match(await sam.locator("#waiting-for").innerText(), /Jordan Lee/);
  await sam.locator("nav.main").getByRole("link", { name: "My requests", exact: true }).click();
  const mine = sam.locator("#my-requests tr", { hasText: "On-call production access" });
  assert.match(await mine.innerText(), /Open\s+Approval by Jordan Lee/);
  await screenshot(sam, "tour-05-my-requests");

  // --- Manager (Jordan): Tasks → approve. ---------------------------------------------------
  const jordan = await newPage(browser);
  await signIn(jordan, base, who.manager, "/", DEMO_PASSWORD);
  await jordan.locator("nav.main").getByRole("link", { name: "Tasks", exact: true }).click();
  // The approval the demo left waiting, and Sam's new request.
  const waiting = jordan.locator("article.task", { hasText: "Security team member" });
  assert.match(await waiting.innerText(), /Pairing with Security/);
  const task = jordan.locator("article.task", { hasText: JUSTIFICATION });
  assert.match(await task.innerText(), /On-call production access/);
  await screenshot(jordan, "tour-06-manager-tasks");
  await task.getByRole("button", { name: "Approve" }).click();
  assert.match(await jordan.locator("#notice").innerText(), /Approved/);
  assert.equal(await jordan.locator("article.task", { hasText: JUSTIFICATION }).count(), 0);

  // Sam's My access: the grant, where it comes from, when it ends (JIT: 4 hours).
  await sam.locator("nav.main").getByRole("link", { name: "My access", exact: true }).click();
  const profileRow = sam.locator("#my-access tr", { hasText: "On-call production access member" }).filter({ hasText: "Access profiles" });
  assert.match(await profileRow.innerText(), /Access profiles\s+Direct\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC/, "the membership ends (JIT)");
  const adminRow = sam.locator("#my-access tr", { hasText: "acme-production AdministratorAccess" });
  assert.match(
    await adminRow.innerText(),
    /AWS\s+Access profile “On-call production access member”\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+Ends with its source/,
    "the profile's contents come from it and end with it",
  );
  await screenshot(sam, "tour-07-my-access");

  // --- Admin. ------------------------------------------------------------------------------
  const admin = await newPage(browser);
  await signIn(admin, base, who.admin, "/", DEMO_PASSWORD);

  // Directory > User data sources: the HR directory and its last run.
  await admin.locator("nav.admin").getByRole("link", { name: "Directory", exact: true }).click();
  assert.match(await admin.locator("h1").innerText(), /User data sources/);
  assert.match(await admin.locator("#directories").innerText(), /Acme HR/);
  assert.match(await admin.locator("#last-run").innerText(), /Done/);
  await screenshot(admin, "tour-08-directory");

  // Access profiles → On-call production access → Requests: visible to the rotations' members.
  await admin.locator("nav.admin").getByRole("link", { name: "Access profiles", exact: true }).click();
  await admin.locator("#profiles").getByRole("link", { name: "On-call production access" }).click();
  await admin.locator("nav.tabs").getByRole("link", { name: "Requests", exact: true }).click();
  assert.match(await admin.locator("#allow-requests").innerText(), /Yes/);
  assert.match(await admin.locator("#visible-to").innerText(), /Users with entitlements/);
  assert.match(await admin.locator("#visibility").innerText(), /Platform primary member/);
  await screenshot(admin, "tour-09-profile-requests");

  // On-call (automatic) → JML: joiner auto-approval and membership automation on "on call".
  await admin.locator("nav.admin").getByRole("link", { name: "Access profiles", exact: true }).click();
  await admin.locator("#profiles").getByRole("link", { name: "On-call (automatic)" }).click();
  await admin.locator("nav.tabs").getByRole("link", { name: "JML" }).click();
  assert.match(await admin.locator("#joiner-policy").innerText(), /Auto-approve/);
  assert.match(await admin.locator("#automation-status").innerText(), /Enabled/);
  assert.match(await admin.locator("#membership-automation").innerText(), /on call/);
  assert.match(await admin.locator("#circuit-breaker").innerText(), /Closed/);
  await screenshot(admin, "tour-10-profile-jml");

  // AI → the MCP server → Tools: pending review, approved, disabled.
  await admin.locator("nav.admin").getByRole("link", { name: "AI", exact: true }).click();
  await admin.locator("#mcp-servers").getByRole("link", { name: "Ops Assistant" }).click();
  await admin.getByRole("link", { name: "Tools", exact: true }).click();
  const filters = admin.locator("#tool-filters");
  await filters.getByRole("link", { name: "Pending review" }).click();
  assert.match(await admin.locator("#tools").innerText(), /page_oncall/);
  await screenshot(admin, "tour-11-mcp-tools-pending");
  await filters.getByRole("link", { name: "Approved" }).click();
  assert.match(await admin.locator("#tools").innerText(), /search_runbooks/);
  await filters.getByRole("link", { name: "Disabled" }).click();
  assert.match(await admin.locator("#tools").innerText(), /restart_service/);

  // Register an MCP server → Okta: instance URL, per-user OAuth or service mode.
  await admin.locator("nav.admin").getByRole("link", { name: "AI", exact: true }).click();
  await admin.getByRole("link", { name: "Register an MCP server" }).click();
  await admin.getByRole("link", { name: "Select Okta" }).click();
  assert.ok(await admin.getByLabel("Okta instance URL").isVisible());
  assert.ok(await admin.getByLabel("Per-user OAuth (recommended)").isChecked());
  assert.ok(await admin.getByLabel("OAuth2 — service mode").isVisible());
  await screenshot(admin, "tour-12-register-okta");

  // System log: Jordan's approval (filter by actor).
  await admin.locator("nav.admin").getByRole("link", { name: "System log", exact: true }).click();
  await admin.getByLabel("Actor (email or user ID)").fill(who.manager);
  await admin.getByRole("button", { name: "Show events" }).click();
  const approval = admin.locator("#events tr", { hasText: "task" }).first();
  assert.match(await approval.innerText(), /Jordan Lee/);
  await screenshot(admin, "tour-13-system-log");
});
