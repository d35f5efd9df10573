// The caller's own records that the AppView has not seen yet, read from the record index and the block store.
// Follows the reference's RecordReader.getRecordsSinceRev (actor-store/record/reader.js).
import { ipldToLex, lexToJson, type Lexicons } from '@atproto/lexicon'
import type { RecordIndex } from '../repo/record-index.ts'
import type { RepoService } from '../repo/repo-service.ts'
import type { JsonObject, LocalRecord, LocalRecords } from './types.ts'

export const POST_COLLECTION = 'app.bsky.feed.post'
export const PROFILE_COLLECTION = 'app.bsky.actor.profile'

/**
 * Records read per rewrite, of any collection (the reference's limit): what bounds the work, and why ten likes made
 * after the AppView's rev hide a post made after them, as in the reference.
 */
export const MAX_LOCAL_RECORDS = 10

/** The record index and block store, as far as read-after-write reads them. */
export type LocalRecordSource = {
  records: Pick<RecordIndex, 'sinceRev' | 'hasAtOrBeforeRev'>
  repo: Pick<RepoService, 'readValues' | 'readRecord'>
}

/**
 * The first MAX_LOCAL_RECORDS records of `did` written after `rev`, oldest first, sorted into its profile and posts.
 * Nothing when no record is at or before `rev` either: a rev older than the whole repo (an account that migrated
 * here, a bogus header) says nothing about what the AppView has, as the reference reasons.
 */
export function readRecordsSinceRev(src: LocalRecordSource, lexicons: Lexicons, did: string, rev: string): LocalRecords {
  const result: LocalRecords = { count: 0, profile: null, posts: [] }
  const rows = src.records.sinceRev(did, rev, MAX_LOCAL_RECORDS)
  if (rows.length === 0 || !src.records.hasAtOrBeforeRev(did, rev)) return result
  const values = src.repo.readValues(did, rows)
  rows.forEach((row, i) => {
    result.count++
    const isProfile = row.collection === PROFILE_COLLECTION && row.rkey === 'self'
    if (!isProfile && row.collection !== POST_COLLECTION) return
    const record = validRecordJson(lexicons, row.collection, values[i].value)
    if (!record) return
    const local: LocalRecord = { uri: row.uri, cid: row.cid, indexedAt: row.indexed_at, record }
    if (isProfile) result.profile = local
    else result.posts.push(local)
  })
  return result
}

/** Whether readRecordsSinceRev would find anything: two indexed lookups, no record read. */
export function hasRecordsSinceRev(src: LocalRecordSource, did: string, rev: string): boolean {
  return src.records.sinceRev(did, rev, 1).length > 0 && src.records.hasAtOrBeforeRev(did, rev)
}

/** The account's current profile record as lexicon JSON; null when it has none or it fails its lexicon. */
export function readProfileRecord(src: LocalRecordSource, lexicons: Lexicons, did: string): JsonObject | null {
  const row = src.repo.readRecord(did, PROFILE_COLLECTION, 'self')
  return row ? validRecordJson(lexicons, PROFILE_COLLECTION, row.value) : null
}

/**
 * A stored (IPLD) record as lexicon JSON, or null when it fails `collection`'s lexicon. Records written with
 * `validate: false` can be anything; the AppView does not index such records, and views built from them would not
 * be lexicon-valid, so they are left out (the reference would fail the whole rewrite on some of them).
 */
function validRecordJson(lexicons: Lexicons, collection: string, ipld: unknown): JsonObject | null {
  const lex = ipldToLex(ipld as never)
  try {
    lexicons.assertValidRecord(collection, lex)
  } catch {
    return null
  }
  return lexToJson(lex) as JsonObject
}
