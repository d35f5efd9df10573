// Handle rules for accounts on this PDS: valid syntax, a service domain, a slug of 3-18 characters, not reserved.
import { DISALLOWED_TLDS, InvalidHandleError, isValidTld, normalizeAndEnsureValidHandle } from '@atproto/syntax'
import { InvalidRequestError } from '../errors.ts'
import { RESERVED_SLUGS } from './reserved-handles.ts'

/** Lower-cased, syntax-checked handle; throws InvalidHandle with the reason. */
export function normalizeHandle(input: string): string {
  let handle: string
  try {
    handle = normalizeAndEnsureValidHandle(input)
  } catch (err) {
    if (err instanceof InvalidHandleError) throw new InvalidRequestError(err.message, 'InvalidHandle')
    throw err
  }
  if (!isValidTld(handle)) {
    throw new InvalidRequestError(`Handle TLD is not allowed (${DISALLOWED_TLDS.join(' ')})`, 'InvalidHandle')
  }
  return handle
}

/** A handle this PDS may give to a new account: under a service domain, with the rules of ensureServiceHandleRules. */
export function normalizeServiceHandle(input: string, serviceDomains: readonly string[]): string {
  const handle = normalizeHandle(input)
  if (!isUnderServiceDomain(handle, serviceDomains)) {
    throw new InvalidRequestError(
      `Not a supported handle domain; use one of: ${serviceDomains.join(', ')}`,
      'UnsupportedDomain',
    )
  }
  ensureServiceHandleRules(handle, serviceDomains)
  return handle
}

/**
 * The normalised handle, if account `did` may have it (the reference's AccountManager.normalizeAndValidateHandle with
 * a DID): a service-domain handle under ensureServiceHandleRules, or any other domain whose DNS TXT / well-known
 * names `did` (`resolve`: the handle's DID, undefined when it does not resolve; a throw counts as not resolving).
 * Errors (400): InvalidHandle, HandleNotAvailable (reserved), InvalidRequest 'External handle did not resolve to DID'.
 * `allowReserved`: the operator may give out reserved words (the reference's allowAnyValid, admin.updateAccountHandle).
 */
export async function validateHandleForDid(
  input: string,
  did: string,
  serviceDomains: readonly string[],
  resolve: (handle: string) => Promise<string | undefined>,
  { allowReserved = false } = {},
): Promise<string> {
  const handle = normalizeHandle(input)
  if (isUnderServiceDomain(handle, serviceDomains)) {
    ensureServiceHandleRules(handle, serviceDomains, allowReserved)
    return handle
  }
  const resolved = await resolve(handle).catch(() => undefined)
  if (resolved !== did) throw new InvalidRequestError('External handle did not resolve to DID')
  return handle
}

/** Whether a normalised handle ends in one of the service domains (the reference's isServiceDomain). */
export function isUnderServiceDomain(handle: string, serviceDomains: readonly string[]): boolean {
  return serviceDomains.some((d) => handle.endsWith(d))
}

/**
 * The rules for a handle under a service domain (the reference's ensureHandleServiceConstraints): one label of 3-18
 * characters before the domain (InvalidHandle), not a reserved word (HandleNotAvailable).
 */
export function ensureServiceHandleRules(handle: string, serviceDomains: readonly string[], allowReserved = false): void {
  const domain = serviceDomains.find((d) => handle.endsWith(d)) ?? ''
  const slug = handle.slice(0, handle.length - domain.length)
  if (slug.includes('.')) throw new InvalidRequestError('Invalid characters in handle', 'InvalidHandle')
  if (slug.length < 3) throw new InvalidRequestError('Handle too short', 'InvalidHandle')
  if (slug.length > 18) throw new InvalidRequestError('Handle too long', 'InvalidHandle')
  if (!allowReserved && RESERVED_SLUGS.has(slug)) throw new InvalidRequestError('Reserved handle', 'HandleNotAvailable')
}

/** Whether `handle` is under one of this PDS's handle domains, or is one of them (the reference's `supportedHandle`). */
export function isServiceHandle(handle: string, serviceDomains: readonly string[]): boolean {
  return serviceDomains.some((d) => handle.endsWith(d) || handle === d.slice(1))
}
