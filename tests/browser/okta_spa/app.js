/* A single-page app that signs in with Okta's own SDK, as an Okta developer would write it:
   sign in with redirect (authorization code + PKCE, the SDK's defaults), userinfo, renewal with
   the refresh token (offline_access: no hidden iframe needed), sign-out (revocation, then the
   issuer's /v1/logout). Everything it does is written as a line of "What happened". */
"use strict";

const events = document.getElementById("events");
const who = document.getElementById("who");
const buttons = Object.fromEntries(["sign-in", "userinfo", "renew", "sign-out"].map(
  (id) => [id, document.getElementById(id)]));

function tell(text, failed = false) {
  const item = document.createElement("li");
  item.textContent = text;
  if (failed) item.className = "failed";
  events.append(item);
}

// Tokens are shown by their first characters only, as anywhere a learner sees one; an access
// token by its id (jti): every JWT of the sandbox starts with the same header.
function short(token) {
  return token ? `${token.slice(0, 10)}…` : "none";
}

function tokenId(client, accessToken) {
  return client.token.decode(accessToken.accessToken).payload.jti;
}

function at(seconds) {
  return new Date(seconds * 1000).toISOString().slice(11, 19) + " UTC";
}

async function attempt(what, action) {
  try {
    await action();
  } catch (error) {
    const said = [error.name, error.errorCode, error.errorSummary || error.message].filter(Boolean).join(": ");
    tell(`${what} failed: ${said}`, true);
  }
}

async function showTokens(client) {
  const { accessToken, idToken, refreshToken } = await client.tokenManager.getTokens();
  buttons["sign-in"].disabled = Boolean(accessToken);
  for (const id of ["userinfo", "renew", "sign-out"]) buttons[id].disabled = !accessToken;
  who.textContent = idToken ? `Signed in as ${idToken.claims.email}` : "Nobody is signed in.";
  return { accessToken, idToken, refreshToken };
}

async function main() {
  const config = await (await fetch("/config.json")).json();
  const client = new OktaAuth({
    issuer: config.issuer,
    clientId: config.clientId,
    redirectUri: `${location.origin}/callback`,
    postLogoutRedirectUri: `${location.origin}/signed-out`,
    scopes: ["openid", "profile", "email", "offline_access"],
    // After the callback, back to the app's home without reloading it.
    restoreOriginalUri: async () => history.replaceState(null, "", "/"),
  });
  tell(`okta-auth-js ready, issuer ${config.issuer}`);

  if (client.isLoginRedirect()) {
    await attempt("Sign-in", async () => {
      await client.handleLoginRedirect();
      const { accessToken, idToken, refreshToken } = await client.tokenManager.getTokens();
      tell(`Signed in: the SDK accepted the ID token for ${idToken.claims.email}; access token ` +
           `${short(tokenId(client, accessToken))} until ${at(accessToken.expiresAt)}, refresh token ` +
           `${short(refreshToken && refreshToken.refreshToken)}`);
    });
  }
  // The SDK's services: among them, the tokens signOut() marked before leaving for /v1/logout
  // are dropped here, on the way back (its default, clearPendingRemoveTokens).
  await client.start();
  if (location.pathname === "/signed-out") {
    const left = await client.tokenManager.getTokens();
    tell(`Back from sign-out; tokens kept: ${Object.keys(left).length}`);
    history.replaceState(null, "", "/");
  }

  buttons["sign-in"].onclick = () => attempt("Sign-in", () => client.signInWithRedirect());
  buttons.userinfo.onclick = () => attempt("Userinfo", async () => {
    const user = await client.getUser();
    tell(`Userinfo: ${user.name} <${user.email}>, sub ${user.sub}`);
  });
  buttons.renew.onclick = () => attempt("Renewal", async () => {
    const before = (await client.tokenManager.getTokens()).accessToken;
    const renewed = await client.tokenManager.renew("accessToken");
    const changed = tokenId(client, renewed) !== tokenId(client, before) ? "a new one" : "the same one";
    tell(`Renewed: access token ${short(tokenId(client, renewed))} (${changed}) until ${at(renewed.expiresAt)}`);
  });
  buttons["sign-out"].onclick = () => attempt("Sign-out", async () => {
    tell("Signing out…");
    await client.signOut();
  });
  await showTokens(client);
  client.tokenManager.on("removed", () => showTokens(client));
}

main().catch((error) => tell(`The app could not start: ${error}`, true));
