// What counts as "this machine": the one definition used wherever loopback relaxes a
// rule (cookies without Secure on http, IdP endpoints over plain http).

/** localhost (and *.localhost), 127/8 and ::1, as a URL's hostname spells them. */
export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.toLowerCase()
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host)
}

/** True for URLs whose host is loopback, whatever the scheme; false for what does not parse. */
export function isLoopbackUrl(url: string | URL): boolean {
  try {
    return isLoopbackHostname((typeof url === 'string' ? new URL(url) : url).hostname)
  } catch {
    return false
  }
}

/**
 * True for http origins on a loopback host. Only there may a cookie go without Secure:
 * browsers treat these hosts as trustworthy and nothing else on the network can see the
 * traffic.
 */
export function isHttpLoopback(origin: string | URL | undefined): boolean {
  if (origin === undefined) return false
  try {
    const url = typeof origin === 'string' ? new URL(origin) : origin
    return url.protocol === 'http:' && isLoopbackHostname(url.hostname)
  } catch {
    return false
  }
}
