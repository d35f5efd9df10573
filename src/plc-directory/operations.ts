// Accepting a submitted PLC operation: the checks of @did-plc/server's `validateAndAddOp`, then one atomic write.
import * as plc from '@did-plc/lib'
import type { PlcOpStore, StoredOp } from './store.ts'

/** A refusal with an HTTP status; the router answers `{message}` like the reference directory. */
export class PlcDirectoryError extends Error {
  readonly status: number

  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

export async function validateAndAddOp(store: PlcOpStore, did: string, body: unknown): Promise<void> {
  // Same schema gate as the reference server: current-format ops and tombstones only, no legacy `create` ops.
  if (!plc.def.opOrTombstone.safeParse(body).success) {
    throw new PlcDirectoryError(400, `Not a valid operation: ${JSON.stringify(body)}`)
  }
  // The body itself (not a parsed copy) is what gets stored and hashed: the signature covers any extra fields too.
  const proposed = body as plc.OpOrTombstone
  const head = store.headSeq(did)
  const ops = await Promise.all(store.opsForDid(did).map(toIndexed))
  const { nullified } = await checkNextOp(did, ops, proposed)
  const written = store.append(
    { did, operation: proposed, cid: (await cidOf(proposed)).toString(), createdAt: new Date().toISOString() },
    nullified.map((cid) => cid.toString()),
    head,
  )
  if (!written) {
    throw new PlcDirectoryError(409, 'Proposed prev does not match the most recent operation')
  }
}

async function checkNextOp(did: string, ops: plc.IndexedOperation[], proposed: plc.OpOrTombstone) {
  let result: Awaited<ReturnType<typeof plc.assureValidNextOp>>
  try {
    result = await plc.assureValidNextOp(did, ops, proposed)
  } catch (err) {
    if (plc.PlcError.is(err)) throw err
    // The lib throws plain errors on some malformed input (a `sig` that is not base64url, a `prev` that is not a
    // CID); the reference server answers those with a 500, but they are the client's fault.
    throw new PlcDirectoryError(400, `Invalid operation: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (ops.length === 0) {
    // This version of the lib accepts any DID of 24 or more characters that prefixes the hash of the genesis op;
    // the did:plc spec, and later versions of the lib, allow exactly the 24-character form.
    const expected = await plc.didForCreateOp(proposed as plc.Operation)
    if (did !== expected) throw new plc.GenesisHashError(expected)
  }
  return result
}

/** The lib needs its own CID objects, so derive them from the stored op rather than parsing the stored text. */
async function cidOf(op: plc.CompatibleOpOrTombstone) {
  return (await plc.getLastOpWithCid([op])).cid
}

async function toIndexed(op: StoredOp): Promise<plc.IndexedOperation> {
  return {
    did: op.did,
    operation: op.operation,
    cid: await cidOf(op.operation),
    nullified: op.nullified,
    createdAt: new Date(op.createdAt),
  }
}
