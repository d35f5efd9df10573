// Handles taken by requests still in flight. A signup holds its handle from its checks until its account row is
// written, a handle change from its checks until its transaction: both spend a PLC round trip in between, and two
// requests for one handle must not both register it with the directory. The database's UNIQUE constraint is the last
// word; this makes the loser fail before it has touched the directory.
import { InvalidRequestError } from '../errors.ts'
import type { AccountStore } from './account-store.ts'

export class HandleClaims {
  private readonly store: AccountStore
  private readonly pending = new Set<string>()

  constructor(store: AccountStore) {
    this.store = store
  }

  /** Throws HandleNotAvailable (400, the reference's answer) when an account holds `handle` or a request claimed it. */
  assertFree(handle: string): void {
    if (this.store.byHandle(handle) || this.pending.has(handle)) {
      throw new InvalidRequestError(`Handle already taken: ${handle}`, 'HandleNotAvailable')
    }
  }

  /**
   * Claim a lower-case `handle` until the returned function is called. Call assertFree first, in the same synchronous
   * step, so that nothing else claims it in between.
   */
  hold(handle: string): () => void {
    this.pending.add(handle)
    return () => this.pending.delete(handle)
  }
}
