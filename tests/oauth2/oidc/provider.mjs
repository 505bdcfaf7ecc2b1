// A real OpenID provider for the pam_oauth2 device flow tests:
//   node provider.mjs CERT KEY PORTFILE [ACCOUNTS_JSON]
// oidc-provider with the device authorization grant (RFC 8628) and its
// development login pages, over HTTPS on 127.0.0.1 (port written to
// PORTFILE).  Client "pam-device": a public client allowed the device
// grant.  Any login name is an account; its claims: sub = the name,
// email = NAME@example.com.  Exits by itself after 300 s.
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const [cert, key, portfile] = process.argv.slice(2);
const server = https.createServer({
  cert: fs.readFileSync(cert), key: fs.readFileSync(key),
});
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const issuer = `https://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'pam-device',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'none',
    }],
    features: {
      deviceFlow: { enabled: true },
      devInteractions: { enabled: true },
    },
    claims: { openid: ['sub'], email: ['email'] },
    // the ID token carries the scope's claims (email), as many IdPs do
    conformIdTokenClaims: false,
    scopes: ['openid', 'email'],
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() { return { sub: id, email: `${id}@example.com` }; },
      };
    },
    // tests go through in seconds; the interval is what RFC 8628 says
    ttl: { DeviceCode: 120 },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  fs.writeFileSync(portfile + '.tmp', String(port));
  fs.renameSync(portfile + '.tmp', portfile);
});
setTimeout(() => process.exit(0), 300000).unref();
