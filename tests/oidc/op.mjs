// A real OpenID Connect provider (panva's oidc-provider) for nbspaces tests, over plain http on 127.0.0.1.
//
// Its settings (port, client secret, control token) arrive as one JSON document on stdin, never in argv;
// users (with their passwords) are added through the control API. It shapes users like EGI Check-in does (sub, email, preferred_username,
// eduperson_entitlement) and replaces the library's development interactions with a tiny HTML login
// form and consent form that a plain HTTP client can fill in. A small control API under /_test/,
// guarded by a bearer token, lets tests add users, register the hub's redirect URI, and expire or
// revoke a user's tokens.

import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const settings = JSON.parse(await readAll(process.stdin));

function readAll(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

function log(...args) {
  console.log(new Date().toISOString(), ...args);
}

// ---- storage: one in-memory store every model shares, so tests can find a user's tokens ----------------

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest']);
const store = new Map(); // "Model:id" -> { payload, expiresAt }

function storeGet(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

function* storeEntries(model) {
  for (const key of [...store.keys()]) {
    const sep = key.indexOf(':');
    const payload = storeGet(key);
    if (payload && (model === undefined || key.slice(0, sep) === model)) {
      yield [key.slice(0, sep), key.slice(sep + 1), payload];
    }
  }
}

class TestAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    store.set(this.key(id), { payload, expiresAt });
  }

  async find(id) {
    return storeGet(this.key(id));
  }

  async findByUid(uid) {
    for (const [, , payload] of storeEntries(this.model)) if (payload.uid === uid) return payload;
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [, , payload] of storeEntries(this.model)) if (payload.userCode === userCode) return payload;
    return undefined;
  }

  async consume(id) {
    const payload = storeGet(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [model, id, payload] of storeEntries()) {
      if (GRANTABLE.has(model) && payload.grantId === grantId) store.delete(`${model}:${id}`);
    }
  }
}

// ---- users and the one client ------------------------------------------------------------------------

const users = new Map(); // username -> { password, sub, claims }

function addUser({ username, password, sub, claims }) {
  if (typeof username !== 'string' || !username || typeof password !== 'string' || !password) {
    throw new Error('a user needs a username and a password');
  }
  const subject = sub || `${crypto.createHash('sha256').update(username).digest('hex')}@egi.eu`;
  users.set(username, {
    password,
    sub: subject,
    claims: { preferred_username: username, email: `${username}@example.org`, email_verified: true, ...claims },
  });
  return subject;
}

function userBySub(sub) {
  for (const user of users.values()) if (user.sub === sub) return user;
  return undefined;
}

function sameSecret(given, expected) {
  const a = crypto.createHash('sha256').update(String(given)).digest();
  const b = crypto.createHash('sha256').update(String(expected)).digest();
  return crypto.timingSafeEqual(a, b);
}

const client = { ...settings.client };

function saveClient() {
  // Stored through the adapter (not as a static client) so the redirect URIs can change at run time.
  return new TestAdapter('Client').upsert(client.client_id, {
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: client.token_endpoint_auth_method,
  });
}

await saveClient();

// ---- the provider -------------------------------------------------------------------------------------

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };

const provider = new Provider(settings.issuer, {
  adapter: TestAdapter,
  clients: [],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    eduperson_entitlement: ['eduperson_entitlement'],
    voperson_id: ['voperson_id'],
  },
  scopes: ['openid', 'offline_access'],
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
  },
  pkce: { required: () => false },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: settings.access_ttl,
    AuthorizationCode: 60,
    IdToken: settings.access_ttl,
    RefreshToken: settings.refresh_ttl,
    Interaction: 600,
    Session: settings.refresh_ttl,
    Grant: settings.refresh_ttl,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const user = userBySub(sub);
    if (!user) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...user.claims }) };
  },
  renderError(ctx, out, error) {
    log('error page:', error?.message ?? error, JSON.stringify(out));
    ctx.type = 'html';
    ctx.body = page('Error', `<p class="error">${escape(out.error)}: ${escape(out.error_description ?? '')}</p>`);
  },
});

for (const event of ['grant.success', 'grant.error', 'server_error', 'userinfo.error', 'grant.revoked',
  'refresh_token.consumed', 'access_token.destroyed', 'authorization.error']) {
  provider.on(event, (...args) => {
    const what = args.find((a) => a instanceof Error)?.message ?? '';
    log('event', event, what);
  });
}

// ---- the interaction pages: plain HTML forms ----------------------------------------------------------

