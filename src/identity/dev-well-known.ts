// Dev mode's stand-in for the web: handle verification over https needs a public name with a certificate, which a
// laptop or a test does not have. With PDS_DEV_WELL_KNOWN_ORIGIN set, a handle's `https://<handle>/.well-known/atproto-did`
// is asked of that origin instead, with the handle as the Host header, the way a local reverse proxy serving several
// sites by name would be (and the way the reference's dev-env resolves handles against its PDS). Every other request
// goes out unchanged through the platform fetch.
import http from 'node:http'
import https from 'node:https'

const WELL_KNOWN_PATH = '/.well-known/atproto-did'
/** The file holds one DID; anything longer is not worth reading. */
const MAX_BODY_BYTES = 4096

/** A fetch for @atproto/identity's resolvers that sends handle well-known requests to `origin` by Host header. */
export function devWellKnownFetch(origin: string): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input)
    if (url.pathname !== WELL_KNOWN_PATH) return globalThis.fetch(input, init)
    return getByHost(new URL(WELL_KNOWN_PATH, origin), url.hostname, init?.signal ?? undefined)
  }
}

// fetch() does not let a caller choose the Host header, so this is a plain http(s).get.
function getByHost(target: URL, host: string, signal: AbortSignal | undefined): Promise<Response> {
  const get = target.protocol === 'https:' ? https.get : http.get
  return new Promise((resolve, reject) => {
    const req = get(target, { headers: { host }, signal }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`well-known answer over ${MAX_BODY_BYTES} bytes`))
        else chunks.push(chunk)
      })
      res.on('end', () => {
        const status = res.statusCode ?? 502
        // Response refuses a body with the statuses that cannot have one.
        resolve(new Response([204, 205, 304].includes(status) ? null : Buffer.concat(chunks), { status }))
      })
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}
