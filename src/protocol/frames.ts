// Firehose frames: a DAG-CBOR header followed by a DAG-CBOR body, concatenated. Encoded once when an event is
// sequenced; the firehose sends and replays these bytes unchanged.
import * as cbor from '@ipld/dag-cbor'
import { decodeFirst as cborgDecodeFirst } from 'cborg'

export type EventType = 'commit' | 'sync' | 'identity' | 'account'

export function encodeFrame(type: `#${EventType}` | '#info', body: Record<string, unknown>): Uint8Array {
  return concat(cbor.encode({ t: type, op: 1 }), cbor.encode(dropUndefined(body)))
}

export function encodeErrorFrame(error: string, message?: string): Uint8Array {
  return concat(cbor.encode({ op: -1 }), cbor.encode(message === undefined ? { error } : { error, message }))
}

/** Split a frame into its header and body (for tests and tools; the server never decodes its own frames). */
export function decodeFrame(frame: Uint8Array): { header: { op: number; t?: string }; body: Record<string, unknown> } {
  const [header, rest] = decodeFirst(frame)
  const [body, tail] = decodeFirst(rest)
  if (tail.length) throw new Error('trailing bytes after frame body')
  return { header: header as { op: number; t?: string }, body: body as Record<string, unknown> }
}

function decodeFirst(bytes: Uint8Array): [unknown, Uint8Array] {
  // cborg's decodeFirst with dag-cbor's options (tag 42 → CID, strictness) returns the unread remainder.
  const [value, remainder] = cborgDecodeFirst(bytes, cbor.decodeOptions)
  return [value, remainder]
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

// DAG-CBOR has no `undefined`; optional fields are left out, while explicit nulls (`since`, `cid`) stay.
function dropUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined))
}
