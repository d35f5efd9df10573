// did:plc operations signed with the PDS rotation key through @did-plc/lib, submitted to the configured directory
// (external, or the embedded one under /plc): the genesis operation at signup, handle updates later, and the
// operations an account's owner asks us to sign or submit (signPlcOperation, submitPlcOperation). A refused or
// unreachable directory changes nothing, and callers write their side only once it has accepted.
import type * as PlcLib from '@did-plc/lib'
import type { Keypair } from '@atproto/crypto'
import { InvalidRequestError, UpstreamFailureError, type PdsError } from '../errors.ts'
import { withTimeout } from '../util/net.ts'

export type GenesisOp = { did: string; op: PlcLib.Operation }

/** Fields of a DID's data an update replaces (signPlcOperation's input); absent ones are kept. */
export type PlcOpChanges = {
  rotationKeys?: string[]
  alsoKnownAs?: string[]
  verificationMethods?: Record<string, string>
  services?: Record<string, { type: string; endpoint: string }>
}

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

  /** This PDS's rotation key, as a did:key: what getRecommendedDidCredentials recommends and submitted ops must keep. */
  rotationKeyDid(): string {
    return this.rotationKey.did()
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
    const op = await plc.updateHandleOp(await this.lastLiveOp(client, did), this.signer(plc), handle)
    await this.send(client, did, op)
  }

  /**
   * A new operation for `did`, signed with our rotation key and not submitted (signPlcOperation): the directory's
   * last operation (a legacy create op normalised) with each field given in `changes` replaced whole, the others kept,
   * `prev` its CID — the reference's plc.createUpdateOp call. Errors as updateHandle's: InvalidRequest for a DID the
   * directory does not know or has tombstoned, UpstreamFailure when it is down.
   */
  async signUpdate(did: string, changes: PlcOpChanges): Promise<PlcLib.Operation> {
    const plc = await loadPlcLib()
    const last = await this.lastLiveOp(new plc.Client(this.url), did)
    return plc.createUpdateOp(last, this.signer(plc), (prev) => ({
      ...prev,
      rotationKeys: changes.rotationKeys ?? prev.rotationKeys,
      alsoKnownAs: changes.alsoKnownAs ?? prev.alsoKnownAs,
      verificationMethods: changes.verificationMethods ?? prev.verificationMethods,
      services: changes.services ?? prev.services,
    }))
  }

  /**
   * Submit an operation someone else built and signed (submitPlcOperation). The directory checks its signature
   * against the DID's rotation keys and its `prev`; a refusal → 400 InvalidRequest with the directory's message,
   * down or 5xx → 502 UpstreamFailure (the reference's errorParser).
   */
  async submitOperation(did: string, op: PlcLib.Operation): Promise<void> {
    const plc = await loadPlcLib()
    await this.send(new plc.Client(this.url), did, op)
  }

  /** Whether `op` has the shape of a signed plc_operation (@did-plc/lib's own schema, as the reference checks it). */
  static async isOperation(op: unknown): Promise<boolean> {
    const plc = await loadPlcLib()
    return plc.def.operation.safeParse(op).success
  }

  /** The directory's last operation for `did`, unless it is a tombstone. */
  private async lastLiveOp(client: PlcLib.Client, did: string): Promise<PlcLib.CompatibleOp> {
    let last: PlcLib.CompatibleOpOrTombstone
    try {
      last = await withTimeout(client.getLastOp(did), PLC_TIMEOUT_MS)
    } catch (err) {
      throw this.failure(err, refusedAsInvalid)
    }
    if (last.type === 'plc_tombstone') throw new InvalidRequestError(`DID is tombstoned: ${did}`)
    return last
  }

  private async send(client: PlcLib.Client, did: string, op: PlcLib.Operation): Promise<void> {
    try {
      await withTimeout(client.sendOperation(did, op), PLC_TIMEOUT_MS)
    } catch (err) {
      throw this.failure(err, refusedAsInvalid)
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

/** The directory's refusal as the reference reports it: 400 InvalidRequest with the directory's message. */
const refusedAsInvalid = (detail: string) => new InvalidRequestError(detail)

function describePlcError(err: unknown): string {
  const e = err as { message?: string; data?: { message?: string }; code?: string }
  return e.data?.message ?? e.code ?? e.message ?? String(err)
}
