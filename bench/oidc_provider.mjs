// oidc-provider (npm), started for the side-by-side benchmark with settings equivalent to the
// sandbox's: one confidential client, one 2048-bit RS256 key, JWT access tokens (so every
// code exchange signs an access token and an ID token, as the sandbox and Okta do).
//
//   node oidc_provider.mjs CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// Prints READY {"issuer": ...} once it listens on a free port of 127.0.0.1. It runs from the
// folder oidc-provider was installed into (ESM resolves packages from the script's folder).
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [clientId, clientSecret, redirectUri] = process.argv.slice(2);
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
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    scope: 'openid offline_access',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [jwk] },
  scopes: ['openid', 'offline_access'],
  cookies: { keys: ['bench-only-cookie-key'] },
  pkce: { required: () => false },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'offline_access',
        accessTokenFormat: 'jwt',
        accessTokenTTL: 3600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  ttl: { AccessToken: 3600, IdToken: 3600 },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
});
server.on('request', provider.callback());
process.stdout.write(`READY ${JSON.stringify({ issuer })}\n`);
