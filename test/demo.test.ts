// `npm start`'s demo, as shipped: Gatehouse, the demo IdP and the demo upstream from the
// top-level config.yaml, signing in as the demo users.

import { spawn } from 'node:child_process'
import path from 'node:path'
import t from 'tap'
import { signIn } from './helpers/browser.js'
import { request } from './helpers/client.js'
import { IdpBrowser } from './helpers/idp.js'

const ROOT = path.resolve(import.meta.dirname, '..')

t.test('the shipped demo signs users in and applies its policies', async (t) => {
  const child = spawn(process.execPath, ['bin/gatehouse.js', 'serve', '--config', 'config.yaml'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (c) => (output += c))
  child.stderr.on('data', (c) => (output += c))
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.teardown(async () => {
    child.kill('SIGTERM')
    await exited
  })
  for (let i = 0; i < 300 && !output.includes('identity provider ready'); i++) await new Promise((r) => setTimeout(r, 50))
  t.match(output, /DEMO running/, 'the demo says it is a demo')
  t.match(output, /alice \(admins\)/, 'and lists its users')

  const signedIn = async (host: string, user: string) =>
    (await signIn(8080, { host, login: (url) => new IdpBrowser('http://127.0.0.1:8082').login(url, user) })).jar.header()

  t.equal((await request(8080, { path: '/', headers: { host: 'public.localhost:8080' } })).status, 200, 'public')
  const anon = await request(8080, { path: '/', headers: { host: 'private.localhost:8080', accept: 'text/html' } })
  t.equal(anon.status, 302, 'private sends a browser to sign in')

  const alice = await signedIn('admin.localhost:8080', 'alice')
  const adminPage = await request(8080, { path: '/', headers: { host: 'admin.localhost:8080', cookie: alice } })
  t.equal(adminPage.status, 200, 'alice (admins) opens the admin route')
  t.equal(JSON.parse(adminPage.text).headers['x-forwarded-user'], 'alice', 'the demo upstream shows who she is')

  const bob = await signedIn('admin.localhost:8080', 'bob')
  t.equal(
    (await request(8080, { path: '/', headers: { host: 'admin.localhost:8080', cookie: bob, accept: 'application/json' } })).status,
    403,
    'bob is not an admin',
  )
  const bobPrivate = await signedIn('private.localhost:8080', 'bob')
  t.equal(
    (await request(8080, { path: '/', headers: { host: 'private.localhost:8080', cookie: bobPrivate } })).status,
    200,
    'any signed-in user opens the private route',
  )
})
