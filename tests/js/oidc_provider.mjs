// A real OpenID Connect provider (npm oidc-provider) for the single sign-on tests: one client,
// a few accounts, the provider's own development login and consent pages (any password).
// Usage: node oidc_provider.mjs PORT REDIRECT_URI ; prints "ready" once it listens.
import Provider from 'oidc-provider';

const [port, redirect] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const accounts = {
  lotta: { email: 'lotta@kb.se', email_verified: true, name: 'Lotta Berg', traffpunkt_role: 'moderator' },
  nils: { email: 'nils@kb.se', email_verified: true, name: 'Nils Holm' },
  mallory: { email: 'admin@kb.se', email_verified: false, name: 'Mallory', traffpunkt_role: 'superuser' },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'traffpunkt', client_secret: 'test-client-secret', redirect_uris: [redirect],
    grant_types: ['authorization_code'], response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'email', 'profile', 'traffpunkt'],
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'],
    traffpunkt: ['traffpunkt_role'],
  },
  findAccount: async (_ctx, id) => {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ['oidc-test-cookie-key'] },
});
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
