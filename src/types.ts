// Shared vocabulary: plain shapes that config produces and the rest of Gatehouse reads,
// kept here so that readers of a shape need not import the module that parses it.

/** Where a value was written: file, line, column and key path. */
export interface Location {
  file: string
  line: number
  col: number
  path: string
}

export interface ListenAddress {
  host: string
  port: number
}

export interface RouteOrigin {
  scheme: 'http' | 'https'
  /** Lower-case hostname; a leading `*.` marks a wildcard. */
  hostname: string
  /** Port as written in `from`, or undefined when it is the scheme's default. */
  port: number | undefined
}

export interface UpstreamTarget {
  /** `scheme://host:port`, the key of the connection pool. */
  origin: string
  protocol: 'http:' | 'https:'
  hostname: string
  port: number
  /** Host header value when the upstream's own host is sent. */
  host: string
  weight: number
}
