// Changing an account's handle (com.atproto.identity.updateHandle), as the reference PDS does it (@atproto/pds
// 0.4.217: api/com/atproto/identity/updateHandle.js and AccountManager.normalizeAndValidateHandle; 0.5's
// validateHandleUpdate for the HandleNotAvailable name):
//
//   validate the handle → PLC operation (did:plc) or DID document check (did:web) → one transaction: the account row's
//   new handle and its #identity event.
//
// The directory is asked first and the database written only once it has accepted, so a refused or unreachable
// directory changes nothing here. Unlike the reference, the #identity event commits with the handle (the reference
// sequences it afterwards and only logs a failure).
import type { IdentityResolver } from '../identity/resolver.ts'
import { validateHandleForDid } from '../identity/handles.ts'
import type { PlcService } from '../identity/plc.ts'
import { identityEventBody } from '../protocol/events.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import { InvalidRequestError, UpstreamFailureError } from '../errors.ts'
import { KeyedLock } from '../util/keyed-lock.ts'
import type { AccountStore } from './account-store.ts'
import type { HandleClaims } from './handle-claims.ts'

export type HandleServiceDeps = {
  serviceDomains: readonly string[]
  store: AccountStore
  claims: HandleClaims
  plc: PlcService
  identity: IdentityResolver
  sequencer: Sequencer
}

export class HandleService {
  private readonly deps: HandleServiceDeps
  /** One change at a time per account: two changes racing would otherwise land in different orders here and there. */
  private readonly locks = new KeyedLock()

  constructor(deps: HandleServiceDeps) {
    this.deps = deps
  }

  /**
   * Give account `did` the handle `input`. Errors (all 400 unless said): InvalidHandle (syntax, TLD, service-domain
   * rules), HandleNotAvailable (reserved, or held by another account, deactivated and taken-down ones included),
   * InvalidRequest 'External handle did not resolve to DID' (a handle outside the service domains whose DNS TXT
   * `_atproto.<handle>` or `https://<handle>/.well-known/atproto-did` does not name `did`), the directory's refusal
   * (InvalidRequest) or absence (502 UpstreamFailure). Its own current handle again changes nothing and sequences
   * #identity again, as the reference does (that is how a user re-announces an identity). `changed`: whether it did.
   * `byOperator`: admin.updateAccountHandle, which may also give out reserved words (the reference's allowAnyValid).
   */
  async updateHandle(did: string, input: string, { byOperator = false } = {}): Promise<{ handle: string; changed: boolean }> {
    const { store, claims, sequencer } = this.deps
    if (!store.byDid(did)) throw new InvalidRequestError('Account not found')
    const handle = await this.validate(did, input, byOperator)
    return this.locks.run(did, async () => {
      const holder = store.byHandle(handle)
      if (holder?.did === did) {
        sequencer.writeTransaction(() => sequencer.append(did, 'identity', identityEventBody(did, handle)))
        return { handle, changed: false }
      }
      claims.assertFree(handle)
      const release = claims.hold(handle)
      try {
        await this.publish(did, handle)
        sequencer.writeTransaction(() => {
          if (!store.setHandle(did, handle)) throw new InvalidRequestError('Account not found')
          sequencer.append(did, 'identity', identityEventBody(did, handle))
        })
      } finally {
        release()
      }
      // Our cached copy still names the old handle; getSession and describeRepo should show the new document.
      await this.deps.identity.forgetDid(did)
      return { handle, changed: true }
    })
  }

  /** The normalised handle, if `did` may have it (see validateHandleForDid). */
  private validate(did: string, input: string, allowReserved: boolean): Promise<string> {
    const resolve = (handle: string) => this.deps.identity.handle(handle)
    return validateHandleForDid(input, did, this.deps.serviceDomains, resolve, { allowReserved })
  }

  /**
   * Make the DID document say `handle`. did:plc: a PLC operation signed with our rotation key. did:web: we cannot
   * change it, so its owner must have already (the reference's check, against a fresh copy of the document).
   */
  private async publish(did: string, handle: string): Promise<void> {
    if (did.startsWith('did:plc:')) {
      await this.deps.plc.updateHandle(did, handle)
      return
    }
    let declared: string
    try {
      declared = (await this.deps.identity.atprotoData(did, true)).handle
    } catch (err) {
      throw new UpstreamFailureError(`Could not resolve the DID document of ${did}: ${(err as Error).message}`)
    }
    if (declared !== handle) throw new InvalidRequestError('DID is not properly configured for handle')
  }
}
