// Preloaded into the conformance suite (NODE_OPTIONS=--import) by scripts/conformance when it
// is given --header: the suite has no option for custom request headers, so this adds the
// headers in CONFORMANCE_EXTRA_HEADERS (a JSON object) to every request it makes through
// fetch, node:http and undici. Written for Chamberlain; used only against the gateway.
import http from 'node:http';
import { createRequire } from 'node:module';

const extra = JSON.parse(process.env.CONFORMANCE_EXTRA_HEADERS || '{}');
const names = Object.keys(extra).map((n) => n.toLowerCase());

function withExtra(headers) {
  if (headers instanceof Headers) {
    const copy = new Headers(headers);
    for (const [k, v] of Object.entries(extra)) if (!copy.has(k)) copy.set(k, v);
    return copy;
  }
  if (Array.isArray(headers)) {
    const present = new Set(headers.map(([k]) => String(k).toLowerCase()));
    return [...headers, ...Object.entries(extra).filter(([k]) => !present.has(k.toLowerCase()))];
  }
  const out = { ...(headers || {}) };
  const present = new Set(Object.keys(out).map((k) => k.toLowerCase()));
  for (const [k, v] of Object.entries(extra)) if (!present.has(k.toLowerCase())) out[k] = v;
  return out;
}

if (names.length > 0) {
  const originalFetch = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    if (input instanceof Request && !init.headers) {
      return originalFetch(new Request(input, { headers: withExtra(input.headers) }));
    }
    return originalFetch(input, { ...init, headers: withExtra(init.headers) });
  };

  const originalRequest = http.request;
  http.request = (...args) => {
    const i = args.findIndex((a) => a && typeof a === 'object' && !(a instanceof URL));
    if (i >= 0) args[i] = { ...args[i], headers: withExtra(args[i].headers) };
    return originalRequest(...args);
  };

  // The suite imports undici's `request` by name; patch the shared CommonJS exports before it
  // loads, resolving undici from the suite's own node_modules.
  if (process.env.CONFORMANCE_SUITE_ENTRY) {
    try {
      const undici = createRequire(process.env.CONFORMANCE_SUITE_ENTRY)('undici');
      const originalUndici = undici.request;
      undici.request = (url, opts = {}) =>
        originalUndici(url, { ...opts, headers: withExtra(opts.headers) });
    } catch {
      // undici not resolvable: only fetch and node:http requests get the headers.
    }
  }
}
