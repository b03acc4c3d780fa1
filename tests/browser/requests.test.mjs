// The employee flow of the seeds in a real browser: browse the catalog (the approval policy is
// shown before submitting), request access on-call style, the approver approves from Tasks,
// the requester sees the grant under My access. Plus CSRF and session-fixation refusals.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, signIn, screenshot } from "./lib/harness.mjs";

let server, browser, ids;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const alice = server.user("alice@example.com", "Alice Adams");
  const carol = server.user("carol@example.com", "Carol Chen");
  server.user("admin@example.com", "Ada Admin", "super-admin");
  const { api } = server;
  // The on-call rotation (held by Alice) and production access behind Carol's approval.
  const app = (await api("POST", "/api/v1/apps", { displayName: "Production" })).app.id;
  const ent = async (displayName, extra = {}) =>
    (await api("POST", `/api/v1/apps/${app}/entitlements`, { displayName, ...extra })).appEntitlementView.appEntitlement.id;
  const rotation = await ent("Primary on-call");
  await api("POST", `/api/v1/apps/${app}/entitlements/${rotation}/add-manual-user`, { userIds: [alice, carol] });
  const admin = await ent("Production admin", { description: "Write access to production during incidents" });
  const policy = (
    await api("POST", "/api/v1/policies", {
      displayName: "Carol approves",
      policyType: "POLICY_TYPE_GRANT",
      policySteps: { grant: { steps: [{ approval: { users: { userIds: [carol] }, allowReassignment: true } }] } },
    })
  ).policy.id;
  await api("POST", `/api/v1/apps/${app}/entitlements/${admin}`, {
    entitlement: { grantPolicyId: policy, durationGrant: "28800s" },
    updateMask: "grantPolicyId,durationGrant",
  });
  const catalog = (await api("POST", "/api/v1/catalogs", { displayName: "On-call", published: true, requestBundle: true }))
    .requestCatalogView.requestCatalog.id;
  await api("POST", `/api/v1/catalogs/${catalog}/requestable_entries`, { appEntitlements: [{ appId: app, id: admin }] });
  await api("POST", `/api/v1/catalogs/${catalog}/visibility_bindings`, { accessEntitlements: [{ appId: app, id: rotation }] });
  ids = { app, admin, alice, carol };
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("request on-call access, approve it, see the grant", async () => {
  const alice = await newPage(browser);
  await signIn(alice, server.base, "alice@example.com", "/requests");
  assert.equal(new URL(alice.url()).pathname, "/requests");
  const card = alice.locator(`article[data-entitlement="${ids.admin}"]`);
  await card.waitFor();
  const cardText = await card.innerText();
  assert.match(cardText, /Requires approval/);
  assert.match(cardText, /Approval by Carol Chen/);
  assert.match(cardText, /JIT: ends after 8 hours/);
  await screenshot(alice, "catalog");

  await card.getByRole("link", { name: "Request access" }).click();
  await alice.getByText("What happens when you submit").waitFor();
  assert.match(await alice.locator("#policy-steps").innerText(), /Approval by Carol Chen/);
  await alice.getByLabel(/Justification/).fill("Paged for incident 4711");
  await alice.getByLabel(/Duration in hours/).fill("4");
  await screenshot(alice, "request-form");
  await alice.getByRole("button", { name: "Submit" }).click();
  await alice.locator("#notice").waitFor();
  assert.match(await alice.locator("#notice").innerText(), /submitted/);
  assert.match(await alice.locator("#request-status").innerText(), /Open/);
  assert.match(await alice.locator("#waiting-for").innerText(), /Approval by Carol Chen/);
  await screenshot(alice, "my-request-open");

  // A length over the maximum is refused on the form with the engine's words.
  await alice.goto(`${server.base}/requests/new?app=${ids.app}&entitlement=${ids.admin}`);
  await alice.getByLabel(/Duration in hours/).evaluate((el) => el.removeAttribute("max"));
  await alice.getByLabel(/Duration in hours/).fill("9");
  await alice.getByRole("button", { name: "Submit" }).click();
  assert.match(await alice.locator("#notice").innerText(), /longer than the maximum/);

  const carol = await newPage(browser);
  await signIn(carol, server.base, "carol@example.com", "/tasks");
  const task = carol.locator("article.task").first();
  await task.waitFor();
  assert.match(await task.innerText(), /Paged for incident 4711/);
  await screenshot(carol, "tasks");
  await task.getByRole("button", { name: "Approve" }).click();
  assert.match(await carol.locator("#notice").innerText(), /Approved/);
  await carol.locator("#tasks-empty").waitFor();

  await alice.goto(`${server.base}/access`);
  const row = alice.locator("#my-access tr", { hasText: "Production admin" });
  await row.waitFor();
  assert.match(await row.innerText(), /Direct/);
  assert.match(await row.innerText(), /UTC/, "a JIT grant shows when it ends");
  await screenshot(alice, "my-access");
  await alice.goto(`${server.base}/requests/mine`);
  assert.match(await alice.locator("#my-requests").innerText(), /Granted/);

  // Phone width: the catalog is still usable.
  const phone = await newPage(browser, { phone: true });
  await signIn(phone, server.base, "alice@example.com", "/requests/mine");
  await screenshot(phone, "my-requests-phone");
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 400, `no horizontal scrolling at phone width (page is ${width}px wide)`);
});

