// A raw subscribeRepos client for tests: a `ws` WebSocket that decodes every binary message into its header and body
// (two DAG-CBOR objects) and lets a test await frames, or the close, with a bounded timeout.
import { once } from 'node:events'
import * as cbor from '@ipld/dag-cbor'
import WebSocket from 'ws'
import { decodeFrame } from '../../src/protocol/frames.ts'

export type Frame = { header: { op: number; t?: string }; body: any; bytes: Uint8Array }

export function firehoseUrl(pds: { url: string }, query = ''): string {
  return `${pds.url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos${query}`
}

/** Resolve `promise`, or reject after `ms` naming what was awaited. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    }),
  ])
}

export class FirehoseClient {
  readonly ws: WebSocket
  readonly frames: Frame[] = []
  /** Messages that were not a well-formed frame (should stay empty). */
  readonly malformed: unknown[] = []
  pings = 0
  closeInfo: { code: number; reason: string } | undefined
  private readonly listeners = new Set<() => void>()

  private constructor(ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      try {
        if (!isBinary) throw new Error('text message')
        const bytes = new Uint8Array(data)
        const { header, body } = decodeFrame(bytes)
        this.frames.push({ header, body, bytes })
      } catch (err) {
        this.malformed.push(err)
      }
      this.notify()
    })
    ws.on('ping', () => (this.pings += 1))
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() }
      this.notify()
    })
    ws.on('error', () => {})
  }

  /** `autoPong: false`: a peer that never answers our pings. `headers`: e.g. X-Forwarded-For behind a trusted proxy. */
  static async connect(
    pds: { url: string },
    opts: { cursor?: number | string; headers?: Record<string, string>; autoPong?: boolean } = {},
  ): Promise<FirehoseClient> {
    const query = opts.cursor === undefined ? '' : `?cursor=${opts.cursor}`
    const ws = new WebSocket(firehoseUrl(pds, query), { headers: opts.headers, autoPong: opts.autoPong ?? true })
    const client = new FirehoseClient(ws)
    await within(once(ws, 'open'), 10_000, 'the WebSocket to open')
    return client
  }

  /** Message frames that carry a seq (everything but #info and errors). */
  get events(): Frame[] {
    return this.frames.filter((f) => f.header.op === 1 && typeof f.body.seq === 'number')
  }

  get seqs(): number[] {
    return this.events.map((f) => f.body.seq as number)
  }

  get lastSeq(): number {
    return this.seqs.at(-1) ?? -1
  }

  /** Wait until `done()` holds (checked after every message and on close). */
  until(done: () => boolean, what: string, ms = 20_000): Promise<void> {
    if (done()) return Promise.resolve()
    let listener!: () => void
    const reached = new Promise<void>((resolve, reject) => {
      listener = () => {
        if (done()) resolve()
        else if (this.closeInfo) reject(new Error(`socket closed (${this.closeInfo.code}) while waiting for ${what}`))
      }
      this.listeners.add(listener)
    })
    return within(reached, ms, what).finally(() => this.listeners.delete(listener))
  }

  untilSeq(seq: number, ms?: number): Promise<void> {
    return this.until(() => this.lastSeq >= seq, `seq ${seq} (last seen ${this.lastSeq})`, ms)
  }

  async closed(ms = 20_000): Promise<{ code: number; reason: string }> {
    if (!this.closeInfo) await within(once(this.ws, 'close'), ms, 'the socket to close')
    return this.closeInfo!
  }

  /** Stop reading from the TCP socket: the server sees a consumer that never reads. */
  pause(): void {
    ;(this.ws as unknown as { _socket: { pause(): void } })._socket.pause()
  }

  resume(): void {
    ;(this.ws as unknown as { _socket: { resume(): void } })._socket.resume()
  }

  close(): void {
    this.ws.terminate()
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener()
  }
}

/** Try to upgrade and expect a refusal: the HTTP status and the parsed JSON body. */
export async function refusedUpgrade(url: string, headers?: Record<string, string>): Promise<{ status: number; body: any }> {
  const ws = new WebSocket(url, { headers })
  ws.on('error', () => {})
  return within(
    new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.terminate()
        reject(new Error('the upgrade was accepted'))
      })
      ws.once('unexpected-response', (_req, res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
      })
    }),
    10_000,
    'the upgrade response',
  )
}

/** DAG-CBOR is canonical: re-encoding the decoded header and body must give back the exact bytes received. */
export function isCanonicalFrame(frame: Frame): boolean {
  const header = cbor.encode(frame.header)
  const body = cbor.encode(frame.body)
  if (header.length + body.length !== frame.bytes.length) return false
  const again = new Uint8Array([...header, ...body])
  return again.every((b, i) => b === frame.bytes[i])
}
