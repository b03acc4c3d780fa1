// The directory seed in a real browser: Directory > User data sources > Add directory data
// source, an account import condition in CEL (a syntax error shows its line and column, live
// and on preview), the data preview, Create directory and the users it imports; then the
// directory's (more actions) menu > Edit with custom merge matching rules reordered, one
// switched to CEL, "Remove + suffix", and Update; and a preview whose conflicts list every candidate.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, signIn, screenshot } from "./lib/harness.mjs";

let server, browser, hr;

const CSV =
  "User ID,Email Address,First Name,Last Name,User Status,User Type,Resource Type,Resource Name,Entitlement,Entitlement Display Name\n" +
  "u1,ann@example.com,Ann,Lee,Active,,Group,Staff,member,Staff member\n" +
  "u2,bob@example.com,Bob,Ray,Active,,Group,Staff,member,Staff member\n" +
  "u3,cy@contractor.test,Cy,Moss,Active,,,,,\n";

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  server.user("admin@example.com", "Ada Admin", "super-admin");
  // Two people who share a display name with a directory account (for a conflict).
  server.user("cy.moss1@other.test", "Cy Moss");
  server.user("cy.moss2@other.test", "Cy Moss");
  const { api } = server;
  // An HR app synced once from a CSV file, and an app that never synced.
  hr = (await api("POST", "/api/v1/apps", { displayName: "HR sheet" })).app.id;
  const conn = (await api("POST", `/api/v1/apps/${hr}/connectors`, { displayName: "HR export" })).connectorView.connector.id;
  await server.upload(`/api/v1/apps/${hr}/connectors/${conn}/file`, CSV, "text/csv");
  await api("POST", "/api/v1/apps", { displayName: "Never synced" });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function userByEmail(email) {
  const found = await server.api("POST", "/api/v1/search/users", { email });
  return found.list.find((u) => u.user.email === email);
}

test("designate a directory with a CEL condition and a preview", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/directory");
  await page.locator("#directories-empty").waitFor();
  await page.getByRole("link", { name: "Add directory data source" }).click();

  // Only synced apps are offered.
  const options = await page.getByLabel("Application").locator("option").allInnerTexts();
  assert.ok(options.includes("HR sheet"), options.join());
  assert.ok(!options.includes("Never synced"), "an app that never synced is not offered");
  await page.getByLabel("Application").selectOption({ label: "HR sheet" });

  // A syntax error: the live validation shows where.
  await page.getByLabel("CEL expression", { exact: true }).check();
  const cel = page.getByLabel("CEL expression (account import condition)");
  await cel.fill('subject.email.endsWith("@example.com"');
  const markers = page.locator("#f-cel-markers");
  await markers.getByText(/Line 1, column \d+/).waitFor();
  await screenshot(page, "directory-cel-error-live");

  // Without the script's help the server says the same on preview, keeping the input.
  await page.getByRole("button", { name: "Preview data" }).click();
  assert.match(await page.locator("#notice").innerText(), /Fix the expressions/);
  assert.match(await page.locator("#f-cel-markers").innerText(), /Line 1, column \d+/);
  assert.equal(await page.getByLabel("CEL expression (account import condition)").inputValue(), 'subject.email.endsWith("@example.com"');
  assert.equal(await page.getByLabel("Application").inputValue(), hr);

  // Fixed: valid, and the preview shows what would happen.
  await page.getByLabel("CEL expression (account import condition)").fill('subject.email.endsWith("@example.com")');
  await page.locator("#f-cel-markers").getByText("Valid expression").waitFor();
  await page.getByRole("button", { name: "Preview data" }).click();
  const counts = page.locator("#preview-counts");
  await counts.waitFor();
  assert.equal(await counts.locator('[data-count="usersCreated"] dd').innerText(), "2");
  assert.equal(await counts.locator('[data-count="accountsIgnored"] dd').innerText(), "1");
  assert.match(await page.locator("#preview-create").innerText(), /ann@example\.com/);
  await screenshot(page, "directory-preview");
  assert.equal(await userByEmail("ann@example.com"), undefined, "a preview changes nothing");

  await page.getByRole("button", { name: "Create directory" }).click();
  assert.match(await page.locator("#notice").innerText(), /Created/);
  const row = page.locator("#directories tr", { hasText: "HR sheet" });
  assert.match(await row.innerText(), /endsWith/);

  // The users appear (resolution runs in the background).
  let ann;
  for (let i = 0; i < 100 && !ann; i++) {
    ann = await userByEmail("ann@example.com");
    if (!ann) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(ann, "Ann was imported");
  assert.ok(await userByEmail("bob@example.com"), "Bob was imported");
  assert.equal(await userByEmail("cy@contractor.test"), undefined, "the condition left Cy out");
  await page.reload();
  await page.locator("#last-run").waitFor();
  await screenshot(page, "directory-list");
});

