// A client that may set Host (fetch may not) and never shares connections across tests.

import http from 'node:http'

export interface RequestOptions {
  method?: string
  path?: string
  /** Sent as given; a header may repeat (an array of values). Host goes here too. */
  headers?: Record<string, string | string[]>
  body?: string | Buffer
}

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  /** Header names and values as they came over the wire, in order. */
  rawHeaders: string[]
  body: Buffer
  /** The body as UTF-8 text. */
  text: string
}

/** Reads a whole response, for tests that make the request themselves. */
export function readReply(res: http.IncomingMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (c: Buffer) => chunks.push(c))
    res.on('end', () => {
      const body = Buffer.concat(chunks)
      resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString('utf8') })
    })
    res.on('error', reject)
  })
}

/** One request on a fresh connection (no agent), so nothing is shared between tests.
 *  A body is always sent with its Content-Length: Node's client declares none on its own
 *  for methods such as DELETE. */
export function request(port: number, options: RequestOptions = {}): Promise<Reply> {
  const headers = options.body === undefined ? options.headers : { 'content-length': String(Buffer.byteLength(options.body)), ...options.headers }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers, agent: false }, (res) => {
      readReply(res).then(resolve, reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

export interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** `request` with the Host given on its own and the body as text. */
export async function send(
  port: number,
  options: { host: string; path?: string; method?: string; headers?: Record<string, string>; body?: string },
): Promise<Answer> {
  const { host, headers, ...rest } = options
  const reply = await request(port, { ...rest, headers: { host, ...headers } })
  return { status: reply.status, headers: reply.headers, body: reply.text }
}