test("forms without the CSRF token and fixed session ids are refused", async () => {
  const page = await newPage(browser);
  // Session fixation: a session id planted before sign-in is neither kept nor honoured.
  await page.context().addCookies([{ name: "chamberlain_session", value: "planted-by-an-attacker-0123456789", url: server.base }]);
  await signIn(page, server.base, "alice@example.com", "/requests");
  const cookies = await page.context().cookies(server.base);
  const session = cookies.find((c) => c.name === "chamberlain_session");
  assert.ok(session && session.value !== "planted-by-an-attacker-0123456789", "sign-in issues a new session id");
  assert.ok(session.httpOnly, "the session cookie is HttpOnly");
  assert.equal(session.sameSite, "Lax");
  const planted = await fetch(`${server.base}/requests`, {
    headers: { cookie: "chamberlain_session=planted-by-an-attacker-0123456789" },
    redirect: "manual",
  });
  assert.equal(planted.status, 303, "the planted id does not sign anyone in");

  // A form posted without the token (as another site's page would) changes nothing.
  const before = await server.api("POST", "/api/v1/search/tasks", { subjectIds: [ids.alice] });
  const status = await page.evaluate(async ({ app, ent }) => {
    const r = await fetch("/requests/new", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ app, entitlement: ent, justification: "forged" }),
    });
    return r.status;
  }, { app: ids.app, ent: ids.admin });
  assert.equal(status, 403);
  // And one from another origin, even with a token-shaped value.
  const cross = await fetch(`${server.base}/requests/new`, {
    method: "POST",
    headers: {
      origin: "https://evil.example",
      cookie: `chamberlain_session=${session.value}; chamberlain_csrf=${"a".repeat(43)}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ csrf: "a".repeat(43), app: ids.app, entitlement: ids.admin, justification: "forged" }),
    redirect: "manual",
  });
  assert.equal(cross.status, 403);
  const afterTasks = await server.api("POST", "/api/v1/search/tasks", { subjectIds: [ids.alice] });
  assert.equal(afterTasks.list.length, before.list.length, "no request was created");

  // Signing out ends the session: the old cookie no longer works.
  await page.goto(`${server.base}/profile`);
  await page.locator("#profile-menu summary").click();
  await page.getByRole("button", { name: "Sign out" }).first().click();
  const reuse = await fetch(`${server.base}/requests`, { headers: { cookie: `chamberlain_session=${session.value}` }, redirect: "manual" });
  assert.equal(reuse.status, 303);
});
