// An OpenID provider for Chamberlain's single sign-on tests, run offline on loopback.
//
//   node tests/browser/oidc-provider.mjs PORT [CLIENT_ID CLIENT_SECRET REDIRECT_URI]
//
// The client may also come from OIDC_CLIENT_ID / OIDC_CLIENT_SECRET / OIDC_REDIRECT_URI.
// OIDC_ID_TOKEN_ALG (RS256 default, ES256, EdDSA) picks how its ID tokens are signed;
// OIDC_CLAIMS_IN_ID_TOKEN=1 puts email claims in the ID token itself (otherwise, as the
// specification has it for the code flow, they come only from the userinfo endpoint);
// OIDC_AUTH_METHOD (client_secret_basic default, client_secret_post) is how the client must
// authenticate at the token endpoint.
//
// Accounts (the login form takes the account name; there are no passwords):
//   alice  alice@example.com     verified
//   bob    Bob@Example.COM       verified (Chamberlain matches emails case-insensitively)
//   carol  carol@example.com     NOT verified
//   dave   dave@elsewhere.test   verified
//
// The login interaction is a plain form a test completes with HTTP posts:
//   GET  /interaction/<uid>        the form (action /interaction/<uid>/login, field `login`)
//   POST /interaction/<uid>/login  signs in and grants the requested scopes at once
//   POST /interaction/<uid>/abort  the user cancels (access_denied goes back to the client)
//
// When listening it prints one line: `oidc-provider ready <issuer>`.

import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const [portArg, argId, argSecret, argRedirect] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node oidc-provider.mjs PORT [CLIENT_ID CLIENT_SECRET REDIRECT_URI]');
  process.exit(2);
}
const clientId = argId || process.env.OIDC_CLIENT_ID || 'chamberlain';
const clientSecret = argSecret || process.env.OIDC_CLIENT_SECRET || 'chamberlain-test-secret-0123456789';
const redirectUri = argRedirect || process.env.OIDC_REDIRECT_URI || 'http://127.0.0.1:8080/auth/v1/sso/callback';
const idTokenAlg = process.env.OIDC_ID_TOKEN_ALG || 'RS256';
const authMethod = process.env.OIDC_AUTH_METHOD || 'client_secret_basic';
const claimsInIdToken = process.env.OIDC_CLAIMS_IN_ID_TOKEN === '1';
const issuer = `http://127.0.0.1:${port}`;

const ACCOUNTS = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example' },
  bob: { email: 'Bob@Example.COM', email_verified: true, name: 'Bob Example' },
  carol: { email: 'carol@example.com', email_verified: false, name: 'Carol Unverified' },
  dave: { email: 'dave@elsewhere.test', email_verified: true, name: 'Dave Elsewhere' },
};

// Fresh signing keys each run, one per algorithm the tests use.
const jwk = (pair, kid) => ({ ...pair.privateKey.export({ format: 'jwk' }), kid, use: 'sig' });
const keys = [
  jwk(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }), 'rsa-1'),
  jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'ec-1'),
  jwk(crypto.generateKeyPairSync('ed25519'), 'ed-1'),
];

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: authMethod,
      id_token_signed_response_alg: idTokenAlg,
    },
  ],
  jwks: { keys },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  conformIdTokenClaims: !claimsInIdToken,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const a = ACCOUNTS[id];
    if (!a) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...a };
      },
    };
  },
  async renderError(ctx, out) {
    ctx.type = 'text/plain';
    ctx.body = `error: ${out.error}${out.error_description ? ` (${out.error_description})` : ''}\n`;
  },
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function formBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The login interaction, in front of the provider's own routes.
provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([^/]+)(\/login|\/abort)?$/.exec(ctx.path);
  if (!m) return next();
  const [, uid, action] = m;
  try {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    if (ctx.method === 'GET' && !action) {
      ctx.type = 'text/html';
      ctx.body = `<!doctype html><title>Sign in</title><h1>Test OpenID provider</h1>
<form method="post" action="/interaction/${esc(uid)}/login">
<label>Account <input name="login" autofocus></label><button>Sign in</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button>Cancel</button></form>
<p>Accounts: ${Object.keys(ACCOUNTS).map(esc).join(', ')}</p>`;
      return;
    }
    if (ctx.method === 'POST' && action === '/login') {
      const form = await formBody(ctx.req);
      const login = form.get('login') || '';
      if (!ACCOUNTS[login]) {
        ctx.status = 400;
        ctx.type = 'text/plain';
        ctx.body = `unknown account ${login}\n`;
        return;
      }
      const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
      grant.addOIDCScope(String(details.params.scope || 'openid'));
      const grantId = await grant.save();
      ctx.respond = false;
      await provider.interactionFinished(
        ctx.req,
        ctx.res,
        { login: { accountId: login }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    if (ctx.method === 'POST' && action === '/abort') {
      ctx.respond = false;
      await provider.interactionFinished(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'the user cancelled the sign-in' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    ctx.status = 405;
  } catch (e) {
    ctx.status = 400;
    ctx.type = 'text/plain';
    ctx.body = `interaction failed: ${e.message}\n`;
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready ${issuer}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
