// Raw HTTP over a socket, for requests that fetch or undici would normalise or refuse.

import net from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** The whole answer as text. */
  raw: string
}

/** Sends `request` verbatim and reads until the server closes or `waitMs` of silence. */
export function rawRequest(port: number, request: string | Buffer, waitMs = 1500): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let timer: NodeJS.Timeout
    const finish = () => {
      clearTimeout(timer)
      socket.destroy()
      const raw = Buffer.concat(chunks).toString('latin1')
      const [head, ...rest] = raw.split('\r\n\r\n')
      const [statusLine, ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const i = line.indexOf(':')
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
      }
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), raw })
    }
    const arm = () => {
      clearTimeout(timer)
      timer = setTimeout(finish, waitMs)
    }
    socket.on('connect', () => {
      socket.write(request)
      arm()
    })
    socket.on('data', (c) => {
      chunks.push(c)
      arm()
    })
    socket.on('end', finish)
    socket.on('error', (err) => (chunks.length ? finish() : reject(err)))
  })
}
