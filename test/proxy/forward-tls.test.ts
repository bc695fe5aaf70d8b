// https upstreams with the test certificates in test/fixtures/tls: unknown CAs are
// refused, tls_skip_verify and tls_custom_ca_file let them through, tls_server_name picks
// the name the certificate is checked against.

import { readFileSync } from 'node:fs'
import type { TLSSocket } from 'node:tls'
import t from 'tap'
import { request } from '../helpers/client.js'
import { gatehouse, publicRoute, type RunningGatehouse } from '../helpers/gatehouse.js'
import { upstream, type EchoUpstream, type Teardown } from '../helpers/upstream.js'

const fixture = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url), 'utf8')
const caPem = fixture('ca.pem')
/** DNS upstream.test and IP 127.0.0.1. */
const serverCert = { cert: fixture('server.pem'), key: fixture('server-key.pem') }
/** DNS upstream.test only. */
const nameOnlyCert = { cert: fixture('name-only.pem'), key: fixture('name-only-key.pem') }

/** A GET for `path` with the given Host. */
const get = (port: number, host: string, path = '/') => request(port, { path, headers: { host } })

/** An https echo upstream that also records the SNI name each request came in on. */
async function tlsUpstream(t: Teardown, cert: { cert: string; key: string }): Promise<EchoUpstream & { sni: (string | false | null)[] }> {
  const sni: (string | false | null)[] = []
  const u = await upstream(t, {
    tls: cert,
    handler(req, res) {
      const name = (req.socket as TLSSocket).servername
      sni.push(name)
      const text = JSON.stringify({ url: req.url, sni: name, encrypted: (req.socket as TLSSocket).encrypted === true })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    },
  })
  return Object.assign(u, { sni })
}

const failures = (gh: RunningGatehouse) => gh.logs.filter((l) => l.msg === 'upstream request failed')

t.test('an https upstream signed by an unknown CA is refused by default', async (t) => {
  const u = await tlsUpstream(t, serverCert)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)
  for (let i = 0; i < 2; i++) {
    const reply = await get(gh.port, 'app.test', '/secure')
    t.equal(reply.status, 502)
    t.match(JSON.parse(reply.text), { error: 'GH_ERR_UPSTREAM_UNAVAILABLE', status: 502 })
  }
  t.equal(u.received.length, 0, 'no request got past the handshake')
  t.ok(
    failures(gh).some((l) => /certificate|UNABLE_TO_VERIFY|SELF_SIGNED/i.test(JSON.stringify(l.err))),
    'the log says why',
  )
  const ping = await get(gh.port, 'app.test', '/ping')
  t.equal(ping.status, 200)
})

t.test('tls_skip_verify: true accepts it', async (t) => {
  const u = await tlsUpstream(t, serverCert)
  const gh = await gatehouse(
    t,
    `routes:\n  - from: http://app.test\n    to: ${u.origin}\n    tls_skip_verify: true\n    allow_public_unauthenticated_access: true\n`,
  )
  const reply = await get(gh.port, 'app.test', '/insecure?x=1')
  t.equal(reply.status, 200)
  t.match(JSON.parse(reply.text), { url: '/insecure?x=1', encrypted: true })
  t.equal(u.received.length, 1)
  t.equal(u.received[0].url, '/insecure?x=1')
  t.equal(u.received[0].headers.host, `127.0.0.1:${u.port}`)
})

t.test('tls_custom_ca_file (relative to the config folder) trusts the test CA', async (t) => {
  const u = await tlsUpstream(t, serverCert)
  const gh = await gatehouse(t, {
    config: `routes:\n  - from: http://app.test\n    to: ${u.origin}\n    tls_custom_ca_file: certs/test-ca.pem\n    allow_public_unauthenticated_access: true\n`,
    files: { 'certs/test-ca.pem': caPem },
  })
  for (let i = 0; i < 3; i++) {
    const reply = await get(gh.port, 'app.test', `/verified/${i}`)
    t.equal(reply.status, 200)
    t.match(JSON.parse(reply.text), { url: `/verified/${i}`, encrypted: true })
  }
  t.same(
    u.received.map((r) => r.url),
    ['/verified/0', '/verified/1', '/verified/2'],
  )
  t.equal(new Set(u.received.map((r) => r.socketId)).size, 1, 'the TLS connection is kept alive and reused')
  t.equal(u.sni[0], false, 'no SNI is sent for an IP address')
})

t.test('one upstream, two routes: the strict route still refuses it', async (t) => {
  // Pools are shared per origin *and* TLS settings: an insecure route must not lend its
  // connections to a verifying one.
  const u = await tlsUpstream(t, serverCert)
  const gh = await gatehouse(
    t,
    `routes:
  - from: http://loose.test
    to: ${u.origin}
    tls_skip_verify: true
    allow_public_unauthenticated_access: true
  - from: http://strict.test
    to: ${u.origin}
    allow_public_unauthenticated_access: true
`,
  )
  const loose = await get(gh.port, 'loose.test', '/a')
  t.equal(loose.status, 200)
  const strict = await get(gh.port, 'strict.test', '/b')
  t.equal(strict.status, 502)
  t.match(JSON.parse(strict.text), { error: 'GH_ERR_UPSTREAM_UNAVAILABLE' })
  t.same(
    u.received.map((r) => r.url),
    ['/a'],
    'only the loose route reached the upstream',
  )
})

