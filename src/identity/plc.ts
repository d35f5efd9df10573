// did:plc at signup: the genesis operation is built and signed with @did-plc/lib and submitted to the configured
// directory (external, or the embedded one under /plc). A refused or unreachable directory creates nothing.
import type * as PlcLib from '@did-plc/lib'
import type { Keypair } from '@atproto/crypto'
import { InvalidRequestError, UpstreamFailureError } from '../errors.ts'

export type GenesisOp = { did: string; op: PlcLib.Operation }

// @did-plc/lib (and its axios) load on the first signup, not at startup.
let lib: Promise<typeof PlcLib> | undefined
const loadPlcLib = () => (lib ??= import('@did-plc/lib'))

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
      // @did-plc/lib is typed against an older @atproto/crypto; the Keypair interface it uses is unchanged.
      signer: this.rotationKey as unknown as Parameters<typeof PlcLib.createOp>[0]['signer'],
    })
  }

  async submit(did: string, op: PlcLib.Operation): Promise<void> {
    const plc = await loadPlcLib()
    try {
      await new plc.Client(this.url).sendOperation(did, op)
    } catch (err) {
      const status = (err as { status?: number; response?: { status?: number } }).status
      const detail = describePlcError(err)
      if (status && status >= 400 && status < 500) {
        throw new InvalidRequestError(`PLC directory ${this.url} refused the operation: ${detail}`, 'IncompatibleDidDoc')
      }
      throw new UpstreamFailureError(`PLC directory ${this.url} is unavailable: ${detail}`)
    }
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
