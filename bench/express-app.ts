// What a Node team might build by hand: Express 5, express-openid-connect as the relying
// party (its defaults: an encrypted, rolling session cookie), and http-proxy-middleware
// forwarding everything to the upstream. Started by bench/express.ts.
//
//   node --import tsx bench/express-app.ts <port> <upstream port> <issuer> <client id> <client secret>

import express from 'express'
import { auth } from 'express-openid-connect'
import { createProxyMiddleware } from 'http-proxy-middleware'

const [port, upstreamPort, issuer, clientId, clientSecret] = process.argv.slice(2)
const app = express()
app.disable('x-powered-by')
app.use(
  auth({
    issuerBaseURL: issuer,
    baseURL: `http://127.0.0.1:${port}`,
    clientID: clientId,
    clientSecret,
    secret: 'bench-express-session-secret-0123456789abcdef',
    authRequired: true,
    auth0Logout: false,
    idpLogout: false,
    authorizationParams: { response_type: 'code', scope: 'openid email profile' },
  }),
)
app.use(createProxyMiddleware({ target: `http://127.0.0.1:${upstreamPort}`, xfwd: true }))
const server = app.listen(Number(port), '127.0.0.1', () => process.send!({ port: Number(port) }))
server.keepAliveTimeout = 60_000