t.test('tls_server_name: the certificate is checked against the configured name', async (t) => {
  const u = await tlsUpstream(t, nameOnlyCert)
  const to = `https://127.0.0.1:${u.port}`
  const gh = await gatehouse(t, {
    config: `routes:
  - from: http://named.test
    to: ${to}
    tls_custom_ca_file: ca.pem
    tls_server_name: upstream.test
    allow_public_unauthenticated_access: true
  - from: http://unnamed.test
    to: ${to}
    tls_custom_ca_file: ca.pem
    allow_public_unauthenticated_access: true
  - from: http://wrongname.test
    to: ${to}
    tls_custom_ca_file: ca.pem
    tls_server_name: other.test
    allow_public_unauthenticated_access: true
  - from: http://preserved.test
    to: ${to}
    tls_custom_ca_file: ca.pem
    tls_server_name: upstream.test
    preserve_host_header: true
    allow_public_unauthenticated_access: true
  - from: http://rewritten.test
    to: ${to}
    tls_custom_ca_file: ca.pem
    tls_server_name: upstream.test
    host_rewrite: internal.example
    allow_public_unauthenticated_access: true
`,
    files: { 'ca.pem': caPem },
  })

  const named = await get(gh.port, 'named.test', '/named')
  t.equal(named.status, 200, 'the certificate names upstream.test, as configured')
  t.match(JSON.parse(named.text), { url: '/named', sni: 'upstream.test' })
  t.equal(u.received.at(-1)!.url, '/named')
  t.equal(u.received.at(-1)!.headers.host, `127.0.0.1:${u.port}`, 'the Host header is still the upstream address')
  t.equal(u.sni.at(-1), 'upstream.test', 'the upstream saw SNI upstream.test')

  const unnamed = await get(gh.port, 'unnamed.test', '/unnamed')
  t.equal(unnamed.status, 502, 'without tls_server_name the IP is checked, and the certificate does not name it')
  t.match(JSON.parse(unnamed.text), { error: 'GH_ERR_UPSTREAM_UNAVAILABLE' })

  const wrong = await get(gh.port, 'wrongname.test', '/wrong')
  t.equal(wrong.status, 502, 'a name the certificate does not carry is refused')
  t.equal(u.received.filter((r) => r.url === '/unnamed' || r.url === '/wrong').length, 0, 'the refused routes never reached the upstream')

  // The Host header sent upstream must not override the configured server name.
  const preserved = await get(gh.port, 'preserved.test', '/preserved')
  t.equal(preserved.status, 200, 'preserve_host_header: still verified against tls_server_name')
  t.match(JSON.parse(preserved.text), { url: '/preserved', sni: 'upstream.test' })
  t.equal(u.received.at(-1)!.headers.host, 'preserved.test')

  const rewritten = await get(gh.port, 'rewritten.test', '/rewritten')
  t.equal(rewritten.status, 200, 'host_rewrite: still verified against tls_server_name')
  t.match(JSON.parse(rewritten.text), { url: '/rewritten', sni: 'upstream.test' })
  t.equal(u.received.at(-1)!.headers.host, 'internal.example')
  t.same(
    u.received.map((r) => r.url),
    ['/named', '/preserved', '/rewritten'],
  )
})

t.test('tls_server_name wins over the host name in `to`', async (t) => {
  const u = await tlsUpstream(t, nameOnlyCert)
  const gh = await gatehouse(t, {
    config: `routes:\n  - from: http://app.test\n    to: https://localhost:${u.port}\n    tls_custom_ca_file: ca.pem\n    tls_server_name: upstream.test\n    allow_public_unauthenticated_access: true\n`,
    files: { 'ca.pem': caPem },
  })
  const reply = await get(gh.port, 'app.test', '/by-name')
  t.equal(reply.status, 200, 'verified against upstream.test, not localhost')
  t.match(JSON.parse(reply.text), { url: '/by-name', sni: 'upstream.test' })
  t.equal(u.received.length, 1)
  t.equal(u.received[0].headers.host, `localhost:${u.port}`)
})

t.test('the proxy is still up', async (t) => {
  const u = await tlsUpstream(t, serverCert)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)
  const failed = await get(gh.port, 'app.test', '/x')
  t.equal(failed.status, 502)
  const ping = await get(gh.port, 'app.test', '/ping')
  t.equal(ping.status, 200)
  t.equal(ping.text, 'OK')
  t.equal(u.received.length, 0)
})
