// oauth2-mock-server (npm) with its defaults: only started, with one RS256 key generated.
// Usage: node oauth2_mock_server.mjs
// Prints one line, READY {"issuer": ...}, once it listens on a free port of 127.0.0.1 (its
// issuer is then http://localhost:PORT: the package names a loopback address "localhost").
// It exits when its standard input closes, so it cannot outlive the test run that started it.
import { OAuth2Server } from 'oauth2-mock-server';

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(0, '127.0.0.1');
process.stdout.write(`READY ${JSON.stringify({ issuer: server.issuer.url })}\n`);
