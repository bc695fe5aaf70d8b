// `check` lists every error in one pass: a config with mistakes in its settings, its
// routes and the checks across them reports all of them at once, not in waves.

import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'
import { configDir } from '../helpers/gatehouse.js'

t.test('schema errors, file errors and cross-route errors come in one report', async (t) => {
  const dir = configDir(t, {
    config: `adress: 1.2.3.4:80
log_level: loud
templates_dir: ./nope
routes:
  - from: http://a.test
    to: http://127.0.0.1:9
    idp: missing
    allow_public_unauthenticated_access: true
`,
    files: {
      'policies/more.yaml': `routes:
  - from: http://b.test
    to: not a url
  - from: http://c.test
    to: http://127.0.0.1:9
    allowed_users: [x]
    allow_any_authenticated_user: true
`,
    },
  })
  const err = await loadConfig(dir.configFile, { env: {} }).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof ConfigError, 'refused')
  const messages = (err as ConfigError).issues.map((i) => `${i.file}:${i.line} ${i.message}`)
  t.match(messages, [/config\.yaml:1 unknown key \(did you mean "address"\?\)/], 'an unknown key')
  const all = messages.join('\n')
  t.match(all, /config\.yaml:2 must be one of/, 'a bad value')
  t.match(all, /config\.yaml:3 the templates folder \.\/nope cannot be read/, 'a missing folder, found while compiling')
  t.match(all, /config\.yaml:5 no identity provider has the id "missing"/, 'a route naming an unknown IdP')
  t.match(all, /more\.yaml:3 must be an http or https URL/, 'a bad route in a policies file')
  t.match(all, /more\.yaml:4 allow_any_authenticated_user cannot be combined/, 'a conflict in a good-looking route')
  t.equal(messages.length, 6, 'and nothing else')
})
