// A real OpenID Connect provider for the tests (oidc-provider from the npm registry, pinned in
// package.json), listening on a free loopback port. Its configuration comes as JSON in the
// OIDC_TEST_CONFIG environment variable: {"clients": [{client_id, client_secret,
// redirect_uris}], "accounts": {"<login>": {<claims>}}}. Its own development sign-in pages
// accept any login: the login names the account, whose claims are the ones given (an unknown
// login gets only a "sub"). Consent is granted without a page. It prints {"issuer": ...} once
// it listens, and stops when its standard input closes (the test process ended).
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG);
const server = http.createServer();

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients.map((client) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...client,
    })),
    cookies: { keys: ['tests-only-cookie-key'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    // Claims in the ID token itself, as Google and Entra ID send them.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    async findAccount(ctx, id) {
      const claims = config.accounts[id] || {};
      return { accountId: id, async claims() { return { ...claims, sub: claims.sub || id }; } };
    },
    async loadExistingGrant(ctx) {
      const { Grant } = ctx.oidc.provider;
      const grant = new Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
