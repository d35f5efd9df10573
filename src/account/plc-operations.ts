// Changes to an account's DID document that its owner drives: what the document should hold for this PDS
// (getRecommendedDidCredentials), a mailed code (requestPlcOperationSignature), an operation built and signed with this
// PDS's rotation key (signPlcOperation) and one submitted to the PLC directory (submitPlcOperation). Together they let
// a user add a recovery key of their own, or sign the operation that moves the account to another PDS. As the
// reference PDS (0.4.217) does it in api/com/atproto/identity/{getRecommendedDidCredentials, requestPlcOperationSignature,
// signPlcOperation, submitPlcOperation}.js, with its error messages; where we differ, the method says so.
import type { Keypair } from '@atproto/crypto'
import type { Operation } from '@did-plc/lib'
import { InvalidRequestError } from '../errors.ts'
import { PlcService, type PlcOpChanges } from '../identity/plc.ts'
import type { IdentityResolver } from '../identity/resolver.ts'
import { identityEventBody } from '../protocol/events.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import type { AccountRow, AccountStore } from './account-store.ts'
import type { EmailTokenPurpose, EmailTokenService } from './email-tokens.ts'

/** The credentials a DID document needs for its account to be served here (getRecommendedDidCredentials' output). */
export type RecommendedCredentials = {
  rotationKeys: string[]
  alsoKnownAs: string[]
  verificationMethods: { atproto: string }
  services: { atproto_pds: { type: 'AtprotoPersonalDataServer'; endpoint: string } }
}

export type PlcOperationDeps = {
  store: AccountStore
  plc: PlcService
  tokens: EmailTokenService
  /** Issue a code for `purpose` and mail it to the account's address (SelfService.mailCode); rejects if not sent. */
  mailCode: (account: AccountRow, purpose: EmailTokenPurpose) => Promise<void>
  /** The account's repo signing key. */
  signingKey: (did: string) => Promise<Keypair>
  sequencer: Sequencer
  identity: IdentityResolver
  publicUrl: string
}

export class PlcOperationService {
  private readonly deps: PlcOperationDeps

  constructor(deps: PlcOperationDeps) {
    this.deps = deps
  }

  /**
   * What the account's DID document should say for it to live here: our rotation key, its handle, its signing key as
   * `#atproto` and our URL as `#atproto_pds`. The same checks submitOperation makes. (The reference also puts its
   * operator's recovery key first when it has one configured; we have no such setting.)
   */
  async recommendedCredentials(did: string): Promise<RecommendedCredentials> {
    const account = this.account(did)
    return {
      rotationKeys: [this.deps.plc.rotationKeyDid()],
      alsoKnownAs: [`at://${account.handle}`],
      verificationMethods: { atproto: (await this.deps.signingKey(did)).did() },
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: this.deps.publicUrl } },
    }
  }

  /** Mail a plc_operation code to the account's address. Rejects if the mail could not be sent (500). */
  async requestSignature(did: string): Promise<void> {
    await this.deps.mailCode(this.account(did), 'plc_operation')
  }

  /**
   * Sign (not submit) an update of the account's DID: the directory's last operation with the fields in `changes`
   * replaced, signed with our rotation key (PlcService.signUpdate). `token`: the account's live plc_operation code
   * (missing → InvalidRequest, wrong → InvalidToken, old → ExpiredToken). Errors of the directory as
   * PlcService.signUpdate's. Unlike the reference, which spends the code before asking the directory, the code is
   * spent only once the operation is signed: a directory that is down or refuses costs the user no new mail.
   */
  async sign(did: string, token: string | undefined, changes: PlcOpChanges): Promise<Operation> {
    if (!token) throw new InvalidRequestError('email confirmation token required to sign PLC operations')
    this.deps.tokens.assertValid(did, 'plc_operation', token)
    const operation = await this.deps.plc.signUpdate(did, changes)
    // Checked again as it is spent: of two requests racing with one code, only one gets an operation.
    this.deps.tokens.consume(did, 'plc_operation', token)
    return operation
  }

  /**
   * Submit a signed operation for the account's DID to the directory, then sequence `#identity`. Refused (400
   * InvalidRequest, the reference's messages, nothing sent) unless it is a well-formed plc_operation that keeps the
   * account here: our rotation key among its rotation keys, `atproto_pds` of type AtprotoPersonalDataServer at our
   * URL, the account's signing key as `atproto`, its handle as the first alias. So an operation moving the account
   * away is for the new PDS to submit, not us, as in the reference. The directory checks the signature and `prev`:
   * its refusal → 400 InvalidRequest, its absence → 502 UpstreamFailure, and then nothing is sequenced.
   */
  async submit(did: string, op: unknown): Promise<void> {
    const account = this.account(did)
    await this.deps.plc.submitOperation(did, await this.keepingAccountHere(account, op))
    const { sequencer } = this.deps
    sequencer.writeTransaction(() => sequencer.append(did, 'identity', identityEventBody(did, account.handle)))
    // Our cached copy is the old document (the reference resolves it afresh here).
    await this.deps.identity.forgetDid(did)
  }

  /** `op`, if it passes the reference's checks (in its order, each with its message). */
  private async keepingAccountHere(account: AccountRow, op: unknown): Promise<Operation> {
    if (!(await PlcService.isOperation(op))) throw new InvalidRequestError('Invalid operation')
    const { rotationKeys, services, verificationMethods, alsoKnownAs } = op as Operation
    if (!rotationKeys.includes(this.deps.plc.rotationKeyDid())) {
      throw new InvalidRequestError("Rotation keys do not include server's rotation key")
    }
    // Own properties only: an operation naming `__proto__` or `constructor` must not reach Object.prototype.
    const pds = Object.hasOwn(services, 'atproto_pds') ? services.atproto_pds : undefined
    if (pds?.type !== 'AtprotoPersonalDataServer') throw new InvalidRequestError('Incorrect type on atproto_pds service')
    if (pds.endpoint !== this.deps.publicUrl) throw new InvalidRequestError('Incorrect endpoint on atproto_pds service')
    const atproto = Object.hasOwn(verificationMethods, 'atproto') ? verificationMethods.atproto : undefined
    if (atproto !== (await this.deps.signingKey(account.did)).did()) throw new InvalidRequestError('Incorrect signing key')
    if (alsoKnownAs[0] !== `at://${account.handle}`) throw new InvalidRequestError('Incorrect handle in alsoKnownAs')
    return op as Operation
  }

  private account(did: string): AccountRow {
    const account = this.deps.store.byDid(did)
    if (!account) throw new InvalidRequestError('account not found')
    return account
  }
}
