// Admin > Apps, Users and System log in a real browser: an admin creates an app and an upload
// connector, uploads a CSV and a Baton c1z from the page and sees what each sync changed, the
// entitlements, accounts and grants; a bad file is refused with the API's words and changes
// nothing; a user's page shows where each attribute came from (a directory designated in setup);
// the system log shows the change. A basic user gets no admin pages; a read-only admin sees but
// is refused changes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, launchBrowser, newPage, signIn, screenshot, cli, ROOT } from "./lib/harness.mjs";

const FIXTURES = join(ROOT, "crates/sync/tests/fixtures");
const HR_CSV =
  "User ID,Email Address,Full Name,User Status,User Type,Employee ID,Department,Job Title,Manager Email\n" +
  "u1,ann@acme.com,Ann Lee,Active,,E1,Eng,Engineer,carl@acme.com\n" +
  "u2,bob@acme.com,Bob Ray,Active,,E2,Sales,Rep,\n" +
  "u3,carl@acme.com,Carl Diaz,Active,,E3,Eng,Director,\n";
const PAYROLL_CSV =
  "User ID,Email Address,Full Name,User Status,Resource Type,Resource Name,Entitlement,Entitlement Display Name\n" +
  "p1,ann@acme.com,Ann Lee,Active,team,Payroll,admin,Payroll admin\n" +
  "p2,bob@acme.com,Bob Ray,Active,team,Payroll,viewer,Payroll viewer\n" +
  "p3,carl@acme.com,Carl Diaz,Active,team,Payroll,viewer,Payroll viewer\n";

let server, browser, tmp, ids;

