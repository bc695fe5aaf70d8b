import { expectTrue, type CriterionDefinition } from './criterion.js'

/** An OPTIONS request carrying both Origin and Access-Control-Request-Method. */
export const corsPreflight: CriterionDefinition = {
  name: 'cors_preflight',
  needsUser: false,
  ok: 'cors-request',
  fail: 'non-cors-request',
  compile: (value, ctx) =>
    expectTrue(value, ctx) && (() => `req.method === 'OPTIONS' && req.origin !== undefined && req.accessControlRequestMethod !== undefined`),
}
