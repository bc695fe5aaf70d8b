// log_format's default follows where the lines go: readable lines at a terminal, JSON
// for a collector; a value in the config always wins.

import t from 'tap'
import { compileConfig } from '../../src/config/compile.js'
import type { ConfigSpec } from '../../src/config/spec.js'

const compile = (spec: ConfigSpec, stdoutIsTerminal: boolean) => compileConfig({ spec, routes: [], baseDir: '.', stdoutIsTerminal }).logFormat

t.test('unset: pretty at a terminal, json otherwise; set: as written', async (t) => {
  t.equal(compile({}, true), 'pretty')
  t.equal(compile({}, false), 'json')
  t.equal(compile({ log_format: 'json' }, true), 'json')
  t.equal(compile({ log_format: 'pretty' }, false), 'pretty')
})
