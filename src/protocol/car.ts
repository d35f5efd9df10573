// CAR v1 encoding, synchronous so it can run inside a SQLite transaction (event bodies) and inside a streamed
// export. A CAR is a varint-prefixed DAG-CBOR header `{roots, version: 1}` followed by varint-prefixed `cid ‖ bytes`.
import { encode as cborEncode } from '@ipld/dag-cbor'

/** Any CID object: multiformats' class and @atproto/lex-data's interface both carry the binary form in `bytes`. */
export type CarCid = { bytes: Uint8Array }
export type CarBlock = { cid: CarCid; bytes: Uint8Array }

export function varint(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return Uint8Array.from(out)
}

export function carHeader(root: CarCid | null): Uint8Array {
  const header = cborEncode({ version: 1, roots: root ? [root] : [] } as never)
  return Buffer.concat([varint(header.length), header])
}

export function blockFrame(block: CarBlock): Uint8Array[] {
  const cid = block.cid.bytes
  return [varint(cid.length + block.bytes.length), cid, block.bytes]
}

/** A whole CAR in memory, for small answers (event bodies, record proofs, getBlocks). */
export function carFile(root: CarCid | null, blocks: Iterable<CarBlock>): Uint8Array {
  const parts = [carHeader(root)]
  for (const block of blocks) parts.push(...blockFrame(block))
  return Buffer.concat(parts)
}
