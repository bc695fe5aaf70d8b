// nginx as a plain reverse proxy (no sign-in): one worker process, keepalive to the
// upstream, access log off, websockets passed through. The bound a proxy on one core can
// reach, for HTTP and for websockets.

import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { freePort, spawnOn, waitForHttp, which, type Placement, type Running } from './procs.js'

export function nginxMissing(): string | undefined {
  return which('nginx') ? undefined : 'nginx is not installed (scripts/ensure-bench.sh installs it)'
}

/** The whole nginx.conf: one worker, every path inside `dir`, access log off,
 *  connections kept open for the run, keepalive to the upstream, and `servers`. */
export function nginxConfig(dir: string, upstreamPort: number, keepalive: number, servers: string): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  map $http_upgrade $upstream_connection { default upgrade; '' ''; }
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive ${keepalive}; }
${servers}
}
`
}

export async function startNginx(p: Placement, work: string, upstreamPort: number): Promise<Running> {
  const dir = path.join(work, 'nginx')
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const server = `  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr;
      # Keep-alive to the upstream for plain requests; Upgrade passed on for websockets.
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $upstream_connection;
      proxy_read_timeout 1h; proxy_buffering off;
    }
  }`
  writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, upstreamPort, 64, server))
  const child = spawnOn(p, p.contender, which('nginx')!, ['-c', path.join(dir, 'nginx.conf'), '-p', dir])
  await waitForHttp(port, child, 'nginx')
  return { url: `http://127.0.0.1:${port}/`, headers: {}, pids: [child.pid!] }
}

/** nginx answering every request itself with `body` (one worker on `core`): an upstream
 *  that costs far less CPU than a Node one, so that a proxy using several cores has
 *  cores left to use. */
export async function startStaticNginx(p: Placement, work: string, core: number, body: string): Promise<number> {
  const dir = path.join(work, 'nginx-static')
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const server = `  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 ${JSON.stringify(body)}; }
  }`
  writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, port, 1, server))
  const child = spawnOn(p, core, which('nginx')!, ['-c', path.join(dir, 'nginx.conf'), '-p', dir])
  await waitForHttp(port, child, 'nginx (static upstream)')
  return port
}
