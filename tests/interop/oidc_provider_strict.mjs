// oidc-provider (npm) configured strictly, for the interop tests:
//   * PKCE (S256) is required of every client, confidential ones too;
//   * refresh tokens rotate: each refresh answers with a new one and consumes the one used
//     (using a consumed one again is refused, and revokes the whole grant);
//   * a refresh token is issued whenever offline_access was granted.
// Usage: node oidc_provider_strict.mjs CLIENT_ID CLIENT_SECRET PUBLIC_CLIENT_ID REDIRECT_URI
// Prints one line, READY {"issuer": ...}, once it listens on a free port of 127.0.0.1.
// It exits when its standard input closes, so it cannot outlive the test run that started it.
import http from 'node:http';
import Provider from 'oidc-provider';

const [clientId, clientSecret, publicClientId, redirectUri] = process.argv.slice(2);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

const common = {
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  scope: 'openid offline_access',
};
const server = http.createServer();

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      { ...common, client_id: clientId, client_secret: clientSecret },
      { ...common, client_id: publicClientId, token_endpoint_auth_method: 'none' },
    ],
    scopes: ['openid', 'offline_access'],
    pkce: { methods: ['S256'], required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && code.scopes.has('offline_access'),
    cookies: { keys: ['test-only-cookie-key'] },
    features: { devInteractions: { enabled: true } },
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  });
  server.on('request', provider.callback());
  process.stdout.write(`READY ${JSON.stringify({ issuer })}\n`);
});
