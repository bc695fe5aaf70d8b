// Reading a small application/x-www-form-urlencoded body. Bodies are otherwise streamed
// untouched (fastify parses none), so the few endpoints that take a form read it here,
// bounded: a client must not make us buffer without end.

import type { IncomingMessage } from 'node:http'

/** The form, or undefined when the body is longer than `maxBytes`. */
export async function readForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) return undefined
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}
