// Shared parts of the browser tests: a real `chamberlain serve` on a fresh data directory,
// users made with the CLI, the C1 API through an admin client, and Debian's headless Chromium
// driven by playwright-core (no browser download: executablePath is the system Chromium).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createServer } from "node:net";
import { chromium } from "playwright-core";

export const ROOT = resolve(import.meta.dirname, "../../..");
export const BIN = process.env.CHAMBERLAIN_BIN || join(ROOT, "target/debug/chamberlain");
export const FIXTURE_BIN = process.env.CHAMBERLAIN_MCP_FIXTURE_BIN || join(ROOT, "target/debug/chamberlain-mcp-fixture");
export const ARTIFACTS = join(ROOT, "target/browser-artifacts");
export const PASSWORD = "correct horse battery staple";

/** A free loopback port. */
export async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

// CHAMBERLAIN_BROWSER_BACKEND=postgres runs the server on a fresh PostgreSQL database
// (CHAMBERLAIN_TEST_POSTGRES names the server, as for the Rust suites) instead of SQLite.
const PG_SERVER = process.env.CHAMBERLAIN_TEST_POSTGRES || "postgres://postgres@127.0.0.1:5432";
const ON_POSTGRES = process.env.CHAMBERLAIN_BROWSER_BACKEND === "postgres";
let databaseUrl = "";

/** Runs the chamberlain CLI against `dataDir` (and the test database), returning stdout. */
export function cli(dataDir, args, input) {
  const db = databaseUrl ? ["--database-url", databaseUrl] : [];
  return execFileSync(BIN, [...args, "--data-dir", dataDir, ...db], {
    input,
    encoding: "utf8",
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/**
 * Starts a server on a fresh data directory. Returns { base, dataDir, stop, api, user }.
 * `extraArgs` go to `chamberlain serve` (e.g. ["--demo"]).
 */
/**
 * `host` is the host name in the server's public URL (`localhost` keeps a second server's
 * cookies apart from a first one's on 127.0.0.1: browsers share cookies across ports);
 * `allowHosts` are the hosts it may reach (loopback MCP servers, providers).
 */
export async function startServer(extraArgs = [], { host = "127.0.0.1", allowHosts = ["127.0.0.1"] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "chamberlain-browser-"));
  let dbName = "";
  if (ON_POSTGRES) {
    dbName = `chamberlain_browser_${process.pid}_${Date.now()}`;
    execFileSync("psql", [`${PG_SERVER}/postgres`, "-qc", `CREATE DATABASE ${dbName}`]);
    databaseUrl = `${PG_SERVER}/${dbName}`;
  }
  const port = await freePort();
  const base = `http://${host}:${port}`;
  const creds = JSON.parse(
    cli(dataDir, ["admin", "create-client", "--role", "super-admin", "--output", "json", "--public-url", base]),
  );
  const proc = spawn(
    BIN,
    ["serve", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, "--outbound-allow-hosts", allowHosts.join(","), "--public-url", base,
      ...(databaseUrl ? ["--database-url", databaseUrl] : []), ...extraArgs],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  proc.stdout.on("data", (d) => (output += d));
  proc.stderr.on("data", (d) => (output += d));
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) break;
    } catch {}
    if (i > 300 || proc.exitCode !== null) throw new Error(`server did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  let token = null;
  async function bearer() {
    if (!token) {
      const r = await fetch(`${base}/auth/v1/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: creds.clientId,
          client_secret: creds.clientSecret,
        }),
      });
      if (!r.ok) throw new Error(`token: ${r.status} ${await r.text()}`);
      token = (await r.json()).access_token;
    }
    return token;
  }
  async function api(method, path, body) {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${await bearer()}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : {};
  }
  /** POSTs a raw body (a file upload) as the admin client; returns the parsed answer. */
  async function upload(path, body, contentType) {
    const r = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${await bearer()}`, "content-type": contentType },
      body,
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`POST ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : {};
  }
  /** Creates a local user with PASSWORD; returns their id. */
  function user(email, displayName, roles = "basic-user") {
    const out = cli(
      dataDir,
      ["admin", "create-user", "--email", email, "--display-name", displayName, "--role", roles, "--password-stdin", "--output", "json"],
      `${PASSWORD}\n`,
    );
    return JSON.parse(out).id;
  }
  async function stop() {
    proc.kill("SIGTERM");
    await new Promise((r) => (proc.exitCode !== null ? r() : proc.once("exit", r)));
    rmSync(dataDir, { recursive: true, force: true });
    if (dbName) {
      execFileSync("psql", [`${PG_SERVER}/postgres`, "-qc", `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`]);
      databaseUrl = "";
    }
  }
  return { base, dataDir, databaseUrl, api, upload, user, stop, output: () => output };
}

/** Launches headless Chromium with flags that keep it off the (closed) network. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A new browser context (its own cookies) at laptop or phone width. */
export async function newPage(browser, { phone = false } = {}) {
  const context = await browser.newContext({
    viewport: phone ? { width: 390, height: 844 } : { width: 1280, height: 800 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return page;
}

/** Signs in through the sign-in page (from wherever the app sent us). */
export async function signIn(page, base, email, path = "/", password = PASSWORD) {
  await page.goto(`${base}${path}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  // Exact: with single sign-on on, the page also has "Sign in with …".
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForLoadState("domcontentloaded");
}

/** Saves a full-page screenshot as a test artifact. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
