// The benchmark client's reader of firehose frames: from each message, only what the figures need (the header's op
// and type, the body's seq and rev), every other value stepped over without being decoded. Decoding whole frames
// (cborg, ~25 µs each) was half the client's CPU per received event; the client shares the cores with the server it
// measures, and with 100-200 sockets in one process it receives each event that many times in a row, so its cost
// adds to every latency figure, for both servers alike.
//
// A frame is two DAG-CBOR values one after the other (header, body): definite lengths only, no indefinite items.
// https://atproto.com/specs/event-stream#framing

export type PeekedFrame = { op: number; t?: string; seq?: number; rev?: string }

/** The header's `op`/`t` and the body's `seq`/`rev` (when present and of the right type). Throws on malformed CBOR. */
export function peekFrame(data: Buffer): PeekedFrame {
  const r = new Reader(data)
  const frame: PeekedFrame = { op: NaN }
  for (let n = r.mapLength(); n > 0; n--) {
    const key = r.text()
    if (key === 'op') frame.op = r.int()
    else if (key === 't') frame.t = r.text()
    else r.skip()
  }
  if (frame.op !== 1) return frame
  for (let n = r.mapLength(); n > 0; n--) {
    const key = r.text()
    if (key === 'seq') frame.seq = r.int()
    else if (key === 'rev') frame.rev = r.text()
    else r.skip()
  }
  return frame
}

const MAJOR_UINT = 0
const MAJOR_NEGINT = 1
const MAJOR_BYTES = 2
const MAJOR_TEXT = 3
const MAJOR_ARRAY = 4
const MAJOR_MAP = 5
const MAJOR_TAG = 6

class Reader {
  private pos = 0
  private readonly buf: Buffer
  constructor(buf: Buffer) {
    this.buf = buf
  }

  /** One item's initial byte(s): its major type and argument (a length, a value, a tag number). */
  private head(): { major: number; arg: number } {
    const b = this.buf
    if (this.pos >= b.length) throw new RangeError('truncated CBOR')
    const first = b[this.pos++]
    const major = first >> 5
    const info = first & 31
    let arg: number
    if (info < 24) arg = info
    else if (info === 24) (arg = b.readUInt8(this.pos)), (this.pos += 1)
    else if (info === 25) (arg = b.readUInt16BE(this.pos)), (this.pos += 2)
    else if (info === 26) (arg = b.readUInt32BE(this.pos)), (this.pos += 4)
    else if (info === 27) (arg = Number(b.readBigUInt64BE(this.pos))), (this.pos += 8)
    else throw new RangeError(`unsupported CBOR item (initial byte 0x${first.toString(16)})`)
    return { major, arg }
  }

  mapLength(): number {
    const { major, arg } = this.head()
    if (major !== MAJOR_MAP) throw new TypeError('expected a CBOR map')
    return arg
  }

  text(): string {
    const { major, arg } = this.head()
    if (major !== MAJOR_TEXT) throw new TypeError('expected a CBOR text string')
    const s = this.buf.toString('utf8', this.pos, this.pos + arg)
    this.pos += arg
    return s
  }

  int(): number {
    const { major, arg } = this.head()
    if (major === MAJOR_UINT) return arg
    if (major === MAJOR_NEGINT) return -1 - arg
    throw new TypeError('expected a CBOR integer')
  }

  /** Step over one whole item (its head already read for floats and simple values: major 7 has no content). */
  skip(): void {
    const { major, arg } = this.head()
    if (major === MAJOR_BYTES || major === MAJOR_TEXT) this.pos += arg
    else if (major === MAJOR_ARRAY) for (let i = 0; i < arg; i++) this.skip()
    else if (major === MAJOR_MAP) for (let i = 0; i < 2 * arg; i++) this.skip()
    else if (major === MAJOR_TAG) this.skip()
    if (this.pos > this.buf.length) throw new RangeError('truncated CBOR')
  }
}
