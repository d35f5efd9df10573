// @atproto/repo's BlockMap keys its blocks by CID string and parses every key back into a CID whenever it is
// iterated (addMap, for…of, keys): on the write path, where a commit's new blocks and proofs are merged and walked a
// few times, those parses were a tenth of an applyWrites batch's CPU time (`npm run bench:profile`). This BlockMap
// also keeps the CID objects it was given, in the same order, and iterates those.
import type { Cid } from '@atproto/lex-data'
import { BlockMap } from '@atproto/repo'

export class CidBlockMap extends BlockMap {
  private readonly cidOf = new Map<string, Cid>()

  constructor(entries?: Iterable<readonly [cid: Cid, bytes: Uint8Array]>) {
    super() // not with the entries: BlockMap's constructor would call set() before cidOf exists
    if (entries) for (const [cid, bytes] of entries) this.set(cid, bytes)
  }

  override set(cid: Cid, bytes: Uint8Array): this {
    super.set(cid, bytes)
    const key = cid.toString()
    // Like the underlying Map: a key already present keeps its place.
    if (!this.cidOf.has(key)) this.cidOf.set(key, cid)
    return this
  }

  override addMap(toAdd: BlockMap): this {
    super.addMap(toAdd)
    return this
  }

  override delete(cid: Cid): this {
    super.delete(cid)
    this.cidOf.delete(cid.toString())
    return this
  }

  override clear(): void {
    super.clear()
    this.cidOf.clear()
  }

  override *keys(): Generator<Cid, void, unknown> {
    yield* this.cidOf.values()
  }

  override *[Symbol.iterator](): Generator<[Cid, Uint8Array], void, unknown> {
    for (const cid of this.cidOf.values()) yield [cid, this.get(cid)!]
  }
}
