// Shapes shared by the read-after-write modules, and the interface the proxy calls them through.
import type { LocalViewer } from './local-viewer.ts'

/** What the proxy asks of read-after-write: its hook, defined there. `rewrite` and `rewriteError` never throw. */
export type { ResponseRewriter, RewrittenAnswer } from '../proxy/rewriter.ts'

/** A lexicon JSON object (the JSON form: blobs as `{ $type: 'blob', ref: { $link } }`, CIDs as `{ $link }`). */
export type JsonObject = { [key: string]: unknown }

/** One of the caller's own records, newer than the AppView's copy of the repo (the reference's RecordDescript). */
export type LocalRecord = {
  uri: string
  cid: string
  /** When this PDS last wrote it: ISO 8601, UTC, ms. Compared as strings with the AppView's `indexedAt`. */
  indexedAt: string
  /** The record as lexicon JSON, already checked against its lexicon. */
  record: JsonObject
}

/**
 * The caller's records written after a rev (the reference's LocalRecords). `count` counts every record read (likes,
 * follows, … and records that failed their lexicon), `profile` and `posts` only the valid ones; posts oldest first.
 */
export type LocalRecords = {
  count: number
  profile: LocalRecord | null
  posts: LocalRecord[]
}

/**
 * One method's rewrite (the reference's MungeFn): `original` is the AppView's answer, already checked against the
 * method's output lexicon; the result is the answer to send. Never mutates `original` (copies what it changes); may
 * return `original` itself when there is nothing to change. `requester` is the caller's DID.
 */
export type Munge<T> = (viewer: LocalViewer, original: T, local: LocalRecords, requester: string) => Promise<T>
