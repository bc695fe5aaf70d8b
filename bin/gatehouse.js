#!/usr/bin/env node
// Runs the TypeScript sources when tsx is installed (a development checkout), else the
// compiled CLI from `npm run build` (a production install without dev dependencies).
// Sources first, so a stale dist/ can never shadow an edited src/.
let register
try {
  ;({ register } = await import('tsx/esm/api'))
} catch {
  register = undefined
}
if (register) {
  register()
  await import('../src/cli.ts')
} else {
  await import('../dist/cli.js')
}
