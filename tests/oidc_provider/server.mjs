// A real OpenID Connect provider for the tests: node-oidc-provider (the npm package
// oidc-provider, an OpenID Certified implementation) with one confidential client and
// users who have passwords and groups. Only the account pages are ours, as in any
// deployment of the library: a login form that checks the password and a consent form.
//
//   node server.mjs CONFIG.json
//
// CONFIG: {"port", "issuer", "client": {"client_id", "client_secret", "redirect_uris",
// "post_logout_redirect_uris"}, "users": {"alice": {"password", "email", "name", "groups"}}};
// the users are read from the file at each login, so a test may change them meanwhile.
// Prints "listening ISSUER" once it answers.
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const configPath = process.argv[2];
const config = JSON.parse(readFileSync(configPath, 'utf8'));
// Read again at every use, so a test can change a user's groups or password on the fly.
const users = () => JSON.parse(readFileSync(configPath, 'utf8')).users;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${escape(title)} · Test IdP</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  .export({ format: 'jwk' });

const provider = new Provider(config.issuer, {
  clients: [{
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    ...config.client,
  }],
  jwks: { keys: [{ ...signingKey, kid: 'test-signing-key', alg: 'RS256', use: 'sig' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource(ctx, form) {
        ctx.body = page('Sign out of the test IdP?', `${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`);
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const user = users()[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: user.email,
          email_verified: true,
          preferred_username: id,
          name: user.name,
          groups: user.groups,
        };
      },
    };
  },
});

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

function loginForm(uid, error) {
  return page('Sign in to the test IdP', `${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
  <label>Username <input name="username" autocomplete="username" required autofocus></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>`);
}

function consentForm(uid, clientId, scopes) {
  return page('Allow access?', `<p>${escape(clientId)} asks for: ${scopes.map(escape).join(', ')}.</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  const send = (body, status = 200) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  };
  if (req.method === 'GET') {
    if (prompt.name === 'login') return send(loginForm(uid));
    const scopes = [...(prompt.details.missingOIDCScope || [])];
    return send(consentForm(uid, params.client_id, scopes));
  }
  if (action === 'login') {
    const form = await readForm(req);
    const user = users()[form.get('username')];
    if (!user || user.password !== form.get('password')) {
      return send(loginForm(uid, 'Wrong username or password.'), 401);
    }
    return provider.interactionFinished(req, res, { login: { accountId: form.get('username') } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (action === 'confirm') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return provider.interactionFinished(req, res, {
    error: 'access_denied', error_description: 'the user denied access',
  }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const match = req.url.match(/^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/);
  if (!match) return callback(req, res);
  return interaction(req, res, match[1], match[2]).catch((err) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}`);
  });
});
server.listen(config.port, '127.0.0.1', () => {
  console.log(`listening ${config.issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
