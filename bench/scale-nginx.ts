// nginx as a plain streaming reverse proxy for the large-body runs of bench/scale.ts: one
// worker process, keepalive to the upstream, access log off, no body size limit, and
// neither the request body nor the response buffered (proxy_request_buffering off,
// proxy_buffering off), so that it streams like Gatehouse instead of spooling to
// temporary files. Two servers in the one nginx: nginx's default buffer sizes (one page,
// 4 or 8 KiB: proxy_buffer_size, client_body_buffer_size 8 or 16 KiB), and 64 KiB
// buffers, the size Node reads from a socket (proxy_buffers only so that nginx accepts
// the larger proxy_buffer_size: without proxy buffering it uses proxy_buffer_size alone).

import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { nginxConfig } from './nginx.js'
import { freePort, spawnOn, waitForHttp, which, type Placement } from './procs.js'

export interface StreamingNginx {
  pid: number
  /** Base URLs (no trailing slash) of the two servers. */
  defaultBuffers: string
  buffers64k: string
  /** The directives each server adds to the common ones, for the report. */
  settings: { common: string; buffers64k: string }
}

const COMMON = 'proxy_request_buffering off; proxy_buffering off; client_max_body_size 0; proxy_http_version 1.1; proxy_set_header Connection "";'
const BUFFERS_64K = 'proxy_buffer_size 64k; proxy_buffers 8 64k; client_body_buffer_size 64k;'

export async function startStreamingNginx(p: Placement, work: string, upstreamPort: number): Promise<StreamingNginx> {
  const dir = path.join(work, 'nginx-scale')
  mkdirSync(dir, { recursive: true })
  const [plain, big] = [await freePort(), await freePort()]
  const server = (port: number, extra: string) => `  server {
    listen 127.0.0.1:${port};
    ${COMMON}
    ${extra}
    location / { proxy_pass http://app; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr; }
  }`
  const conf = nginxConfig(dir, upstreamPort, 16, `${server(plain, '')}\n${server(big, BUFFERS_64K)}`)
  writeFileSync(path.join(dir, 'nginx.conf'), conf)
  const child = spawnOn(p, p.contender, which('nginx')!, ['-c', path.join(dir, 'nginx.conf'), '-p', dir])
  await waitForHttp(plain, child, 'nginx')
  await waitForHttp(big, child, 'nginx')
  return {
    pid: child.pid!,
    defaultBuffers: `http://127.0.0.1:${plain}`,
    buffers64k: `http://127.0.0.1:${big}`,
    settings: { common: COMMON, buffers64k: BUFFERS_64K },
  }
}
