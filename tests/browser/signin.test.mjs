// Signing in, in a real browser: local passwords (the generic error for a wrong one, landing on
// the page asked for, and the first-run administrator whose password `chamberlain serve`
// prints), and single sign-on against a real OpenID provider run offline on loopback
// (tests/browser/oidc-provider.mjs), configured by the super admin on Admin › Settings:
// "Sign in with …" → the provider's login form → back in Chamberlain as the matched user, and
// Chamberlain's refusal pages for an unverified email and for someone without an account.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { startServer, launchBrowser, newPage, signIn, screenshot, freePort, PASSWORD } from "./lib/harness.mjs";

const CLIENT_ID = "chamberlain-browser";
const CLIENT_SECRET = "sso-browser-secret-4b8e1f0c7d2a";

let server, browser, provider, issuer, bootstrap;

/** Starts the offline OpenID provider for the server's callback; resolves with its issuer. */
async function startProvider(base) {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [join(import.meta.dirname, "oidc-provider.mjs"), String(port), CLIENT_ID, CLIENT_SECRET, `${base}/auth/v1/sso/callback`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`oidc-provider did not start: ${out}`)), 20_000);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/oidc-provider ready (\S+)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    proc.stderr.on("data", (d) => (out += d));
    proc.once("exit", (c) => fail(new Error(`oidc-provider exited ${c}: ${out}`)));
  });
  return { proc, url };
}

/** The first-run administrator's sign-in as `chamberlain serve` prints it. */
function printedAdmin(output) {
  const email = output.match(/^\s*Email:\s+(\S+)\s*$/m);
  const password = output.match(/^\s*Password:\s+(\S+)\s*$/m);
  assert.ok(/First start: created the administrator account/.test(output), `no bootstrap announcement in:\n${output}`);
  assert.ok(email && password, `no printed sign-in in:\n${output}`);
  return { email: email[1], password: password[1] };
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  bootstrap = printedAdmin(server.output());
  server.user("alice@example.com", "Alice Example");
  server.user("bob@example.com", "Bob Example");
  server.user("carol@example.com", "Carol Chamberlain");
  server.user("reader@example.com", "Rita Reader", "read-only-admin");
  ({ proc: provider, url: issuer } = await startProvider(server.base));
});

after(async () => {
  provider?.kill("SIGTERM");
  await browser?.close();
  await server?.stop();
});

test("local sign-in: a wrong password gets the generic error, the right one lands on the page asked for", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/requests/mine`);
  assert.match(new URL(page.url()).pathname, /^\/auth\/v1\/signin$/);
  await page.getByLabel("Email").fill("alice@example.com");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#error").waitFor();
  assert.equal(await page.locator("#error").innerText(), "The email address or password is incorrect.");
  // An unknown email gets the same words (nothing tells which accounts exist).
  await page.getByLabel("Email").fill("nobody@example.com");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#error").waitFor();
  assert.equal(await page.locator("#error").innerText(), "The email address or password is incorrect.");
  // The email is kept, the password never.
  assert.equal(await page.getByLabel("Email").inputValue(), "nobody@example.com");
  assert.equal(await page.getByLabel("Password").inputValue(), "");
  await page.getByLabel("Email").fill("alice@example.com");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(`${server.base}/requests/mine`);
  assert.equal(await page.locator("#profile-menu summary").innerText(), "Alice Example");
  await page.context().close();
});

test("first run: the administrator printed by `chamberlain serve` signs in", async () => {
  assert.equal(bootstrap.email, "admin@chamberlain.local");
  const page = await newPage(browser);
  await page.goto(`${server.base}/admin/settings`);
  await page.getByLabel("Email").fill(bootstrap.email);
  await page.getByLabel("Password").fill(bootstrap.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(`${server.base}/admin/settings`);
  assert.equal(await page.locator("h1").innerText(), "Settings");
  assert.equal(await page.locator("#profile-menu summary").innerText(), "Administrator");
  await page.goto(`${server.base}/profile`);
  assert.equal(await page.locator("#profile-email").innerText(), bootstrap.email);
  await page.context().close();
});

/** A new browser's sign-in through the provider as `account`; returns the page where it ends. */
async function ssoSignIn(account, path = "/") {
  const page = await newPage(browser);
  await page.goto(`${server.base}${path}`);
  await page.getByRole("button", { name: "Sign in with Test ID" }).click();
  // The provider's own login form, in the browser.
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`));
  await page.getByLabel("Account").fill(account);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.href.startsWith(server.base));
  await page.waitForLoadState("domcontentloaded");
  return page;
}

