// did:plc operations signed with the PDS rotation key through @did-plc/lib, submitted to the configured directory
// (external, or the embedded one under /plc): the genesis operation at signup, handle updates later. A refused or
// unreachable directory changes nothing, and callers write their side only once it has accepted.
import type * as PlcLib from '@did-plc/lib'
import type { Keypair } from '@atproto/crypto'
import { InvalidRequestError, UpstreamFailureError, type PdsError } from '../errors.ts'
import { withTimeout } from '../util/net.ts'

export type GenesisOp = { did: string; op: PlcLib.Operation }

// @did-plc/lib (and its axios) load on the first signup, not at startup.
let lib: Promise<typeof PlcLib> | undefined
const loadPlcLib = () => (lib ??= import('@did-plc/lib'))

/** How long one directory request may take (the lib's axios has no timeout of its own). */
const PLC_TIMEOUT_MS = 15_000

export class PlcService {
  readonly url: string
  private readonly rotationKey: Keypair
  private readonly publicUrl: string

  constructor(plcUrl: string, rotationKey: Keypair, publicUrl: string) {
    this.url = plcUrl
    this.rotationKey = rotationKey
    this.publicUrl = publicUrl
  }

  /** Rotation keys: the user's recovery key first (it outranks ours), then the PDS's. */
  async createGenesisOp(opts: { signingKeyDid: string; handle: string; recoveryKey?: string }): Promise<GenesisOp> {
    const rotationKeys = [this.rotationKey.did()]
    if (opts.recoveryKey) rotationKeys.unshift(opts.recoveryKey)
    const plc = await loadPlcLib()
    return plc.createOp({
      signingKey: opts.signingKeyDid,
      handle: opts.handle,
      pds: this.publicUrl,
      rotationKeys,
      signer: this.signer(plc),
    })
  }

  async submit(did: string, op: PlcLib.Operation): Promise<void> {
    const plc = await loadPlcLib()
    try {
      await new plc.Client(this.url).sendOperation(did, op)
    } catch (err) {
      const refused = `PLC directory ${this.url} refused the operation`
      throw this.failure(err, (detail) => new InvalidRequestError(`${refused}: ${detail}`, 'IncompatibleDidDoc'))
    }
  }

  /**
   * Make `handle` the DID's handle: the directory's last operation with only its at:// alias replaced
   * (@did-plc/lib's updateHandleOp keeps every other field, other aliases included), signed with our rotation key and
   * submitted, as the reference's plcClient.updateHandle does. Errors as the reference's errorParser maps a
   * PlcClientError: a refusal (4xx: our key is no longer a rotation key, the DID is unknown or tombstoned) → 400
   * InvalidRequest with the directory's message; down, slow (15 s per request) or 5xx → 502 UpstreamFailure.
   */
  async updateHandle(did: string, handle: string): Promise<void> {
    const plc = await loadPlcLib()
    const client = new plc.Client(this.url)
    const refused = (detail: string) => new InvalidRequestError(detail)
    let last: PlcLib.CompatibleOpOrTombstone
    try {
      last = await withTimeout(client.getLastOp(did), PLC_TIMEOUT_MS)
    } catch (err) {
      throw this.failure(err, refused)
    }
    if (last.type === 'plc_tombstone') throw refused(`DID is tombstoned: ${did}`)
    const op = await plc.updateHandleOp(last, this.signer(plc), handle)
    try {
      await withTimeout(client.sendOperation(did, op), PLC_TIMEOUT_MS)
    } catch (err) {
      throw this.failure(err, refused)
    }
  }

  // @did-plc/lib is typed against an older @atproto/crypto; the Keypair interface it uses is unchanged.
  private signer(plc: typeof PlcLib) {
    return this.rotationKey as unknown as Parameters<typeof plc.updateHandleOp>[1]
  }

  /** A directory error: its refusal (4xx) as `refused(detail)`, anything else (down, timeout, 5xx) as UpstreamFailure. */
  private failure(err: unknown, refused: (detail: string) => PdsError): PdsError {
    const status = (err as { status?: number }).status
    const detail = describePlcError(err)
    if (status && status >= 400 && status < 500) return refused(detail)
    return new UpstreamFailureError(`PLC directory ${this.url} is unavailable: ${detail}`)
  }

  /**
   * Whether the directory's current data for `did` lists this PDS's rotation key (the reference's check before it
   * calls a did:plc valid for this service). UpstreamFailure if the directory cannot say.
   */
  async holdsOurRotationKey(did: string): Promise<boolean> {
    let data: { rotationKeys?: unknown }
    try {
      const res = await fetch(`${this.url}/${encodeURIComponent(did)}/data`, { signal: AbortSignal.timeout(10_000) })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      data = (await res.json()) as { rotationKeys?: unknown }
    } catch (err) {
      throw new UpstreamFailureError(`PLC directory ${this.url} could not give the data of ${did}: ${(err as Error).message}`)
    }
    return Array.isArray(data.rotationKeys) && data.rotationKeys.includes(this.rotationKey.did())
  }

  /** The DID document a genesis op produces, without a round trip to the directory. */
  static async didDocOf(did: string, op: PlcLib.Operation): Promise<PlcLib.DidDocument> {
    const plc = await loadPlcLib()
    const data = plc.opToData(did, op)
    if (!data) throw new Error('genesis op produced no document')
    return plc.formatDidDoc(data)
  }
}

function describePlcError(err: unknown): string {
  const e = err as { message?: string; data?: { message?: string }; code?: string }
  return e.data?.message ?? e.code ?? e.message ?? String(err)
}
