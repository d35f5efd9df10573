// A streamed request body for methods that read it themselves (importRepo), checked the way @atproto/xrpc-server
// checks one (util.js: getBodyPresence, parseReqEncoding, decodeBodyStream): present, of an accepted Content-Type,
// its Content-Encoding undone, and cut off with 413 once more than `maxBytes` decoded bytes have come.
import { pipeline, Transform, type Readable } from 'node:stream'
import zlib from 'node:zlib'
import type { Request } from 'express'
import { InvalidRequestError, PayloadTooLargeError } from '../errors.ts'

const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
}

/**
 * The body of `req` as decoded bytes. Errors (before anything is read): InvalidRequest for no body at all, a missing
 * or other Content-Type than `encoding`, an unknown Content-Encoding; PayloadTooLarge when Content-Length already says
 * it is too big. While reading: PayloadTooLarge past `maxBytes`, InvalidRequest for a body that does not decode.
 */
export function streamedBody(req: Request, encoding: string, maxBytes: number): Readable {
  const length = req.headers['content-length']
  if (length === undefined && req.headers['transfer-encoding'] === undefined) {
    throw new InvalidRequestError('A request body is expected but none was provided')
  }
  const type = req.headers['content-type']?.split(';')[0].trim().toLowerCase()
  if (!type) throw new InvalidRequestError('Request encoding (Content-Type) required but not provided')
  if (type !== encoding) throw new InvalidRequestError(`Wrong request encoding (Content-Type): ${type}`)
  if (length !== undefined && Number(length) > maxBytes) throw new PayloadTooLargeError('request entity too large')

  // Content-Encoding lists codings in the order they were applied: undo them last first.
  const codings = (req.headers['content-encoding'] ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c && c !== 'identity')
    .reverse()
  const stages: Transform[] = codings.map((c) => {
    const decoder = DECODERS[c]
    if (!decoder) throw new InvalidRequestError(`Unsupported Content-Encoding: ${c}`)
    return decoder()
  })
  let size = 0
  stages.push(
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length
        if (size > maxBytes) return done(new PayloadTooLargeError('request entity too large'))
        done(null, chunk)
      },
    }),
  )
  return pipeline([req, ...stages], () => {}) as unknown as Readable
}