test("single sign-on: configured on Admin › Settings, then signing in through the OpenID provider", async () => {
  const admin = await newPage(browser);
  await admin.goto(`${server.base}/admin/settings`);
  await admin.getByLabel("Email").fill(bootstrap.email);
  await admin.getByLabel("Password").fill(bootstrap.password);
  await admin.getByRole("button", { name: "Sign in", exact: true }).click();
  await admin.waitForURL(`${server.base}/admin/settings`);
  const form = admin.locator("#sso-settings");
  await form.scrollIntoViewIfNeeded();
  // Not set up yet: the redirect URI to register at the provider, with a copy button.
  assert.match(await admin.locator("#sso-source").innerText(), /Not set up/);
  assert.equal(await form.getByLabel("Redirect URI to register at the provider").inputValue(), `${server.base}/auth/v1/sso/callback`);
  // The copy button puts it on the clipboard (app.js; a script error anywhere would stop it).
  await admin.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.base });
  await form.locator("button[data-copy=sso-redirect-uri]").click();
  await form.getByRole("button", { name: "Copied" }).waitFor();
  assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), `${server.base}/auth/v1/sso/callback`);
  assert.equal(await admin.locator("#sso-secret-state").innerText(), "not set");

  // The API's refusal is shown on the form, the input kept except the secret.
  await form.getByLabel("Offer single sign-on on the sign-in page").check();
  await form.getByLabel("Issuer URL").fill(`${issuer}/?tenant=1`);
  await form.getByLabel("Client ID").fill(CLIENT_ID);
  await form.getByLabel("Client secret").fill(CLIENT_SECRET);
  await form.getByLabel(/^Button name/).fill("Test ID");
  await form.getByLabel(/^Allowed email domains/).fill("example.com, elsewhere.test");
  await form.getByRole("button", { name: "Save single sign-on" }).click();
  await admin.locator("#sso-settings #notice").waitFor();
  assert.match(await admin.locator("#sso-settings #notice").innerText(), /issuerUrl.*query/);
  assert.equal(await form.getByLabel("Issuer URL").inputValue(), `${issuer}/?tenant=1`);
  assert.equal(await form.getByLabel("Client ID").inputValue(), CLIENT_ID);
  assert.equal(await form.getByLabel(/^Button name/).inputValue(), "Test ID");
  assert.equal(await form.getByLabel(/^Allowed email domains/).inputValue(), "example.com, elsewhere.test");
  assert.equal(await form.getByLabel("Offer single sign-on on the sign-in page").isChecked(), true);
  assert.equal(await form.getByLabel("Client secret").inputValue(), "");
  assert.doesNotMatch(await admin.content(), new RegExp(CLIENT_SECRET));
  assert.equal((await server.api("GET", "/api/v1/settings/sso")).sso.source, "none");

  // Fixed, saved: the secret shows as set and is never written into the page.
  await form.getByLabel("Issuer URL").fill(issuer);
  await form.getByLabel("Client secret").fill(CLIENT_SECRET);
  await form.getByRole("button", { name: "Save single sign-on" }).click();
  await admin.locator("#notice").waitFor();
  assert.equal(await admin.locator("#notice").innerText(), "Saved.");
  assert.equal(new URL(admin.url()).hash, "#sso");
  assert.equal(await admin.locator("#sso-secret-state").innerText(), "set");
  assert.match(await admin.locator("#sso-source").innerText(), /saved here/);
  assert.equal(await form.getByLabel("Client secret").inputValue(), "");
  assert.doesNotMatch(await admin.content(), new RegExp(CLIENT_SECRET));
  const saved = (await server.api("GET", "/api/v1/settings/sso")).sso;
  assert.equal(saved.enabled, true);
  assert.equal(saved.issuerUrl, issuer);
  assert.equal(saved.clientId, CLIENT_ID);
  assert.equal(saved.clientSecretSet, true);
  assert.equal(saved.displayName, "Test ID");
  assert.deepEqual(saved.allowedEmailDomains, ["example.com", "elsewhere.test"]);
  assert.deepEqual(saved.scopes, ["openid", "email", "profile"]);
  assert.equal(saved.source, "api");
  // Saving again with the secret left empty keeps it.
  await form.getByLabel(/^Scopes/).fill("openid email profile");
  await form.getByRole("button", { name: "Save single sign-on" }).click();
  await admin.locator("#notice").waitFor();
  assert.equal(await admin.locator("#sso-secret-state").innerText(), "set");
  await form.scrollIntoViewIfNeeded();
  await screenshot(admin, "admin-settings-sso");

  // A read-only admin sees the settings, and the API refuses their change.
  const reader = await newPage(browser);
  await signIn(reader, server.base, "reader@example.com", "/admin/settings");
  const rform = reader.locator("#sso-settings");
  assert.equal(await rform.getByLabel("Issuer URL").inputValue(), issuer);
  await rform.getByLabel(/^Button name/).fill("Hijacked");
  await rform.getByRole("button", { name: "Save single sign-on" }).click();
  await reader.locator("#sso-settings #notice").waitFor();
  assert.match(await reader.locator("#sso-settings #notice").innerText(), /Super Admin|not allowed|permission|denied/i);
  assert.equal(await rform.getByLabel(/^Button name/).inputValue(), "Hijacked");
  assert.equal((await server.api("GET", "/api/v1/settings/sso")).sso.displayName, "Test ID");
  await reader.context().close();

  // The form is CSRF-checked: the admin's own session without the form's token changes nothing.
  const session = (await admin.context().cookies()).find((c) => c.name === "chamberlain_session");
  const forged = await fetch(`${server.base}/admin/settings/sso`, {
    method: "POST",
    headers: { cookie: `chamberlain_session=${session.value}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ sso_enabled: "on", sso_issuer_url: "https://evil.example", sso_client_id: "x" }),
    redirect: "manual",
  });
  assert.equal(forged.status, 403);
  assert.equal((await server.api("GET", "/api/v1/settings/sso")).sso.issuerUrl, issuer);

  // Signing out leaves the sign-in page, which now offers single sign-on.
  await admin.locator("#profile-menu summary").click();
  await admin.getByRole("button", { name: "Sign out" }).click();
  await admin.goto(`${server.base}/requests/mine`);
  await admin.getByRole("button", { name: "Sign in with Test ID" }).waitFor();
  await screenshot(admin, "signin-sso");
  await admin.context().close();

  // Alice signs in at the provider and lands, signed in, on the page she asked for.
  const alice = await ssoSignIn("alice", "/requests/mine");
  assert.equal(alice.url(), `${server.base}/requests/mine`);
  assert.equal(await alice.locator("#profile-menu summary").innerText(), "Alice Example");
  await alice.goto(`${server.base}/profile`);
  assert.equal(await alice.locator("#profile-email").innerText(), "alice@example.com");
  await alice.context().close();

  // Bob's provider email differs in case only: he is matched all the same.
  const bob = await ssoSignIn("bob", "/profile");
  assert.equal(await bob.locator("#profile-email").innerText(), "bob@example.com");
  assert.equal(await bob.locator("#profile-menu summary").innerText(), "Bob Example");
  await bob.context().close();

  // Carol's email is not verified at the provider: Chamberlain refuses, saying why.
  const carol = await ssoSignIn("carol", "/requests");
  assert.equal(await carol.locator("h1").innerText(), "Email address not verified");
  assert.match(await carol.locator("#error").innerText(), /does not report carol@example\.com as verified/);
  assert.equal(await carol.locator("#profile-menu").count(), 0);
  await screenshot(carol, "signin-sso-unverified");
  await carol.locator("#back").click();
  await carol.getByRole("button", { name: "Sign in with Test ID" }).waitFor();
  assert.equal(new URL(carol.url()).searchParams.get("return_to"), "/requests");
  await carol.context().close();

  // Dave has no Chamberlain account: refused, and nobody is created.
  const dave = await ssoSignIn("dave");
  assert.equal(await dave.locator("h1").innerText(), "No Chamberlain account");
  assert.match(await dave.locator("#error").innerText(), /dave@elsewhere\.test/);
  const r = await dave.goto(`${server.base}/requests`);
  assert.match(new URL(r.url()).pathname, /^\/auth\/v1\/signin$/);
  await dave.context().close();
  const users = await server.api("POST", "/api/v1/search/users", { email: "dave@elsewhere.test" });
  assert.equal((users.list || []).length, 0);
});

test("single sign-on from the config file: shown as such, and the first save here keeps its secret", async () => {
  const other = await startServer([
    "--sso-issuer-url", issuer,
    "--sso-client-id", CLIENT_ID,
    "--sso-client-secret", CLIENT_SECRET,
    "--sso-display-name", "File ID",
  ]);
  try {
    const admin = printedAdmin(other.output());
    const page = await newPage(browser);
    await page.goto(`${other.base}/admin/settings`);
    // The file's settings are in force: the sign-in page offers them already.
    await page.getByRole("button", { name: "Sign in with File ID" }).waitFor();
    await page.getByLabel("Email").fill(admin.email);
    await page.getByLabel("Password").fill(admin.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(`${other.base}/admin/settings`);
    const form = page.locator("#sso-settings");
    assert.match(await page.locator("#sso-source").innerText(), /config file/);
    assert.equal(await page.locator("#sso-secret-state").innerText(), "set");
    assert.equal(await form.getByLabel("Issuer URL").inputValue(), issuer);
    assert.equal(await form.getByLabel("Client ID").inputValue(), CLIENT_ID);
    assert.equal(await form.getByLabel("Offer single sign-on on the sign-in page").isChecked(), true);
    assert.doesNotMatch(await page.content(), new RegExp(CLIENT_SECRET));
    await form.getByLabel(/^Button name/).fill("Saved ID");
    await form.getByRole("button", { name: "Save single sign-on" }).click();
    await page.locator("#notice").waitFor();
    assert.match(await page.locator("#sso-source").innerText(), /saved here/);
    assert.equal(await page.locator("#sso-secret-state").innerText(), "set");
    const s = (await other.api("GET", "/api/v1/settings/sso")).sso;
    assert.equal(s.source, "api");
    assert.equal(s.displayName, "Saved ID");
    assert.equal(s.clientSecretSet, true);
    await page.context().close();
  } finally {
    await other.stop();
  }
});