function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1>${body}</body></html>`;
}

function loginPage(uid, clientId, error) {
  return page('Sign in', `${error ? `<p class="error">${escape(error)}</p>` : ''}
    <p>Sign in to continue to ${escape(clientId)}</p>
    <form method="post" action="/interaction/${escape(uid)}/login" id="login">
      <label>Username <input type="text" name="username" autocomplete="username"></label>
      <label>Password <input type="password" name="password" autocomplete="current-password"></label>
      <button type="submit">Sign in</button>
    </form>`);
}

function consentPage(uid, clientId, scopes) {
  return page('Authorize', `<p>${escape(clientId)} asks for: ${scopes.map(escape).join(', ')}</p>
    <form method="post" action="/interaction/${escape(uid)}/confirm" id="consent">
      <input type="hidden" name="decision" value="allow">
      <button type="submit">Allow</button>
    </form>`);
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const { prompt, params } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') return send(res, 200, loginPage(uid, params.client_id));
    return send(res, 200, consentPage(uid, params.client_id, String(params.scope ?? '').split(' ')));
  }
  if (req.method !== 'POST') return send(res, 405, page('Not allowed', ''));
  const form = new URLSearchParams(await readAll(req));
  if (action === 'login' && prompt.name === 'login') {
    const user = users.get(form.get('username') ?? '');
    if (!user || !sameSecret(form.get('password') ?? '', user.password)) {
      log('login refused for', JSON.stringify(form.get('username')));
      return send(res, 200, loginPage(uid, params.client_id, 'Invalid username or password'));
    }
    log('login of', form.get('username'));
    return provider.interactionFinished(req, res, { login: { accountId: user.sub } },
      { mergeWithLastSubmission: false });
  }
  if (action === 'confirm' && prompt.name === 'consent') {
    const { details: missing } = prompt;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } },
      { mergeWithLastSubmission: true });
  }
  return send(res, 400, page('Unexpected step', `<p class="error">expected ${escape(prompt.name)}</p>`));
}

// ---- the control API for tests -------------------------------------------------------------------------

function json(res, status, body) {
  send(res, status, JSON.stringify(body), 'application/json');
}

function subOf(username) {
  const user = users.get(username);
  if (!user) throw Object.assign(new Error(`no user ${username}`), { status: 404 });
  return user.sub;
}

function removeWhere(models, accountId) {
  let removed = 0;
  for (const [model, id, payload] of storeEntries()) {
    if (models.has(model) && payload.accountId === accountId) {
      store.delete(`${model}:${id}`);
      removed += 1;
    }
  }
  return removed;
}

async function control(req, res, path) {
  const auth = req.headers.authorization ?? '';
  if (!auth.startsWith('Bearer ') || !sameSecret(auth.slice(7), settings.control_token)) {
    return json(res, 401, { error: 'unauthorized' });
  }
  const body = req.method === 'GET' ? {} : JSON.parse((await readAll(req)) || '{}');
  if (req.method === 'POST' && path === 'users') {
    return json(res, 201, { sub: addUser(body) });
  }
  if (req.method === 'PUT' && path === 'client') {
    client.redirect_uris = body.redirect_uris;
    await saveClient();
    await provider.Client.find(client.client_id); // validates the metadata now, not at the next login
    return json(res, 200, { redirect_uris: client.redirect_uris });
  }
  if (req.method === 'POST' && path === 'expire-access-tokens') {
    return json(res, 200, { removed: removeWhere(new Set(['AccessToken']), subOf(body.username)) });
  }
  if (req.method === 'POST' && path === 'revoke') {
    const models = new Set(['AccessToken', 'RefreshToken', 'AuthorizationCode', 'Grant', 'Session']);
    return json(res, 200, { removed: removeWhere(models, subOf(body.username)) });
  }
  if (req.method === 'GET' && path === 'tokens') {
    const counts = {};
    const url = new URL(req.url, settings.issuer);
    const sub = subOf(url.searchParams.get('username') ?? '');
    for (const [model, , payload] of storeEntries()) {
      if (payload.accountId === sub && !payload.consumed) counts[model] = (counts[model] ?? 0) + 1;
    }
    return json(res, 200, counts);
  }
  return json(res, 404, { error: 'no such control route' });
}

// ---- the server ---------------------------------------------------------------------------------------

const oidc = provider.callback();
const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, settings.issuer);
  try {
    const step = pathname.match(/^\/interaction\/([^/]+)(?:\/(login|confirm))?$/);
    if (step) return await interaction(req, res, step[1], step[2]);
    if (pathname.startsWith('/_test/')) return await control(req, res, pathname.slice('/_test/'.length));
    return oidc(req, res);
  } catch (err) {
    log('request failed:', req.method, pathname, err?.stack ?? err);
    if (!res.headersSent) {
      return send(res, err.status ?? 500, page('Error', `<p class="error">${escape(err.message)}</p>`));
    }
    return res.end();
  }
});

server.listen(settings.port, '127.0.0.1', () => log('oidc-provider listening at', settings.issuer));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
