// Compares one conformance run with its expected-failures file (written for Chamberlain;
// called by scripts/conformance).
//
//   node compare.mjs <suite output log> <expected-failures file>
//
// Failures are named `scenario:check-id` (one per failing check) or `scenario` (a scenario the
// summary marks failed without a failing check, e.g. a timeout). An expected entry `scenario`
// covers every failure of that scenario; `scenario:check-id` covers that check only.
// Exit 1 if a failure is not covered or an entry covers nothing (it now passes: remove it).
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [logPath, expectedPath] = process.argv.slice(2);
const log = readFileSync(logPath, 'utf8');

// "=== Running scenario: X ===" is followed by "Results saved to DIR" (or "Checks saved …").
const failures = new Set();
const scenarios = [];
let current = null;
for (const line of log.split('\n')) {
  const start = line.match(/^=== Running scenario: (\S+) ===/);
  if (start) {
    current = start[1];
    scenarios.push(current);
    continue;
  }
  const saved = line.match(/^(?:Results saved to|Checks saved to) (.+?)(?:\/checks\.json)?$/);
  if (saved && current) {
    const file = join(saved[1].trim(), 'checks.json');
    if (existsSync(file)) {
      for (const check of JSON.parse(readFileSync(file, 'utf8'))) {
        if (check.status === 'FAILURE') failures.add(`${current}:${check.id}`);
      }
    }
  }
}
const summary = log.slice(log.indexOf('=== SUMMARY ==='));
for (const m of summary.matchAll(/^✗ (\S+?):/gm)) {
  if (![...failures].some((f) => f.startsWith(`${m[1]}:`))) failures.add(m[1]);
}
if (scenarios.length === 0 || !log.includes('=== SUMMARY ===')) {
  console.log(`(fail) the suite did not run to its summary; see ${logPath}`);
  process.exit(1);
}

const expected = existsSync(expectedPath)
  ? readFileSync(expectedPath, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean)
  : [];
const covers = (entry, failure) => failure === entry || failure.startsWith(`${entry}:`);

let ok = true;
const unexpected = [...failures].filter((f) => !expected.some((e) => covers(e, f))).sort();
for (const f of unexpected) {
  console.log(`(fail) unexpected failure: ${f}`);
  ok = false;
}
for (const e of expected) {
  if (![...failures].some((f) => covers(e, f))) {
    console.log(`(fail) now passes, remove it from ${expectedPath}: ${e}`);
    ok = false;
  }
}
const allowed = failures.size - unexpected.length;
console.log(
  `${scenarios.length} scenarios run, ${failures.size} failing check(s) ` +
    `(${allowed} expected, ${unexpected.length} unexpected)`
);
process.exit(ok ? 0 : 1);