/** A raw upload through the API with a client of our own (the harness's helper sends JSON). */
async function rawUpload(path, body) {
  const creds = JSON.parse(
    cli(server.dataDir, ["admin", "create-client", "--role", "super-admin", "--output", "json", "--public-url", server.base]),
  );
  const t = await fetch(`${server.base}/auth/v1/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: creds.clientId, client_secret: creds.clientSecret }),
  });
  const { access_token } = await t.json();
  const r = await fetch(`${server.base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${access_token}`, "content-type": "text/csv" },
    body,
  });
  assert.equal(r.status, 200, await r.text());
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  tmp = mkdtempSync(join(tmpdir(), "chamberlain-admin-apps-"));
  server.user("admin@example.com", "Ada Admin", "super-admin");
  server.user("reader@example.com", "Rita Reader", "read-only-admin");
  server.user("basic@example.com", "Bert Basic");
  const { api } = server;
  // The HR directory: a file app synced once, then designated as a directory.
  const hr = (await api("POST", "/api/v1/apps", { displayName: "HR" })).app.id;
  const hrConn = (await api("POST", `/api/v1/apps/${hr}/connectors`, { displayName: "HR sheet" })).connectorView.connector.id;
  await rawUpload(`/api/v1/apps/${hr}/connectors/${hrConn}/file`, HR_CSV);
  await api("POST", "/api/v1/directories", { appId: hr });
  // Identity resolution runs in the background: wait for the people to arrive.
  let ann;
  for (let i = 0; i < 100 && !ann; i++) {
    const found = await api("POST", "/api/v1/search/users", { email: "ann@acme.com" });
    ann = found.list?.[0]?.user;
    if (ann?.managerIds?.length) break;
    ann = undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(ann, "the directory brought in ann@acme.com with her manager");
  ids = { hr, ann: ann.id };
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("admin creates an app and a connector, uploads a CSV and a c1z, sees counts, entitlements, accounts and grants", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/apps");
  assert.equal(new URL(page.url()).pathname, "/admin/apps");
  assert.equal(await page.locator("nav.admin").count(), 1);
  await page.locator("#apps").getByRole("link", { name: "HR" }).waitFor();

  // Create the app.
  await page.getByLabel("Name").fill("Payroll");
  await page.getByLabel("Description").fill("Salaries and payslips");
  await page.getByRole("button", { name: "Create app" }).click();
  await page.locator("#notice").waitFor();
  assert.match(await page.locator("#notice").innerText(), /Created/);
  assert.equal(await page.locator("h1").innerText(), "Payroll");
  ids.payroll = new URL(page.url()).pathname.split("/")[3];

  // Empty states before any data.
  await page.getByRole("link", { name: "Accounts" }).click();
  assert.match(await page.locator("#accounts-empty").innerText(), /no accounts yet/);

  // Create an upload connector.
  await page.getByRole("link", { name: "Connectors" }).click();
  assert.match(await page.locator("#connectors-empty").innerText(), /no connectors/);
  await page.getByLabel("Name").fill("Payroll sheet");
  await page.getByRole("button", { name: "Create connector" }).click();
  await page.locator("#connector-status").waitFor();
  assert.match(await page.locator("#connector-status").innerText(), /SYNC_STATUS_UNSPECIFIED/);
  assert.match(await page.locator("#sync-runs-empty").innerText(), /No syncs yet/);
  ids.payrollConnector = new URL(page.url()).pathname.split("/")[5];

  // Upload the CSV from the page.
  await page.getByLabel(/^File/).setInputFiles({ name: "payroll.csv", mimeType: "text/csv", buffer: Buffer.from(PAYROLL_CSV) });
  await page.getByRole("button", { name: "Upload and import" }).click();
  await page.locator("#upload-counts").waitFor();
  assert.match(await page.locator("#notice").innerText(), /imported/);
  const counts = await page.locator("#upload-counts").innerText();
  assert.match(counts, /Accounts\s+3\s+3\s+0\s+0/);
  assert.match(counts, /Entitlements\s+2\s+2\s+0\s+0/);
  assert.match(counts, /Grants\s+3\s+3\s+0\s+0/);
  const status = await page.locator("#connector-status").innerText();
  assert.match(status, /SYNC_STATUS_DONE/);
  assert.equal(await page.locator("#sync-runs tbody tr").count(), 1);
  await screenshot(page, "admin-connector-after-upload");

  // Entitlements, an entitlement's grants, accounts.
  await page.getByRole("link", { name: "Entitlements" }).click();
  const ents = page.locator("#entitlements");
  await ents.getByRole("link", { name: "Payroll viewer" }).waitFor();
  await page.getByLabel("Search", { exact: true }).fill("admin");
  await page.getByRole("button", { name: "Search" }).click();
  assert.equal(await page.locator("#entitlements tbody tr").count(), 1);
  await page.locator("#entitlements").getByRole("link", { name: "Payroll admin" }).click();
  const grants = await page.locator("#grants").innerText();
  assert.match(grants, /Ann Lee/);
  assert.match(grants, /Current/);
  await screenshot(page, "admin-entitlement-grants");

  await page.getByRole("link", { name: "Accounts" }).click();
  const accounts = await page.locator("#accounts").innerText();
  for (const who of ["ann@acme.com", "bob@acme.com", "carl@acme.com"]) assert.match(accounts, new RegExp(who));

  await page.getByRole("link", { name: "Resource types" }).click();
  await page.locator("#resource-types").getByRole("link", { name: /team/i }).click();
  assert.match(await page.locator("#resources").innerText(), /Payroll/);

  // A manually managed entitlement.
  await page.getByRole("link", { name: "Entitlements" }).click();
  await page.getByLabel("Name").fill("Payroll auditor");
  await page.getByLabel(/Grant length in hours/).fill("8");
  await page.getByRole("button", { name: "Create entitlement" }).click();
  await page.locator("#entitlement-name").waitFor();
  assert.equal(await page.locator("#entitlement-name").innerText(), "Payroll auditor");
  assert.match(await page.locator("main").innerText(), /8 hours/);
  assert.match(await page.locator("#grants-empty").innerText(), /Nobody holds/);

  // Owners by email.
  await page.getByRole("link", { name: "Owners" }).click();
  await page.getByLabel("Email of the user").fill("admin@example.com");
  await page.getByRole("button", { name: "Add owner" }).click();
  await page.locator("#owners").waitFor();
  assert.match(await page.locator("#owners").innerText(), /Ada Admin/);
  await page.getByLabel("Email of the user").fill("nobody@example.com");
  await page.getByRole("button", { name: "Add owner" }).click();
  assert.match(await page.locator(".notice.error").innerText(), /No user has the email/);
  page.once("dialog", (d) => d.accept());
  await page.locator("#owners").getByRole("button", { name: "Remove" }).click();
  assert.match(await page.locator("#notice").innerText(), /Removed/);
  assert.match(await page.locator("#owners-empty").innerText(), /no owners/);

  // A Baton c1z on a second app (copied out of the fixtures first).
  const c1z = join(tmp, "expanded.c1z");
  copyFileSync(join(FIXTURES, "sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded.c1z"), c1z);
  await page.goto(`${server.base}/admin/apps`);
  await page.getByLabel("Name").fill("Baton test app");
  await page.getByRole("button", { name: "Create app" }).click();
  await page.getByRole("link", { name: "Connectors" }).click();
  await page.getByLabel("Name").fill("Baton upload");
  await page.getByRole("button", { name: "Create connector" }).click();
  await page.getByLabel(/^File/).setInputFiles(c1z);
  await page.getByRole("button", { name: "Upload and import" }).click();
  await page.locator("#upload-counts").waitFor({ timeout: 180_000 });
  const c1zCounts = await page.locator("#upload-counts").innerText();
  assert.match(c1zCounts, /Resource types\s+4\s+4/);
  assert.match(c1zCounts, /Entitlements\s+342\s+342/);
  assert.match(await page.locator("#connector-status").innerText(), /SYNC_STATUS_DONE/);
  await screenshot(page, "admin-c1z-upload");

  // Force sync of an upload connector: the API's refusal, shown as is.
  await page.getByRole("button", { name: "Sync now" }).click();
  assert.match(await page.locator(".notice.error").innerText(), /no Baton connector binary configured/);

  // Phone width: the list stays readable.
  const phone = await newPage(browser, { phone: true });
  await signIn(phone, server.base, "admin@example.com", "/admin/apps");
  await phone.locator("#apps").waitFor();
  await screenshot(phone, "admin-apps-phone");
  await phone.context().close();
  await page.context().close();
});

test("a bad upload is refused with the API's words and changes nothing", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", `/admin/apps/${ids.payroll}/connectors/${ids.payrollConnector}`);
  const runsBefore = await page.locator("#sync-runs tbody tr").count();
  const statusBefore = await page.locator("#connector-status").innerText();

  const bad = join(tmp, "sync-in-progress.c1z");
  copyFileSync(join(FIXTURES, "sync-in-progress.c1z"), bad);
  await page.getByLabel(/^File/).setInputFiles(bad);
  await page.getByRole("button", { name: "Upload and import" }).click();
  const refusal = await page.locator(".notice.error").innerText();
  assert.match(refusal, /sync-in-progress\.c1z” was not imported/);
  assert.match(refusal, /unfinished/);
  await screenshot(page, "admin-upload-refused");

  // A CSV with a broken row: the row is named, nothing changes.
  await page.getByLabel(/^File/).setInputFiles({
    name: "broken.csv",
    mimeType: "text/csv",
    buffer: Buffer.from("User ID,Email Address\np1,ann@acme.com,extra\n"),
  });
  await page.getByRole("button", { name: "Upload and import" }).click();
  assert.match(await page.locator(".notice.error").innerText(), /nothing changed/);

  // The failed syncs are in the history with their errors (the API records them), and the
  // connector's status says so; the app's data is as it was.
  await page.goto(`${server.base}/admin/apps/${ids.payroll}/connectors/${ids.payrollConnector}`);
  assert.match(statusBefore, /SYNC_STATUS_DONE/);
  assert.equal(await page.locator("#sync-runs tbody tr").count(), runsBefore + 2);
  const newest = await page.locator("#sync-runs tbody tr").first().innerText();
  assert.match(newest, /SYNC_STATUS_ERROR/);
  assert.match(newest, /nothing changed/);
  assert.match(await page.locator("#connector-status").innerText(), /SYNC_STATUS_ERROR/);
  assert.match(await page.locator("#last-error").innerText(), /nothing changed/);
  await page.goto(`${server.base}/admin/apps/${ids.payroll}/accounts`);
  assert.equal(await page.locator("#accounts tbody tr").count(), 3);
  await page.goto(`${server.base}/admin/apps/${ids.payroll}/entitlements?q=viewer`);
  assert.match(await page.locator("#entitlements").innerText(), /Payroll viewer[\s\S]*\b2\b/);

  // Pause and resume (each asks first).
  await page.goto(`${server.base}/admin/apps/${ids.payroll}/connectors/${ids.payrollConnector}`);
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Pause syncs" }).click();
  assert.match(await page.locator("#notice").innerText(), /paused/);
  assert.match(await page.locator("#connector-status").innerText(), /SYNC_STATUS_DISABLED/);
  await page.getByRole("button", { name: "Resume syncs" }).click();
  assert.match(await page.locator("#notice").innerText(), /resumed/);
  assert.doesNotMatch(await page.locator("#connector-status").innerText(), /SYNC_STATUS_DISABLED/);
  await page.context().close();
});

test("a user's page shows attributes with their sources, manager, accounts and access", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/users");
  await page.getByLabel("Search", { exact: true }).fill("ann");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator("#users").getByRole("link", { name: "Ann Lee" }).click();
  assert.equal(await page.locator("h1").innerText(), "Ann Lee");
  const attrs = page.locator("#user-attributes");
  const dept = await attrs.locator("tr", { hasText: "Department" }).innerText();
  assert.match(dept, /Eng/);
  assert.match(dept, /HR/, "the department's source is the HR directory");
  assert.match(await attrs.locator("tr", { hasText: "Email" }).first().innerText(), /HR/);
  assert.match(await page.locator("#managers").innerText(), /Carl Diaz/);
  assert.match(await page.locator("#user-accounts").innerText(), /HR/);
  await screenshot(page, "admin-user-detail");
  await page.context().close();
});

test("the system log shows an app's change with its before and after", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", `/admin/apps/${ids.payroll}`);
  await page.getByLabel("Description").fill("Salaries, payslips and bonuses");
  await page.getByRole("button", { name: "Save" }).click();
  assert.match(await page.locator("#notice").innerText(), /Saved/);

  await page.getByRole("link", { name: "System log" }).click();
  await page.getByLabel("Object ID").fill(ids.payroll);
  await page.getByLabel("Actor (email or user ID)").fill("admin@example.com");
  await page.getByRole("button", { name: "Show events" }).click();
  const row = page.locator("#events tbody tr", { hasText: "Changed: description" }).first();
  await row.waitFor();
  assert.match(await row.innerText(), /Ada Admin/);
  await row.locator("summary").click();
  assert.match(await row.locator("pre.json").last().innerText(), /Salaries, payslips and bonuses/);
  await screenshot(page, "admin-system-log");

  // A filter that matches nothing says so.
  await page.goto(`${server.base}/admin/system-log?object=no-such-object`);
  assert.match(await page.locator("#events-empty").innerText(), /No event matches/);
  await page.context().close();
});

test("a basic user gets no admin pages; a read-only admin sees but cannot change", async () => {
  const basic = await newPage(browser);
  await signIn(basic, server.base, "basic@example.com", "/requests");
  assert.equal(await basic.locator("nav.admin").count(), 0);
  const resp = await basic.goto(`${server.base}/admin/apps`);
  assert.equal(resp.status(), 403);
  assert.ok(await basic.locator(".notice.error").isVisible());
  assert.equal(await basic.locator("#apps").count(), 0);
  const log = await basic.goto(`${server.base}/admin/system-log`);
  assert.equal(log.status(), 403);
  await basic.context().close();

  const reader = await newPage(browser);
  await signIn(reader, server.base, "reader@example.com", "/admin/apps");
  await reader.locator("#apps").getByRole("link", { name: "Payroll" }).waitFor();
  await reader.getByLabel("Name").fill("Not allowed");
  await reader.getByRole("button", { name: "Create app" }).click();
  const refusal = reader.locator(".notice.error");
  await refusal.waitFor();
  assert.ok((await refusal.innerText()).length > 10);
  await screenshot(reader, "admin-read-only-refused");
  // Nothing was created.
  const found = await server.api("POST", "/api/v1/search/apps", { query: "Not allowed" });
  assert.equal((found.list || []).length, 0);
  // The upload is refused too, before the file is read.
  await reader.goto(`${server.base}/admin/apps/${ids.payroll}/connectors/${ids.payrollConnector}`);
  await reader.getByLabel(/^File/).setInputFiles({ name: "x.csv", mimeType: "text/csv", buffer: Buffer.from(readFileSync(join(FIXTURES, "README.md"))) });
  await reader.getByRole("button", { name: "Upload and import" }).click();
  assert.match(await reader.locator(".notice.error").innerText(), /was not imported/);
  await reader.context().close();
});
