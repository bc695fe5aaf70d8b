// Apache 2 (Debian's apache2, mpm_event) with Debian's mod_auth_openidc as a relying party
// of the bench IdP, `Require valid-user` on everything, proxying to the upstream. One
// child process with enough threads for every connection, in the foreground, with its
// own config in a temp directory; access logs off, as for every contender.
// BENCH_APACHE_LOGLEVEL=auth_openidc:debug puts the module's steps in the error log lines
// the bench prints when Apache fails to sign in.

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import path from 'node:path'
import type { TestIdp } from '../test/helpers/idp.js'
import { freePort, spawnOn, waitForHttp, which, type Placement, type Running } from './procs.js'
import { signInThrough } from './signin.js'

const MODULES = '/usr/lib/apache2/modules'

/** Why Apache with mod_auth_openidc cannot run here, or undefined when it can. */
export function apacheMissing(): string | undefined {
  if (!which('apache2')) return 'apache2 is not installed (scripts/ensure-bench.sh installs it)'
  if (!existsSync(path.join(MODULES, 'mod_auth_openidc.so'))) return 'mod_auth_openidc is not installed (libapache2-mod-auth-openidc)'
  return undefined
}

export async function startApache(p: Placement, work: string, idp: TestIdp, upstreamPort: number, connections: number): Promise<Running> {
  const dir = path.join(work, 'apache')
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const client = { client_id: 'bench-apache', client_secret: 'bench-apache-secret' }
  await idp.registerClient({ ...client, redirect_uris: [`${base}/redirect_uri`], token_endpoint_auth_method: 'client_secret_basic' })
  const threads = Math.max(64, connections + 16)
  // As root, Apache serves as an unprivileged user: its run directory must be theirs.
  const root = userInfo().uid === 0
  const user = root ? (hasUser('www-data') ? 'www-data' : 'nobody') : undefined
  const load = (name: string, file: string) => `LoadModule ${name} ${MODULES}/${file}`
  const conf = `ServerRoot "${dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile "${dir}/apache.pid"
ErrorLog "${dir}/error.log"
LogLevel ${process.env.BENCH_APACHE_LOGLEVEL ?? 'warn'}
DefaultRuntimeDir "${dir}"
${user ? `User ${user}\nGroup ${user === 'www-data' ? 'www-data' : 'nogroup'}` : ''}
${load('mpm_event_module', 'mod_mpm_event.so')}
${load('authn_core_module', 'mod_authn_core.so')}
${load('authz_core_module', 'mod_authz_core.so')}
${load('authz_user_module', 'mod_authz_user.so')}
${load('proxy_module', 'mod_proxy.so')}
${load('proxy_http_module', 'mod_proxy_http.so')}
${load('auth_openidc_module', 'mod_auth_openidc.so')}

StartServers 1
ServerLimit 1
ThreadLimit ${threads}
ThreadsPerChild ${threads}
MinSpareThreads 1
MaxSpareThreads ${threads}
MaxRequestWorkers ${threads}
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60

OIDCProviderMetadataURL ${idp.discoveryUrl}
OIDCClientID ${client.client_id}
OIDCClientSecret ${client.client_secret}
OIDCRedirectURI ${base}/redirect_uri
OIDCCryptoPassphrase bench-apache-crypto-passphrase-0123456789
OIDCScope "openid email profile"
OIDCPKCEMethod S256
OIDCSessionInactivityTimeout 86400
OIDCSessionMaxDuration 86400

<Location />
  AuthType openid-connect
  Require valid-user
</Location>
ProxyPass "/redirect_uri" "!"
ProxyPass "/" "http://127.0.0.1:${upstreamPort}/"
`
  writeFileSync(path.join(dir, 'apache2.conf'), conf)
  if (user) {
    chmodSync(work, 0o755)
    chmodSync(dir, 0o777)
  }
  const child = spawnOn(p, p.contender, which('apache2')!, ['-f', path.join(dir, 'apache2.conf'), '-DFOREGROUND'])
  try {
    await waitForHttp(port, child, 'apache2')
    const cookie = await signInThrough(idp, `${base}/`)
    return { url: `${base}/`, headers: { cookie }, pids: [child.pid!] }
  } catch (err) {
    const log = existsSync(path.join(dir, 'error.log')) ? readFileSync(path.join(dir, 'error.log'), 'utf8').trim().split('\n').slice(-5).join('\n') : ''
    throw new Error(`${(err as Error).message}${log ? `\n  apache error.log:\n  ${log.replace(/\n/g, '\n  ')}` : ''}`)
  }
}

function hasUser(name: string): boolean {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .some((l) => l.startsWith(`${name}:`))
  } catch {
    return false
  }
}
