// The certified relying party openid-client (npm) against the sandbox: discovery, the code flow
// with PKCE, state and nonce, userinfo, refresh, introspection, revocation, client credentials.
// The person's part (the sandbox's sign-in form) is played here with fetch and a cookie jar.
//
//   node openid_client_flow.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD basic|post
//
// Prints one JSON line per step: {"step": ..., ...}; exits 1 after printing {"error": ...}.
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, redirectUri, username, password, method] = process.argv.slice(2);
const say = (step, values) => process.stdout.write(JSON.stringify({ step, ...values }) + '\n');

const auth = method === 'post' ? client.ClientSecretPost(clientSecret) : client.ClientSecretBasic(clientSecret);
const config = await client.discovery(new URL(issuer), clientId, undefined, auth,
  { execute: [client.allowInsecureRequests] });
say('discovery', { issuer: config.serverMetadata().issuer });

// The browser: follow the authorize URL, sign in on the sandbox's form, stop at the redirect back.
const cookies = new Map();
async function browse(url, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (cookies.size) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const at = pair.indexOf('=');
    cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
  return response;
}

const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const authorizeUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid profile email offline_access', state, nonce,
  code_challenge: challenge, code_challenge_method: 'S256',
});
const page = await browse(authorizeUrl);
const html = await page.text();
const fields = new URLSearchParams();
for (const match of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)) fields.set(match[1], match[2]);
fields.set('username', username);
fields.set('password', password);
fields.set('action', 'sign-in');
const back = await browse(new URL('authorize', authorizeUrl), {
  method: 'POST', body: fields, headers: { 'content-type': 'application/x-www-form-urlencoded' },
});
const location = back.headers.get('location');
say('signed in', { status: back.status, to_redirect_uri: (location || '').startsWith(redirectUri) });

const tokens = await client.authorizationCodeGrant(config, new URL(location), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
});
const claims = tokens.claims();
say('tokens', { scope: tokens.scope, has_refresh_token: Boolean(tokens.refresh_token), sub: claims.sub,
  aud: claims.aud, nonce_ok: claims.nonce === nonce });

const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
say('userinfo', { sub: userinfo.sub, email: userinfo.email, name: userinfo.name });

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
say('refresh', { same_refresh_token: refreshed.refresh_token === tokens.refresh_token,
  new_access_token: refreshed.access_token !== tokens.access_token, sub: refreshed.claims()?.sub });

const active = await client.tokenIntrospection(config, refreshed.access_token);
const refreshActive = await client.tokenIntrospection(config, tokens.refresh_token);
say('introspect', { active: active.active, client_id: active.client_id, refresh_active: refreshActive.active });

await client.tokenRevocation(config, refreshed.access_token);
const after = await client.tokenIntrospection(config, refreshed.access_token);
say('revoke', { active_after: after.active });

const app = await client.clientCredentialsGrant(config, { scope: 'anonymous' });
say('client_credentials', { scope: app.scope, token_type: app.token_type });
