// Turn XRPC write inputs into prepared writes: syntax checks, $type, lexicon validation, record CID and blob refs.
// Everything here runs before the repo lock is taken, and throws 400s; nothing is written.
import type { Lexicons } from '@atproto/lexicon'
import { TID } from '@atproto/common-web'
import { encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor, type Cid } from '@atproto/lex-data'
import { BlobRef, jsonToLex, lexToIpld, ValidationError } from '@atproto/lexicon'
import { isValidNsid, isValidRecordKey, isValidTid } from '@atproto/syntax'
import { CID } from 'multiformats/cid'
import { findBlobConstraints, type BlobConstraints } from '../blob/blob-constraints.ts'
import { InvalidRequestError } from '../errors.ts'

// The published com.atproto.* and app.bsky.* schemas. @atproto/api is the heaviest import we have (~0.4 s), so it is
// loaded on the first write rather than at startup.
let lexiconsPromise: Promise<Lexicons> | undefined
export function loadLexicons(): Promise<Lexicons> {
  lexiconsPromise ??= import('@atproto/api').then((api) => api.lexicons as unknown as Lexicons)
  return lexiconsPromise
}

/** Largest record, DAG-CBOR encoded: what a relay accepts in a #commit. */
export const MAX_RECORD_BYTES = 1_000_000

/** A blob ref in a record; `constraints` come from its lexicon field, for records validated against a known lexicon. */
export type BlobUse = { cid: Cid; mimeType: string; size: number; constraints?: BlobConstraints }

type WriteBase = { uri: string; collection: string; rkey: string }
export type PreparedCreate = WriteBase & {
  action: 'create'
  record: Record<string, unknown>
  cid: Cid
  /** The record's DAG-CBOR block, as stored (encoded once, here). */
  bytes: Uint8Array
  blobs: BlobUse[]
  validationStatus?: 'valid' | 'unknown'
}
export type PreparedUpdate = Omit<PreparedCreate, 'action'> & {
  action: 'update'
  /** putRecord: create the record when it is absent. Otherwise (applyWrites#update) it must exist, as in the reference. */
  upsert?: boolean
  /** undefined: no check; null: the record must not exist yet; a CID: it must be exactly this. */
  swapCid?: Cid | null
}
export type PreparedDelete = WriteBase & { action: 'delete'; swapCid?: Cid | null }
export type PreparedWrite = PreparedCreate | PreparedUpdate | PreparedDelete

export function atUri(did: string, collection: string, rkey: string): string {
  return `at://${did}/${collection}/${rkey}`
}

export function parseCidParam(value: string, name: string): Cid {
  try {
    return CID.parse(value)
  } catch {
    throw new InvalidRequestError(`${name} is not a valid CID: ${value}`)
  }
}

function checkCollection(collection: string): void {
  if (!isValidNsid(collection)) throw new InvalidRequestError(`Invalid collection NSID: ${collection}`)
}

async function checkRkey(collection: string, rkey: string, validating: boolean): Promise<void> {
  if (!isValidRecordKey(rkey)) throw new InvalidRequestError(`Invalid record key: ${rkey}`)
  if (!validating) return
  const lexicons = await loadLexicons()
  // The lexicon's key type, when we know the lexicon: tid, nsid, literal:<value> or any.
  const key = (lexicons.getDef(collection) as { key?: string } | undefined)?.key
  if (key === 'tid' && !isValidTid(rkey)) throw new InvalidRequestError(`Record key must be a TID for ${collection}`)
  if (key === 'nsid' && !isValidNsid(rkey)) throw new InvalidRequestError(`Record key must be an NSID for ${collection}`)
  if (key?.startsWith('literal:') && rkey !== key.slice('literal:'.length)) {
    throw new InvalidRequestError(`Record key must be "${key.slice('literal:'.length)}" for ${collection}`)
  }
}

/**
 * Validate a JSON record (lexicon JSON: $link, $bytes, blob objects) and turn it into the IPLD value that is stored.
 * `validate`: true = must match a known lexicon; false = skip; undefined = validate when the lexicon is known.
 */
async function prepareRecord(collection: string, json: unknown, validate: boolean | undefined) {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidRequestError('Record must be an object')
  }
  const withType = { ...(json as Record<string, unknown>) }
  if (withType.$type === undefined) withType.$type = collection
  if (withType.$type !== collection) {
    throw new InvalidRequestError(`Invalid $type: expected ${collection}, got ${String(withType.$type)}`)
  }
  const lex = parseLexJson(withType)

  let validationStatus: 'valid' | 'unknown' | undefined
  let constraints: Map<BlobRef, BlobConstraints> | undefined
  if (validate !== false) {
    const lexicons = await loadLexicons()
    const known = lexicons.getDef(collection) !== undefined
    if (!known && validate === true) throw new InvalidRequestError(`Lexicon not found: lex:${collection}`)
    if (known) {
      try {
        lexicons.assertValidRecord(collection, lex)
      } catch (err) {
        if (err instanceof ValidationError) throw new InvalidRequestError(`Invalid ${collection} record: ${err.message}`)
        throw err
      }
      validationStatus = 'valid'
      constraints = findBlobConstraints(lexicons, collection, lex)
    } else {
      validationStatus = 'unknown'
    }
  }

  const blobs: BlobUse[] = []
  collectBlobs(lex, blobs, constraints)
  const { value: record, bytes, cid } = await encodeLex(lex)
  if (bytes.length > MAX_RECORD_BYTES) {
    throw new InvalidRequestError(`Record is too large: ${bytes.length} bytes (at most ${MAX_RECORD_BYTES})`)
  }
  return { record, cid, bytes, blobs, validationStatus }
}

