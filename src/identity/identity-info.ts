// What com.atproto.identity.resolveDid, resolveIdentity and refreshIdentity answer. The reference PDS forwards these
// to its AppView; Bluesky's identity service (indigo's bluepages, which serves them) is the behaviour followed here:
//
// - a DID: its document; the handle it declares (the first at:// alias) only if that handle resolves back to the DID,
//   else `handle.invalid`;
// - a handle: the DID it resolves to and that DID's document, which must declare the handle back (HandleMismatch);
// - refreshIdentity: the same, reading the DID document past the cache (handle resolution is never cached).
//
// Errors use the lexicons' names: DidNotFound (the directory says no such DID), DidDeactivated (a tombstoned did:plc:
// the directory answers 410), HandleNotFound; 400 as this server's other "not found"s (see src/errors.ts), where
// bluepages answers 404. A resolver that fails (down, timeout, malformed document) → 502 UpstreamFailure.
import { INVALID_HANDLE, isValidHandle, normalizeHandle } from '@atproto/syntax'
import { InvalidRequestError, UpstreamFailureError } from '../errors.ts'
import type { IdentityResolver } from './resolver.ts'

export type DidDoc = Record<string, unknown>
export type IdentityInfo = { did: string; handle: string; didDoc: DidDoc }

export type IdentityInfoDeps = {
  resolver: IdentityResolver
  /**
   * For a handle under our service domains, our own answer (src/account/handle-lookup.ts): the DID of the active
   * account holding it, or null. Undefined for any other handle.
   */
  serviceHandleDid: (handle: string) => string | null | undefined
}

export class IdentityInfoService {
  private readonly deps: IdentityInfoDeps

  constructor(deps: IdentityInfoDeps) {
    this.deps = deps
  }

  /** The DID document of `did`; `fresh` skips the cache. */
  async didDoc(did: string, fresh = false): Promise<DidDoc> {
    // The methods atproto (and @atproto/identity) resolve; a did:key, say, has no document to fetch.
    if (!/^did:(plc|web):/.test(did)) throw new InvalidRequestError(`Unsupported DID method: ${did}`, 'DidNotFound')
    let doc: DidDoc | null
    try {
      doc = await this.deps.resolver.didDoc(did, fresh)
    } catch (err) {
      if ((err as { status?: number }).status === 410) {
        throw new InvalidRequestError(`DID has been deactivated: ${did}`, 'DidDeactivated')
      }
      throw new UpstreamFailureError(`Could not resolve DID ${did}: ${(err as Error).message}`)
    }
    if (!doc) throw new InvalidRequestError(`DID not found: ${did}`, 'DidNotFound')
    return doc
  }

  /** `identifier`: a DID or a handle (already syntax-checked); `fresh`: refreshIdentity's cache bypass. */
  async identity(identifier: string, fresh = false): Promise<IdentityInfo> {
    return identifier.startsWith('did:') ? this.fromDid(identifier, fresh) : this.fromHandle(identifier, fresh)
  }

  private async fromDid(did: string, fresh: boolean): Promise<IdentityInfo> {
    const didDoc = await this.didDoc(did, fresh)
    const declared = declaredHandle(didDoc)
    const verified = declared !== undefined && (await this.handleDid(declared)) === did
    return { did, handle: verified ? declared : INVALID_HANDLE, didDoc }
  }

  private async fromHandle(input: string, fresh: boolean): Promise<IdentityInfo> {
    const handle = normalizeHandle(input)
    const did = await this.handleDid(handle)
    if (!did) throw new InvalidRequestError(`Unable to resolve handle: ${handle}`, 'HandleNotFound')
    const didDoc = await this.didDoc(did, fresh)
    if (declaredHandle(didDoc) !== handle) {
      throw new InvalidRequestError(`The DID document of ${did} does not declare the handle ${handle}`, 'HandleMismatch')
    }
    return { did, handle, didDoc }
  }

  /**
   * Where `handle` points, as authoritatively as we can know: from our database for our service domains (we are the
   * server their well-known files come from), else DNS TXT and https well-known (never our database's copy of an
   * external handle, which only says it verified once). Undefined when it points nowhere.
   */
  private async handleDid(handle: string): Promise<string | undefined> {
    const local = this.deps.serviceHandleDid(handle)
    if (local !== undefined) return local ?? undefined
    try {
      return await this.deps.resolver.handle(handle)
    } catch {
      return undefined
    }
  }
}

/** The handle a DID document declares: its first at:// alias, normalised; undefined if none or not a valid handle. */
function declaredHandle(doc: DidDoc): string | undefined {
  const aka = Array.isArray(doc.alsoKnownAs) ? doc.alsoKnownAs : []
  const first = aka.find((a): a is string => typeof a === 'string' && a.startsWith('at://'))
  const handle = first?.slice('at://'.length)
  return handle && isValidHandle(handle) ? normalizeHandle(handle) : undefined
}
