// CAR v1 encoding, synchronous so it can run inside a SQLite transaction (event bodies) and inside a streamed
// export. A CAR is a varint-prefixed DAG-CBOR header `{roots, version: 1}` followed by varint-prefixed `cid ‖ bytes`.
import { encode as cborEncode } from '@ipld/dag-cbor'

/** Any CID object: multiformats' class and @atproto/lex-data's interface both carry the binary form in `bytes`. */
export type CarCid = { bytes: Uint8Array }
export type CarBlock = { cid: CarCid; bytes: Uint8Array }

export function varint(n: number): Uint8Array {
  const out = new Uint8Array(varintLength(n))
  writeVarint(out, 0, n)
  return out
}

function varintLength(n: number): number {
  let length = 1
  for (; n >= 0x80; length++) n = Math.floor(n / 0x80)
  return length
}

/** Unsigned LEB128, as multiformats' varint; returns the offset after it. */
function writeVarint(out: Uint8Array, offset: number, n: number): number {
  while (n >= 0x80) {
    out[offset++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  out[offset++] = n
  return offset
}

export function carHeader(root: CarCid | null): Uint8Array {
  const header = cborEncode({ version: 1, roots: root ? [root] : [] } as never)
  return Buffer.concat([varint(header.length), header])
}

export function blockFrame(block: CarBlock): Uint8Array[] {
  const cid = block.cid.bytes
  return [varint(cid.length + block.bytes.length), cid, block.bytes]
}

/** The bytes of `block`'s frame: varint(length) ‖ cid ‖ bytes. */
export function frameLength(block: CarBlock): number {
  const length = block.cid.bytes.length + block.bytes.length
  return varintLength(length) + length
}

/**
 * `block`'s frame written into `out` at `offset` (which must have frameLength(block) bytes from there), with no
 * allocation: what a streamed export does for every block. Returns the offset after the frame.
 */
export function writeFrame(out: Uint8Array, offset: number, block: CarBlock): number {
  const cid = block.cid.bytes
  offset = writeVarint(out, offset, cid.length + block.bytes.length)
  out.set(cid, offset)
  out.set(block.bytes, offset + cid.length)
  return offset + cid.length + block.bytes.length
}

/** A whole CAR in memory, for small answers (event bodies, record proofs, getBlocks). */
export function carFile(root: CarCid | null, blocks: Iterable<CarBlock>): Uint8Array {
  const parts = [carHeader(root)]
  for (const block of blocks) parts.push(...blockFrame(block))
  return Buffer.concat(parts)
}
