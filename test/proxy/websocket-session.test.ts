import t from 'tap'
import { gatehouse } from '../helpers/gatehouse.js'
import { rawRequest } from '../helpers/raw.js'
import { upstream } from '../helpers/upstream.js'

t.test('a websocket handshake with a session cookie that does not open is refused and the cookie cleared', async (t) => {
  const u = await upstream(t, { websockets: true })
  const gh = await gatehouse(t, `routes:\n  - from: http://ws.test\n    to: ${u.origin}\n    allow_websockets: true\n    allow_any_authenticated_user: true\n`)
  const res = await rawRequest(
    gh.port,
    'GET /chat HTTP/1.1\r\nHost: ws.test\r\nCookie: _gatehouse=garbage\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  )
  t.equal(res.status, 401)
  t.match(res.raw, /set-cookie: _gatehouse=; [^\r]*Max-Age=0/i)
  t.equal(u.upgrades.length, 0)
})
