// Reading a CAR v1 as it arrives (repo imports), without holding more than one block and one input chunk: a varint-
// prefixed DAG-CBOR header `{version: 1, roots}`, then varint-prefixed `cid ‖ bytes` blocks (src/protocol/car.ts
// writes the same format). Every block's bytes are checked against its CID's SHA-256, so what the reader hands on is
// exactly what the CID names. Malformed, truncated or oversized input throws CarFormatError; errors of the source
// (a client hanging up) pass through as they are.
import { createHash } from 'node:crypto'
import { decode as cborDecode } from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'

export class CarFormatError extends Error {}

export type CarBlockIn = { cid: CID; bytes: Uint8Array }

const SHA256_CODE = 0x12
/** A header is a version and a root or two: anything this long is not one. */
const MAX_HEADER_BYTES = 64 * 1024
/** A CID's bytes: version, codec and a 32-byte multihash fit in well under this. */
const MAX_CID_BYTES = 128

export class CarReader {
  private readonly input: ByteQueue
  private readonly maxBlockBytes: number
  private headerRead = false

  /** `maxBlockBytes`: the largest block (its data, without the CID) accepted; a longer one is CarFormatError. */
  constructor(source: AsyncIterable<Uint8Array>, opts: { maxBlockBytes: number }) {
    this.input = new ByteQueue(source)
    this.maxBlockBytes = opts.maxBlockBytes
  }

  /** Bytes taken from the source so far. */
  get bytesRead(): number {
    return this.input.consumed
  }

  /** The header's roots. Call once, before `blocks`. An empty source is CarFormatError 'empty'. */
  async roots(): Promise<CID[]> {
    const length = await this.varint()
    if (length === null) throw new CarFormatError('The CAR is empty')
    if (length === 0 || length > MAX_HEADER_BYTES) throw new CarFormatError(`Bad CAR header length: ${length}`)
    let header: { version?: unknown; roots?: unknown }
    try {
      header = cborDecode(await this.bytes(length)) as typeof header
    } catch (err) {
      if (err instanceof CarFormatError) throw err
      throw new CarFormatError('The CAR header is not DAG-CBOR')
    }
    if (header?.version !== 1) throw new CarFormatError('Not a CAR v1 (header version is not 1)')
    const roots = Array.isArray(header.roots) ? header.roots.map((r) => CID.asCID(r)) : null
    if (!roots || roots.some((r) => r === null)) throw new CarFormatError('The CAR header roots are not CIDs')
    this.headerRead = true
    return roots as CID[]
  }

  /** The blocks in input order, each verified against its CID; ends at a clean end of input. */
  async *blocks(): AsyncGenerator<CarBlockIn> {
    if (!this.headerRead) throw new Error('CarReader.blocks before roots')
    for (;;) {
      const length = await this.varint()
      if (length === null) return
      if (length > this.maxBlockBytes + MAX_CID_BYTES) {
        throw new CarFormatError(`A CAR block is larger than ${this.maxBlockBytes} bytes`)
      }
      yield verifiedBlock(await this.bytes(length))
    }
  }

  /** An unsigned LEB128 varint; null at a clean end of input (before its first byte). */
  private async varint(): Promise<number | null> {
    let value = 0
    for (let i = 0; i < 8; i++) {
      const byte = await this.input.byte()
      if (byte === null) {
        if (i === 0) return null
        throw new CarFormatError('The CAR is truncated (inside a length)')
      }
      value += (byte & 0x7f) * 2 ** (7 * i)
      if (byte < 0x80) return value
    }
    throw new CarFormatError('Bad CAR length varint')
  }

  private async bytes(n: number): Promise<Uint8Array> {
    const out = await this.input.take(n)
    if (!out) throw new CarFormatError('The CAR is truncated (inside a block)')
    return out
  }
}

/** `cid ‖ bytes` → the block, if the bytes hash to the CID (SHA-256 CIDs only, as atproto uses). */
function verifiedBlock(frame: Uint8Array): CarBlockIn {
  let cid: CID
  let bytes: Uint8Array
  try {
    ;[cid, bytes] = CID.decodeFirst(frame)
  } catch {
    throw new CarFormatError('A CAR block does not start with a valid CID')
  }
  if (cid.multihash.code !== SHA256_CODE) {
    throw new CarFormatError(`Block ${cid.toString()}: only SHA-256 CIDs are accepted`)
  }
  const digest = createHash('sha256').update(bytes).digest()
  if (!digest.equals(cid.multihash.digest)) {
    throw new CarFormatError(`Block ${cid.toString()}: its bytes do not match its CID`)
  }
  return { cid, bytes }
}

/** Bytes from an async source, pulled only as far as a read needs. */
class ByteQueue {
  private readonly source: AsyncIterator<Uint8Array>
  private chunks: Buffer[] = []
  private buffered = 0
  private ended = false
  consumed = 0

  constructor(source: AsyncIterable<Uint8Array>) {
    this.source = source[Symbol.asyncIterator]()
  }

  /** Buffer at least `n` bytes; false when the source ends first. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.ended) return false
      const next = await this.source.next()
      if (next.done) {
        this.ended = true
        return this.buffered >= n
      }
      const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength)
      if (chunk.length === 0) continue
      this.chunks.push(chunk)
      this.buffered += chunk.length
    }
    return true
  }

  async byte(): Promise<number | null> {
    const out = await this.take(1)
    return out ? out[0] : null
  }

  /** The next `n` bytes, or null when the source ends before them. */
  async take(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) return null
    let out: Buffer
    const first = this.chunks[0]
    if (first.length >= n) {
      out = first.subarray(0, n)
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
    } else {
      const all = Buffer.concat(this.chunks)
      out = all.subarray(0, n)
      this.chunks = all.length > n ? [all.subarray(n)] : []
    }
    this.buffered -= n
    this.consumed += n
    return out
  }
}