test("custom merge matching: reorder, Remove + suffix, switch to CEL, Update", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/directory");
  await page.getByText("⋯").first().click();
  await page.getByRole("link", { name: "Edit" }).click();
  await page.getByLabel("Custom - define custom matching rules").check();
  const rules = page.locator("#rules > li");
  assert.equal(await rules.count(), 2, "pre-populated with the default rules");
  assert.equal(await page.getByLabel("Directory source account field (rule 1)").inputValue(), "emails");

  await page.getByRole("button", { name: "Move down rule 1" }).click();
  assert.equal(await page.getByLabel("Directory source account field (rule 1)").inputValue(), "employeeIds");
  assert.equal(await page.getByLabel("Chamberlain user field (rule 2)").inputValue(), "emails");
  await page.locator("#rules > li").nth(1).getByLabel(/Remove \+ suffix/).check();
  await page.locator("#rules > li").nth(0).getByRole("button", { name: "Switch to CEL expression" }).click();
  const dirKey = page.getByLabel("Directory account key, CEL (rule 1)");
  assert.equal(await dirKey.inputValue(), "subject.employeeIds");
  assert.ok(await page.locator("#rules > li").nth(1).getByLabel(/Remove \+ suffix/).isChecked(), "the draft keeps the checkbox");
  await screenshot(page, "directory-merge-rules");
  await page.getByRole("button", { name: "Update" }).click();
  assert.match(await page.locator("#notice").innerText(), /Saved/);
  assert.match(await page.locator("#directories tr", { hasText: "HR sheet" }).innerText(), /Custom \(2 rules\)/);

  const d = (await server.api("GET", `/api/v1/directories/${hr}`)).directoryView.directory;
  assert.deepEqual(d.mergeConfig.matchCases, [
    { appUserKeyCel: "subject.employeeIds", userKeyCel: "subject.employeeIds" },
    { appUserKeyCel: "removePlusSuffix(subject.emails)", userKeyCel: "removePlusSuffix(subject.emails)" },
  ]);
  assert.equal(d.celExpression.expression, 'subject.email.endsWith("@example.com")', "the condition is kept");

  // Back to the default.
  await page.getByText("⋯").first().click();
  await page.getByRole("link", { name: "Edit" }).click();
  assert.ok(await page.getByLabel("Custom - define custom matching rules").isChecked());
  await page.getByLabel("Default - match on email and employee ID").check();
  await page.getByRole("button", { name: "Update" }).click();
  assert.match(await page.locator("#directories tr", { hasText: "HR sheet" }).innerText(), /Default/);

  // Phone width stays readable.
  const phone = await newPage(browser, { phone: true });
  await signIn(phone, server.base, "admin@example.com", `/admin/directory/${hr}/edit`);
  await screenshot(phone, "directory-edit-phone");
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 400, `no horizontal scrolling at phone width (page is ${width}px wide)`);
});

test("a preview shows conflicts with every candidate", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", `/admin/directory/${hr}/edit`);
  // Cy's account, ignored so far, matches two people by display name.
  await page.getByLabel("All accounts").check();
  await page.getByLabel("Custom - define custom matching rules").check();
  await page.getByLabel("Directory source account field (rule 1)").selectOption({ label: "Display name" });
  await page.getByLabel("Chamberlain user field (rule 1)").selectOption({ label: "Display name" });
  await page.getByRole("button", { name: "Preview data" }).click();
  await page.locator("#preview").waitFor();
  await screenshot(page, "directory-preview-conflicts");
  const row = page.locator("#preview-conflicts tr", { hasText: "cy.moss1@other.test" });
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /Cy Moss/);
  assert.match(text, /cy\.moss2@other\.test/, "both candidates are shown");
  assert.notEqual(await page.locator('#preview-counts [data-count="conflicts"] dd').innerText(), "0");
  // Nothing was saved.
  const d = (await server.api("GET", `/api/v1/directories/${hr}`)).directoryView.directory;
  assert.ok(!d.mergeConfig, "the preview did not change the directory");
});
