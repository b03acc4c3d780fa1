// Policies in a real browser: a new policy with a rule whose CEL condition is validated live
// and on save (line and column), steps per step set (manager approval as the baseline, named
// approvers with a required reason for the rule's set), and the API's refusal shown on the form
// with the input kept.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, signIn, screenshot } from "./lib/harness.mjs";

let server, browser, carol;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  server.user("admin@example.com", "Ada Admin", "super-admin");
  carol = server.user("carol@example.com", "Carol Chen");
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("create and edit a policy with rules and steps", async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, "admin@example.com", "/admin/policies");
  await page.getByRole("link", { name: "New policy" }).click();
  await page.getByLabel("Name").fill("Production approvals");
  await page.getByRole("button", { name: "Add rule" }).click();
  assert.equal(await page.getByLabel("Name").inputValue(), "Production approvals", "adding a rule keeps the draft");

  const cond = page.getByLabel("Condition (rule 1, CEL)");
  await cond.fill('subject.department == "SRE" &&');
  await page.locator("#f-rule0_cond-markers").getByText(/Line 1, column \d+/).waitFor();
  await page.getByLabel("Step set to use (rule 1)").fill("sre");
  await page.getByRole("button", { name: "Add step" }).click();
  await page.getByLabel("Step set (step 2)").fill("sre");
  await page.getByLabel("What happens (step 2)").selectOption({ label: "Approval by specific users" });
  await page.getByLabel(/Approvers, emails comma separated \(step 2/).fill("carol@example.com");
  await page.getByLabel("Approval reason required").nth(1).check();
  await page.getByRole("button", { name: "Save" }).click();
  // Refused on save with the position; the input is kept.
  assert.match(await page.locator("#notice").innerText(), /Fix the conditions/);
  assert.match(await page.locator("#f-rule0_cond-markers").innerText(), /Line 1, column \d+/);
  assert.equal(await page.getByLabel("Condition (rule 1, CEL)").inputValue(), 'subject.department == "SRE" &&');
  await screenshot(page, "policy-cel-error");

  await page.getByLabel("Condition (rule 1, CEL)").fill('subject.department == "SRE"');
  await page.locator("#f-rule0_cond-markers").getByText("Valid expression").waitFor();
  await page.getByRole("button", { name: "Save" }).click();
  assert.match(await page.locator("#notice").innerText(), /Created/);
  await screenshot(page, "policy-edit");

  const id = new URL(page.url()).pathname.split("/").pop();
  const p = (await server.api("GET", `/api/v1/policies/${id}`)).policy;
  assert.deepEqual(p.rules.map((r) => [r.condition, r.stepKey]), [['subject.department == "SRE"', "sre"]]);
  assert.ok(p.policySteps.grant.steps[0].approval.manager, "the baseline is the manager's approval");
  const named = p.policySteps.sre.steps[0].approval;
  assert.deepEqual(named.users.userIds, [carol]);
  assert.equal(named.requireApprovalReason, true);
  assert.equal(await page.getByLabel(/Approvers, emails comma separated \(step 2/).inputValue(), "carol@example.com");

  // The API's refusal (a rule naming a step set that has no steps) is shown with the input kept.
  await page.getByLabel("Step set to use (rule 1)").fill("missing");
  await page.getByRole("button", { name: "Save" }).click();
  const refusal = await page.locator("#notice").innerText();
  assert.match(refusal, /missing/);
  assert.equal(await page.getByLabel("Step set to use (rule 1)").inputValue(), "missing");

  await page.goto(`${server.base}/admin/policies`);
  assert.match(await page.locator("#policies").innerText(), /Production approvals/);
});
