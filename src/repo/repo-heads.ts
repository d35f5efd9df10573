// The last commit of recently written repos, kept in memory with the parts of its tree that writes have loaded, so a
// repo's next write starts from it: every commit rewrites the root-to-leaf path, and reading that path back (SQLite
// point reads, CBOR decoding, schema checks) was a tenth of a write's CPU time (`npm run bench:profile`).
//
// Valid only for the root it was taken at: `get` compares with the root the caller has just read under the repo
// lock, so anything that moves a root another way (an import, a re-signed head, a deletion) just makes it miss.
// Memory: a tree keeps every node its writes created or loaded, about 1.6 KiB per record written (measured: 99
// applyWrites of 200 creates left a 32 MiB head), so a head is dropped after RELOAD_AFTER commits or
// RELOAD_AFTER_WRITES record writes, whichever comes first (the next write loads the root afresh), and at most
// MAX_HEADS repos are kept, least recently written first out: under a megabyte per head, whatever the batch sizes.
import type { Cid } from '@atproto/lex-data'
import type { Repo } from '@atproto/repo'

const MAX_HEADS = 32
const RELOAD_AFTER = 100
const RELOAD_AFTER_WRITES = 500

export class RepoHeads {
  private readonly heads = new Map<string, { repo: Repo; commits: number; writes: number }>()

  /** The repo as its last commit left it, if that commit is `root` (else undefined: load it from storage). */
  get(did: string, root: Cid): Repo | undefined {
    const head = this.heads.get(did)
    if (!head) return undefined
    if (!head.repo.cid.equals(root)) {
      this.heads.delete(did)
      return undefined
    }
    return head.repo
  }

  /** Keep `next` (the repo after a commit of `writes` record writes that is now durable) for the repo's next write. */
  set(did: string, next: Repo, writes: number): void {
    const before = this.heads.get(did)
    const commits = (before?.commits ?? 0) + 1
    const total = (before?.writes ?? 0) + writes
    // Re-inserted last: Map order makes the first entry the least recently written.
    this.heads.delete(did)
    if (commits >= RELOAD_AFTER || total >= RELOAD_AFTER_WRITES) return
    this.heads.set(did, { repo: next, commits, writes: total })
    if (this.heads.size > MAX_HEADS) this.heads.delete(this.heads.keys().next().value!)
  }

  /** Forget a repo (its blocks were replaced or deleted). */
  drop(did: string): void {
    this.heads.delete(did)
  }

  get size(): number {
    return this.heads.size
  }
}
