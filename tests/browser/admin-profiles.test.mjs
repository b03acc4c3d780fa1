// The on-call access profiles seed in a real browser, as the super admin: Access profiles >
// New profile > name > Continue > Entitlements > Manage entitlements > search > Save; then
// the profile's Requests page > Edit > Allow requests, Profile is visible to: Users with
// entitlements > the rotation > Save, which a rotation holder sees under Requests and a
// non-holder does not; and a second profile whose JML page sets the Joiner to Auto approval
// and Membership automation to the rotation, after which the holder has the access.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, signIn, screenshot } from "./lib/harness.mjs";

let server, browser, ids;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const alice = server.user("alice@example.com", "Alice Adams");
  const bob = server.user("bob@example.com", "Bob Brown");
  server.user("admin@example.com", "Ada Admin", "super-admin");
  const { api } = server;
  const app = async (displayName) => (await api("POST", "/api/v1/apps", { displayName })).app.id;
  const ent = async (app, displayName) =>
    (await api("POST", `/api/v1/apps/${app}/entitlements`, { displayName })).appEntitlementView.appEntitlement.id;
  // The on-call platform: Alice is on the rotation, Bob is not.
  const pd = await app("PagerDuty");
  const rotation = await ent(pd, "Primary on-call");
  await api("POST", `/api/v1/apps/${pd}/entitlements/${rotation}/add-manual-user`, { userIds: [alice] });
  const prod = await app("Production");
  const admin = await ent(prod, "Production admin");
  const readonly = await ent(prod, "Production read-only");
  // Both have an account in Production, so access can be provisioned there.
  const other = await ent(prod, "Production viewer");
  await api("POST", `/api/v1/apps/${prod}/entitlements/${other}/add-manual-user`, { userIds: [alice, bob] });
  ids = { alice, bob, pd, rotation, prod, admin, readonly };
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function newProfile(page, name, entitlement) {
  await page.goto(`${server.base}/admin/profiles`);
  await page.getByRole("link", { name: "New profile" }).click();
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Continue" }).click();
  assert.match(await page.locator("h1").innerText(), new RegExp(name));
  await page.locator("#profile-entitlements-empty").waitFor();
  await page.locator("nav.tabs").getByRole("link", { name: "Entitlements" }).click();
  await page.getByRole("link", { name: "Manage entitlements" }).click();
  await page.getByLabel("App").selectOption({ label: "Production" });
  await page.getByLabel("Search entitlements").fill(entitlement);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByLabel(entitlement).check();
  await page.getByRole("button", { name: "Save" }).click();
  assert.match(await page.locator("#notice").innerText(), /Saved/);
  assert.match(await page.locator("#profile-entitlements").innerText(), new RegExp(entitlement));
}

async function pickRotation(page) {
  await page.getByLabel("Search entitlements").fill("on-call");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByLabel("Primary on-call").check();
}

test("on-call profile requestable by rotation holders", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/profiles");
  await page.locator("#profiles-empty").waitFor();
  await newProfile(page, "On-call", "Production admin");
  await screenshot(page, "profile-entitlements");

  await page.locator("nav.tabs").getByRole("link", { name: "Requests" }).click();
  await page.getByRole("link", { name: "Edit" }).click();
  await page.getByLabel("Allow requests").check();
  await page.getByLabel("Users with entitlements").check();
  await pickRotation(page);
  await screenshot(page, "profile-requests-edit");
  await page.getByRole("button", { name: "Save" }).click();
  assert.match(await page.locator("#notice").innerText(), /Saved/);
  assert.match(await page.locator("#allow-requests").innerText(), /Yes/);
  assert.match(await page.locator("#visibility").innerText(), /Primary on-call/);
  await page.getByRole("button", { name: "Publish" }).click();
  assert.match(await page.locator("#notice").innerText(), /Published/);

  const alice = await newPage(browser);
  await signIn(alice, server.base, "alice@example.com", "/requests");
  await alice.locator(`article[data-entitlement="${ids.admin}"]`).waitFor();
  await screenshot(alice, "profile-visible-to-holder");
  const bob = await newPage(browser);
  await signIn(bob, server.base, "bob@example.com", "/requests");
  await bob.locator("main").waitFor();
  assert.equal(await bob.locator(`article[data-entitlement="${ids.admin}"]`).count(), 0, "a non-holder does not see it");
  assert.doesNotMatch(await bob.locator("main").innerText(), /Production admin/);
});

test("on-call profile granted automatically through JML", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/profiles");
  await newProfile(page, "On-call auto", "Production read-only");
  await page.getByRole("button", { name: "Publish" }).click();

  await page.locator("nav.tabs").getByRole("link", { name: "JML" }).click();
  await page.locator("#joiner").getByRole("link", { name: "Edit" }).click();
  await page.getByLabel("Approval policy").selectOption({ label: "Auto approval" });
  await page.getByRole("button", { name: "Save" }).click();
  assert.match(await page.locator("#joiner-policy").innerText(), /Auto approval/);

  await page.locator("#membership-automation").getByRole("link", { name: "Edit" }).click();
  await pickRotation(page);
  assert.ok(await page.getByLabel("Enabled").isChecked());
  await page.getByRole("button", { name: "Save" }).click();
  assert.match(await page.locator("#notice").innerText(), /Saved/);
  assert.match(await page.locator("#automation-status").innerText(), /Enabled/);
  assert.match(await page.locator("#circuit-breaker").innerText(), /Closed/);
  await screenshot(page, "profile-jml");

  // Alice, on the rotation, holds the access; Bob does not.
  const alice = await newPage(browser);
  await signIn(alice, server.base, "alice@example.com", "/access");
  let held = false;
  for (let i = 0; i < 50 && !held; i++) {
    held = (await alice.locator("#my-access tr", { hasText: "Production read-only" }).count()) > 0;
    if (!held) {
      await new Promise((r) => setTimeout(r, 200));
      await alice.reload();
    }
  }
  assert.ok(held, "the rotation holder got the access automatically");
  await screenshot(alice, "profile-auto-granted");
  const bob = await newPage(browser);
  await signIn(bob, server.base, "bob@example.com", "/access");
  assert.doesNotMatch(await bob.locator("main").innerText(), /Production read-only/);

  // Phone width: the JML page and the picker stay readable.
  const phone = await newPage(browser, { phone: true });
  await signIn(phone, server.base, "admin@example.com", "/admin/profiles");
  await phone.getByRole("link", { name: "On-call auto" }).click();
  await phone.locator("nav.tabs").getByRole("link", { name: "JML" }).click();
  await phone.locator("#membership-automation").getByRole("link", { name: "Edit" }).click();
  await screenshot(phone, "profile-automation-phone");
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 400, `no horizontal scrolling at phone width (page is ${width}px wide)`);
});
