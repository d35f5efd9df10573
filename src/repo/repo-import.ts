// Replacing a repo with one brought as a CAR (com.atproto.repo.importRepo: an account migrating here from its old PDS).
// As the reference (@atproto/pds api/com/atproto/repo/importRepo.js) it indexes every record and the blobs they use
// and sequences nothing (the account is announced when it is activated); unlike it, it also verifies what it stores:
//
//   1. stream: the CAR is read as it arrives, each block checked against its CID and staged in the database
//      (src/repo/import-staging.ts), so memory stays flat whatever the size;
//   2. verify: one root, a commit for this DID signed by the DID document's current atproto key (the reference checks
//      neither), then the tree walked from it in chunks (the event loop breathes between them): every MST node and
//      record present and DAG-CBOR, keys valid and in order, each record a map, its blob refs collected;
//   3. swap: ONE transaction drops the repo's blocks, records and blob links and moves the import's in, with the
//      commit as the new root (its own rev, where the reference stamps a fresh one on the root row).
//
// A failure anywhere leaves the repo as it was and the staged rows are deleted. Progress goes to the log.
import { EventEmitter } from 'node:events'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { enumBlobRefs, type LexValue } from '@atproto/lex-data'
import { isValidNsid, isValidRecordKey } from '@atproto/syntax'
import { decode as cborDecode, code as DAG_CBOR } from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { InvalidRequestError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { CarFormatError, CarReader } from '../protocol/car-reader.ts'
import { decodeSignedCommit, isSignedBy, type SignedCommit } from '../protocol/commit.ts'
import { MalformedRepoError, walkTree } from '../protocol/mst-walk.ts'
import type { ImportStaging } from './import-staging.ts'

/** Blocks staged per transaction while the CAR streams in. */
const STAGE_BATCH = 1000
/** Tree blocks verified per transaction (and per turn of the event loop). */
const WALK_BATCH = 2000
/** A progress line at most this often (ms). */
const PROGRESS_EVERY_MS = 5000
/**
 * The largest block accepted. Records are capped far below this by every PDS's request limit (150 KiB in the
 * reference) and MST nodes are small; this only stops a CAR from making us buffer an arbitrary length.
 */
export const MAX_IMPORT_BLOCK_BYTES = 2 * 1024 * 1024

export type ImportedRepo = {
  commit: CID
  rev: string
  /** Blocks under the commit (what the repo now stores). */
  blocks: number
  records: number
  /** Distinct blobs the records use (checkAccountStatus's expectedBlobs). */
  blobs: number
  /** CAR bytes read. */
  bytes: number
}

export type RepoImportArgs = {
  did: string
  car: AsyncIterable<Uint8Array>
  /** The DID document's current atproto signing key (did:key): the commit must be signed with it. */
  signingKey: string
  log: Logger
}

/** 'end' of every import, verified or refused, once its staged rows are gone: for tests and metrics. */
export const repoImports = new EventEmitter<{ end: [info: { did: string; ok: boolean; error?: Error }] }>()

/** A record block a record key needs, or a node, is not in the CAR. */
class MissingBlockError extends Error {}

/**
 * Stream, verify and stage `car` (steps 1 and 2 above), then call `swap(id, imported)` for step 3; the staged rows are
 * deleted afterwards in any case. Throws InvalidRequestError (400) for anything wrong with the CAR; errors of the
 * source (a client that hung up) pass through.
 */
export async function importRepoCar(
  staging: ImportStaging,
  args: RepoImportArgs,
  swap: (importId: string, imported: ImportedRepo) => void,
): Promise<ImportedRepo> {
  const { did, log } = args
  const id = staging.newImport()
  const started = Date.now()
  const progress = throttle(PROGRESS_EVERY_MS)
  log.info({ did }, 'repo import: receiving the CAR')
  let failure: Error | undefined
  try {
    const reader = new CarReader(args.car, { maxBlockBytes: MAX_IMPORT_BLOCK_BYTES })
    const root = await stageCar(staging, id, reader, (blocks) => {
      if (progress()) log.info({ did, blocks, bytes: reader.bytesRead }, 'repo import: receiving the CAR')
    })
    const commit = await verifyCommit(staging, id, did, root, args.signingKey)
    const found = await walkAndIndex(staging, id, did, commit.data, (blocks, records) => {
      if (progress()) log.info({ did, blocks, records }, 'repo import: verifying the tree')
    })
    staging.markReachable(id, root)
    const imported: ImportedRepo = {
      commit: root,
      rev: commit.rev,
      blocks: staging.reachableBlocks(id),
      records: found.records,
      blobs: found.blobs,
      bytes: reader.bytesRead,
    }
    swap(id, imported)
    log.info({ did, ...imported, commit: root.toString(), ms: Date.now() - started }, 'repo import: done')
    return imported
  } catch (err) {
    failure = err as Error
    throw asImportError(err)
  } finally {
    staging.discard(id)
    repoImports.emit('end', { did, ok: !failure, error: failure })
  }
}

/** Stage every block of the CAR; returns its one root. */
async function stageCar(
  staging: ImportStaging,
  id: string,
  reader: CarReader,
  onProgress: (blocks: number) => void,
): Promise<CID> {
  const roots = await reader.roots()
  if (roots.length !== 1) throw new InvalidRequestError('expected one root')
  let batch: { cid: CID; bytes: Uint8Array }[] = []
  let staged = 0
  const flush = () => {
    const blocks = batch
    staging.batch(() => blocks.forEach((b) => staging.putBlock(id, b.cid, b.bytes)))
    staged += blocks.length
    batch = []
    onProgress(staged)
  }
  for await (const block of reader.blocks()) {
    batch.push(block)
    if (batch.length >= STAGE_BATCH) flush()
  }
  flush()
  return roots[0]
}

/** The root block as a signed commit of `did` whose signature verifies with `signingKey`. */
async function verifyCommit(
  staging: ImportStaging,
  id: string,
  did: string,
  root: CID,
  signingKey: string,
): Promise<SignedCommit> {
  if (root.code !== DAG_CBOR) throw new InvalidRequestError('The CAR root is not a DAG-CBOR block (a commit)')
  const bytes = staging.getBlock(id, root)
  if (!bytes) throw new InvalidRequestError(`The CAR lacks its root block ${root.toString()} (the commit)`)
  const commit = decodeSignedCommit(bytes)
  if (commit.did !== did) throw new InvalidRequestError(`Invalid repo did: the CAR is the repo of ${commit.did}, not ${did}`)
  if (!(await isSignedBy(commit, signingKey))) {
    throw new InvalidRequestError(
      `Invalid signature on commit ${root.toString()}: not signed by the atproto key of ${did}'s DID document`,
    )
  }
  return commit
}

/**
 * Walk the tree under `data`, marking every block it reaches and staging each record (key checked, body a DAG-CBOR
 * map) with the blobs it references. Counts of records and distinct blobs.
 */
async function walkAndIndex(
  staging: ImportStaging,
  id: string,
  did: string,
  data: CID,
  onProgress: (blocks: number, records: number) => void,
): Promise<{ records: number; blobs: number }> {
  const blobs = new Set<string>()
  const get = (cid: CID): Uint8Array => {
    if (cid.code !== DAG_CBOR) throw new InvalidRequestError(`Block ${cid.toString()} of the tree is not DAG-CBOR`)
    const bytes = staging.getBlock(id, cid)
    if (!bytes) throw new MissingBlockError(`The CAR is missing block ${cid.toString()} of the repo tree`)
    return bytes
  }
  const tree = walkTree(get, data)
  let blocks = 0
  let records = 0
  for (let done = false; !done; ) {
    staging.batch(() => {
      for (let i = 0; i < WALK_BATCH; i++) {
        const next = tree.next()
        if (next.done) {
          done = true
          return
        }
        const { cid, bytes, key } = next.value
        staging.markReachable(id, cid)
        blocks += 1
        if (key === undefined) continue
        const { collection, rkey, refs } = parseRecord(key, bytes)
        staging.putRecord(id, collection, rkey, cid)
        const uri = `at://${did}/${collection}/${rkey}`
        for (const ref of refs) {
          staging.putBlobRef(id, ref, uri)
          blobs.add(ref)
        }
        records += 1
      }
    })
    onProgress(blocks, records)
    // Let other requests in between chunks: a large repo takes seconds to walk.
    if (!done) await nextTurn()
  }
  return { records, blobs: blobs.size }
}

/** A record's path and the CIDs of the blobs it references (typed and legacy refs, as the reference indexes them). */
function parseRecord(key: string, bytes: Uint8Array): { collection: string; rkey: string; refs: string[] } {
  const parts = key.split('/')
  if (parts.length !== 2 || !isValidNsid(parts[0]) || !isValidRecordKey(parts[1])) {
    throw new InvalidRequestError(`Invalid record path in the repo: '${key}'`)
  }
  const [collection, rkey] = parts
  let record: unknown
  try {
    record = cborDecode(bytes)
  } catch {
    record = undefined
  }
  const isMap =
    record !== null && typeof record === 'object' && !Array.isArray(record) && !(record instanceof Uint8Array) && !CID.asCID(record)
  if (!isMap) {
    throw new InvalidRequestError(`Could not parse record at '${collection}/${rkey}'`)
  }
  const refs = [...enumBlobRefs(record as LexValue, { allowLegacy: true })].map((ref) =>
    'ref' in ref ? ref.ref.toString() : ref.cid,
  )
  return { collection, rkey, refs }
}

/** A CAR's faults as the client's 400; anything else as it is. */
function asImportError(err: unknown): unknown {
  if (err instanceof CarFormatError || err instanceof MissingBlockError) return new InvalidRequestError(err.message)
  if (err instanceof MalformedRepoError) return new InvalidRequestError(`The repo is invalid: ${err.message}`)
  return err
}

/** A function that answers true at most once per `ms`. */
function throttle(ms: number): () => boolean {
  let last = Date.now()
  return () => {
    const now = Date.now()
    if (now - last < ms) return false
    last = now
    return true
  }
}
