// The deployment files the README shows: the Kubernetes manifests validate against the
// Kubernetes schemas (kubernetes-models ships them) and say what the README promises, the
// config they carry passes `gatehouse check`, and the Dockerfile builds on the current
// Node LTS and runs the compiled CLI as a non-root user.

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Service } from 'kubernetes-models/v1/Service'
import { loadConfig } from '../../src/config/load.js'

const ROOT = path.resolve(import.meta.dirname, '..', '..')
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  ConfigMap,
  Deployment,
  PodDisruptionBudget,
  Service,
}

type Doc = { kind: string; metadata: { name: string }; spec?: Record<string, unknown>; data?: Record<string, string> }
const docs = parseAllDocuments(readFileSync(path.join(ROOT, 'deploy/kubernetes/gatehouse.yaml'), 'utf8')).map((d) => d.toJS() as Doc)
const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!

t.test('every manifest validates against the Kubernetes schema of its kind', async (t) => {
  t.ok(docs.length >= 6)
  for (const doc of docs) {
    const Model = MODELS[doc.kind]
    t.ok(Model, `${doc.kind} is a kind the test knows`)
    t.doesNotThrow(() => new Model(doc as never).validate(), `${doc.kind}/${doc.metadata.name} is valid`)
  }
  t.throws(() => new Deployment({ metadata: { name: 'x' }, spec: { replicas: 'two' } } as never).validate(), 'and the validation can fail')
})

t.test('two non-root, read-only replicas with probes and a disruption budget', async (t) => {
  const deployment = find('Deployment', 'gatehouse') as unknown as {
    spec: { replicas: number; template: { spec: { securityContext: Record<string, unknown>; containers: Record<string, any>[] } } }
  }
  t.equal(deployment.spec.replicas, 2)
  const pod = deployment.spec.template.spec
  t.equal(pod.securityContext.runAsNonRoot, true)
  const [container] = pod.containers
  t.equal(container.securityContext.readOnlyRootFilesystem, true)
  t.equal(container.securityContext.allowPrivilegeEscalation, false)
  t.equal(container.livenessProbe.httpGet.path, '/healthz')
  t.equal(container.readinessProbe.httpGet.path, '/readyz')
  const pdb = find('PodDisruptionBudget', 'gatehouse') as unknown as { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }
  t.equal(pdb.spec.minAvailable, 1)
  t.strictSame(pdb.spec.selector.matchLabels, (deployment as any).spec.selector.matchLabels, 'the budget covers the Gatehouse pods')
  t.ok(find('Deployment', 'gatehouse-redis'), 'Redis for the sessions')
})

t.test('the ConfigMap holds a configuration Gatehouse accepts', async (t) => {
  const data = find('ConfigMap', 'gatehouse-config').data!
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-k8s-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // The files the Secret would mount, in a folder standing in for /run/secrets/gatehouse.
  const secrets = path.join(dir, 'secrets')
  execFileSync('mkdir', ['-p', secrets])
  writeFileSync(path.join(secrets, 'client-secret'), 'client-secret\n')
  writeFileSync(path.join(secrets, 'redis-password'), 'redis-password\n')
  const { generateKeyPairSync } = await import('node:crypto')
  writeFileSync(
    path.join(secrets, 'signing.pem'),
    String(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' })),
  )
  writeFileSync(path.join(dir, 'config.yaml'), data['config.yaml'].replaceAll('/run/secrets/gatehouse', secrets))
  writeFileSync(path.join(dir, 'policies.yaml'), data['policies.yaml'])
  const config = await loadConfig(path.join(dir, 'config.yaml'), { env: { COOKIE_SECRET: Buffer.alloc(32, 1).toString('base64') } })
  t.equal(config.routes.length, 1)
  t.equal(config.session.store.kind, 'redis')
  t.equal(config.idps[0].clientSecret, 'client-secret')
})

t.test('the Dockerfile builds on the current Node LTS and runs the compiled CLI unprivileged', async (t) => {
  const dockerfile = readFileSync(path.join(ROOT, 'deploy/Dockerfile'), 'utf8')
  const lts = execFileSync('bash', [path.join(ROOT, 'scripts/node-lts.sh')], { encoding: 'utf8' }).trim()
  const major = /node-(\d+)\//.exec(lts)?.[1]
  const bases = [...dockerfile.matchAll(/^FROM node:(\d+)-slim/gm)].map((m) => m[1])
  t.strictSame(bases, [major, major], `both stages on Node ${major}, the LTS CI tests`)
  t.match(dockerfile, /^USER node$/m)
  t.match(dockerfile, /^ENTRYPOINT \["node", "dist\/cli\.js"\]$/m)
  // The build step the Dockerfile runs, into a scratch folder: it compiles, and the
  // compiled CLI works without the development dependencies' loader.
  // Inside the checkout, so the compiled code finds node_modules as in the image.
  execFileSync('mkdir', ['-p', path.join(ROOT, '.cache')])
  const out = mkdtempSync(path.join(ROOT, '.cache', 'build-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', out], {
    cwd: ROOT,
  })
  const version = execFileSync(process.execPath, [path.join(out, 'cli.js'), 'check', '--config', path.join(ROOT, 'config.yaml')], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  t.match(version, /config\.yaml: OK/)
})
