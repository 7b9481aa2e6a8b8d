// node oidc-provider as an independent OAuth 2.0 server for tokenrack's interop tests.
//
// Usage: node server.mjs '<clients JSON>' ['<configuration JSON>']
// The configuration is merged over the defaults below (its "features" member over the
// default features), e.g. {"clientAuthMethods": ["client_secret_post"]}.
// Listens on 127.0.0.1 on a free port and prints one JSON line, {"issuer": ..., "port": ...},
// when ready. GET /__interop/requests lists the token requests seen so far, each
// {"path", "basic": whether an Authorization: Basic header came, "status"}; tests count
// client authentication attempts with it. Stops on SIGTERM or when stdin closes.
import http from 'node:http';
import Provider from 'oidc-provider';

const clients = JSON.parse(process.argv[2] || '[]');
const { features = {}, ...configuration } = JSON.parse(process.argv[3] || '{}');
const seen = [];
// JSON cannot carry a Buffer or a function: {"dPoP": {"nonceSecret": "<64 hex>",
// "requireNonce": true}} become the 32-byte Buffer and the function oidc-provider wants.
if (features.dPoP && typeof features.dPoP.nonceSecret === 'string') {
  features.dPoP.nonceSecret = Buffer.from(features.dPoP.nonceSecret, 'hex');
}
if (features.dPoP && features.dPoP.requireNonce === true) {
  features.dPoP.requireNonce = () => true;
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients,
    ...configuration,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      ...features,
    },
    // Fixed keys keep the provider from warning about development cookie keys.
    cookies: { keys: ['tokenrack-interop-only'] },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url === '/__interop/requests') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(seen));
      return;
    }
    if (req.method === 'POST' && req.url.startsWith('/token')) {
      const entry = {
        path: req.url,
        basic: /^basic /i.test(req.headers.authorization || ''),
        status: null,
      };
      seen.push(entry);
      res.on('finish', () => { entry.status = res.statusCode; });
    }
    callback(req, res);
  });
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
