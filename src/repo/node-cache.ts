// Decoded repo objects (MST nodes, commits) recently read by the write path, so that a commit does not read, CBOR-decode
// and schema-check the same top-of-tree nodes every previous commit of the repo already did (about a third of a
// sequential write's repo work, measured with `npm run bench:profile`). Blocks are content-addressed, so an entry can
// never go stale; it is keyed by repo as well as CID only so that a repo never sees a block it does not store (an
// import or a deletion drops the repo's entries). Bounded by the stored bytes of the blocks it holds; least recently
// used first out.

/** What @atproto/repo's `attemptRead` returns: the object as its schema parsed it, and the block's bytes. */
export type ParsedBlock = { obj: unknown; bytes: Uint8Array }

export class RepoNodeCache {
  /** Bytes of block content held at most (decoded objects take a few times more). */
  readonly maxBytes: number
  private readonly entries = new Map<string, ParsedBlock>()
  private bytes = 0

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes
  }

  /** `kind`: the schema the object was parsed with (@atproto/repo's def name), since the same bytes may be read as another. */
  get(did: string, cid: string, kind: string): ParsedBlock | undefined {
    const key = keyOf(did, cid, kind)
    const hit = this.entries.get(key)
    if (hit) {
      // Map keeps insertion order: moving a hit to the end makes the first entry the least recently used.
      this.entries.delete(key)
      this.entries.set(key, hit)
    }
    return hit
  }

  set(did: string, cid: string, kind: string, block: ParsedBlock): void {
    if (block.bytes.length > this.maxBytes) return
    const key = keyOf(did, cid, kind)
    const old = this.entries.get(key)
    if (old) {
      this.entries.delete(key)
      this.bytes -= old.bytes.length
    }
    this.entries.set(key, block)
    this.bytes += block.bytes.length
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break
      this.entries.delete(k)
      this.bytes -= v.bytes.length
    }
  }

  /** Forget a repo's entries (its blocks were replaced or deleted). O(entries), for rare events only. */
  dropRepo(did: string): void {
    const prefix = did + ' '
    for (const [k, v] of this.entries) {
      if (!k.startsWith(prefix)) continue
      this.entries.delete(k)
      this.bytes -= v.bytes.length
    }
  }

  /** Entries and block bytes held (tests, status). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes }
  }
}

// DIDs hold no spaces, so the repo is the key's prefix up to the first one.
function keyOf(did: string, cid: string, kind: string): string {
  return `${did} ${cid} ${kind}`
}
