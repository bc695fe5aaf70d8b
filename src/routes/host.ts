export interface RequestHost {
  /** Lower-case, without a trailing dot; IPv6 literals keep their brackets. */
  readonly hostname: string
  /** Undefined when absent or the default port of http/https. */
  readonly port: string | undefined
}

const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?)(?::(\d{1,5}))?$/

/**
 * Parses a Host header strictly: no user info, no spaces, no path. A trailing dot
 * names the same host, so it is dropped before matching; otherwise `app.example.com.`
 * could select a different (or no) route than `app.example.com`.
 */
export function parseHost(value: string | undefined): RequestHost | undefined {
  if (value === undefined || value.length === 0 || value.length > 261) return undefined
  const m = HOST.exec(value.toLowerCase())
  if (!m) return undefined
  let hostname = m[1]
  if (hostname.endsWith('.')) hostname = hostname.slice(0, -1)
  const port = m[2]
  if (port !== undefined && Number(port) > 65535) return undefined
  return { hostname, port: port === '80' || port === '443' ? undefined : port }
}
