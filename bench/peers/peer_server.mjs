// The peers the benchmark runner compares the sandbox with, started on loopback with settings
// equivalent to the sandbox's: one confidential client, one RS256 signing key (2048 bits), JWT
// access tokens, ID tokens for `openid`, refresh tokens for `offline_access`.
//
//   node peer_server.mjs oauth2-mock-server CLIENT_ID CLIENT_SECRET REDIRECT_URI
//   node peer_server.mjs oidc-provider      CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// Prints one line, READY {"issuer": ..., "token_endpoint": ..., "authorization_endpoint": ...},
// once it listens on a free port of 127.0.0.1. It runs from the folder the packages were
// installed into (ESM resolves packages from the script's own folder).
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';

const [kind, clientId, clientSecret, redirectUri] = process.argv.slice(2);

function ready(issuer, tokenEndpoint, authorizationEndpoint) {
  process.stdout.write(`READY ${JSON.stringify({
    issuer, token_endpoint: tokenEndpoint, authorization_endpoint: authorizationEndpoint,
  })}\n`);
}

async function mockServer() {
  const { OAuth2Server } = await import('oauth2-mock-server');
  const server = new OAuth2Server();
  // jose's RS256 key generation: 2048-bit modulus, like the sandbox's key.
  await server.issuer.keys.generate('RS256');
  await server.start(0, '127.0.0.1');
  const issuer = `http://127.0.0.1:${server.address().port}`;
  server.issuer.url = issuer; // it names itself localhost otherwise
  ready(issuer, `${issuer}/token`, `${issuer}/authorize`);
}

async function oidcProvider() {
  const { default: Provider } = await import('oidc-provider');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'bench-rs256' };
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const resource = 'urn:fortellis-nb:bench-api';
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      scope: 'openid offline_access anonymous',
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [jwk] },
    scopes: ['openid', 'offline_access', 'anonymous'],
    cookies: { keys: ['bench-only-cookie-key'] },
    pkce: { required: () => false },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      // Access tokens as RS256 JWTs, as the sandbox (and Okta) issue them: every token
      // response signs an access token, and an ID token when `openid` was granted.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'anonymous offline_access',
          accessTokenFormat: 'jwt',
          accessTokenTTL: 3600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: { AccessToken: 3600, ClientCredentials: 3600, IdToken: 3600 },
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  });
  server.on('request', provider.callback());
  ready(issuer, `${issuer}/token`, `${issuer}/auth`);
}

const starters = { 'oauth2-mock-server': mockServer, 'oidc-provider': oidcProvider };
if (!starters[kind]) {
  process.stderr.write(`unknown peer ${kind}; one of ${Object.keys(starters).join(', ')}\n`);
  process.exit(2);
}
await starters[kind]();