/** Lexicon JSON ($link, $bytes, blob objects) → lex values; malformed special objects are a 400. */
function parseLexJson(json: unknown): unknown {
  checkSpecialObjects(json)
  try {
    return jsonToLex(json)
  } catch (err) {
    throw new InvalidRequestError(`Invalid record: ${(err as Error).message}`)
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * The data model's JSON form reserves `$link` and `$bytes`: an object with either key must be exactly
 * `{"$link": "<CID>"}` or `{"$bytes": "<base64>"}`; and `{"$type": "blob"}` must be a whole blob ref (a `$link`
 * ref, a string mimeType, a non-negative integer size). Atproto data model spec; the interop "invalid" vectors.
 * jsonToLex would otherwise keep a malformed one as an ordinary map, stored as something it is not.
 */
function checkSpecialObjects(value: unknown): void {
  if (Array.isArray(value)) {
    for (const v of value) checkSpecialObjects(v)
    return
  }
  if (!value || typeof value !== 'object') return
  const obj = value as Record<string, unknown>
  if ('$link' in obj || '$bytes' in obj) {
    const [key, ...rest] = Object.keys(obj)
    const v = obj[key]
    const ok =
      rest.length === 0 &&
      typeof v === 'string' &&
      (key === '$link' ? CID.asCID(safeCid(v)) !== null : BASE64.test(v))
    if (!ok) throw new InvalidRequestError(`Invalid record: malformed ${key === '$bytes' ? '$bytes' : '$link'} object`)
    return
  }
  if (obj.$type === 'blob') {
    const { ref, mimeType, size } = obj
    const ok =
      typeof mimeType === 'string' &&
      Number.isSafeInteger(size) &&
      (size as number) >= 0 &&
      !!ref &&
      typeof ref === 'object' &&
      typeof (ref as Record<string, unknown>).$link === 'string'
    if (!ok) throw new InvalidRequestError('Invalid record: malformed blob ref (needs ref, mimeType and size)')
  }
  for (const v of Object.values(obj)) checkSpecialObjects(v)
}

function safeCid(s: string): CID | null {
  try {
    return CID.parse(s)
  } catch {
    return null
  }
}

/** Lex value → the stored IPLD value, its DAG-CBOR bytes and CID. Values outside the data model are a 400. */
async function encodeLex(lex: unknown): Promise<{ value: Record<string, unknown>; bytes: Uint8Array; cid: Cid }> {
  const value = lexToIpld(lex as never) as Record<string, unknown>
  let bytes: Uint8Array
  try {
    bytes = cborEncode(value as never)
  } catch (err) {
    // Floats, undefined and other values outside the AT data model.
    throw new InvalidRequestError(`Invalid record: ${(err as Error).message}`)
  }
  return { value, bytes, cid: await cidForCbor(bytes) }
}

/** The stored form of a JSON value, exactly as a record write would store it (for data-model vectors). */
export function encodeRecordJson(json: unknown): Promise<{ bytes: Uint8Array; cid: Cid }> {
  return encodeLex(parseLexJson(json))
}

/** Every blob ref anywhere in the value (unknown fields too), with its lexicon field's constraints when it has one. */
function collectBlobs(value: unknown, out: BlobUse[], constraints: Map<BlobRef, BlobConstraints> | undefined): void {
  if (value instanceof BlobRef) {
    out.push({ cid: value.ref, mimeType: value.mimeType, size: value.size, constraints: constraints?.get(value) })
  } else if (Array.isArray(value)) {
    for (const v of value) collectBlobs(v, out, constraints)
  } else if (value && typeof value === 'object' && !(value instanceof Uint8Array) && !CID.asCID(value)) {
    for (const v of Object.values(value)) collectBlobs(v, out, constraints)
  }
}

export async function prepareCreate(opts: {
  did: string
  collection: string
  rkey?: string
  record: unknown
  validate?: boolean
}): Promise<PreparedCreate> {
  checkCollection(opts.collection)
  const rkey = opts.rkey ?? TID.nextStr()
  await checkRkey(opts.collection, rkey, opts.validate !== false)
  const prepared = await prepareRecord(opts.collection, opts.record, opts.validate)
  return { action: 'create', uri: atUri(opts.did, opts.collection, rkey), collection: opts.collection, rkey, ...prepared }
}

export async function prepareUpdate(opts: {
  did: string
  collection: string
  rkey: string
  record: unknown
  validate?: boolean
  swapRecord?: string | null
  upsert?: boolean
}): Promise<PreparedUpdate> {
  checkCollection(opts.collection)
  await checkRkey(opts.collection, opts.rkey, opts.validate !== false)
  const swapCid = swapOf(opts.swapRecord)
  const prepared = await prepareRecord(opts.collection, opts.record, opts.validate)
  return {
    action: 'update',
    uri: atUri(opts.did, opts.collection, opts.rkey),
    collection: opts.collection,
    rkey: opts.rkey,
    swapCid,
    upsert: opts.upsert,
    ...prepared,
  }
}

export function prepareDelete(opts: {
  did: string
  collection: string
  rkey: string
  swapRecord?: string | null
}): PreparedDelete {
  checkCollection(opts.collection)
  if (!isValidRecordKey(opts.rkey)) throw new InvalidRequestError(`Invalid record key: ${opts.rkey}`)
  return {
    action: 'delete',
    uri: atUri(opts.did, opts.collection, opts.rkey),
    collection: opts.collection,
    rkey: opts.rkey,
    swapCid: swapOf(opts.swapRecord),
  }
}

function swapOf(swapRecord: string | null | undefined): Cid | null | undefined {
  if (swapRecord === undefined || swapRecord === null) return swapRecord
  return parseCidParam(swapRecord, 'swapRecord')
}
