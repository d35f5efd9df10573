// The `method` label of the XRPC request series. A label value is a time series kept for the life of the process, so
// a client must not be able to mint them by calling made-up method names: the route table's methods always get their
// own label; a forwarded method (app.bsky.*, chat.bsky.*, …) gets one once another service has answered it with a
// 2xx (so it exists), up to a fixed number of such names; everything else is counted under one label.

/** The label every method without its own label shares. */
export const OTHER_METHOD = 'other'

/** Forwarded methods given their own label at most (a reference AppView serves a few hundred). */
export const MAX_FORWARDED_LABELS = 300

const NSID_SHAPE = /^[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+){2,}$/

export class MethodLabels {
  private readonly own: ReadonlySet<string>
  private readonly admitted = new Set<string>()
  private readonly max: number

  /** `served`: the NSIDs this server serves itself (the route table), plus its own paths such as `_health`. */
  constructor(served: Iterable<string>, max = MAX_FORWARDED_LABELS) {
    this.own = new Set(served)
    this.max = max
  }

  /** The label for a request to /xrpc/`nsid` that was answered with `status`. */
  label(nsid: string, status: number): string {
    if (this.own.has(nsid) || this.admitted.has(nsid)) return nsid
    if (status >= 200 && status < 300 && this.admitted.size < this.max && nsid.length <= 128 && NSID_SHAPE.test(nsid)) {
      this.admitted.add(nsid)
      return nsid
    }
    return OTHER_METHOD
  }
}
