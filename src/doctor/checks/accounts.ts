// Accounts: each active account's DID document must point at this PDS with the current signing key, and its handle
// must resolve back to the DID; otherwise relays and AppViews drop its commits.
import http from 'node:http'
import https from 'node:https'
import { getHandle, getPdsEndpoint, isValidDidDoc } from '@atproto/common-web'
import { getKey } from '@atproto/identity'
import type { Config } from '../../config/index.ts'
import { keypairFromHex } from '../../identity/keys.ts'
import { mapLimit } from '../../util/map-limit.ts'
import type { CheckResult, CheckStatus, DoctorIdentity } from '../types.ts'
import { describeNetworkError, trimSlash, withTimeout } from '../../util/net.ts'
import type { Local, LocalAccount } from './account-list.ts'

// Handles under these can never resolve from the internet (RFC 2606/6761): fine for local testing only.
const RESERVED_TLDS = new Set(['test', 'local', 'localhost', 'invalid', 'example'])

export async function checkAccounts(
  cfg: Config,
  local: Local | { error: string },
  identity: DoctorIdentity,
  maxAccounts: number,
  timeoutMs: number,
): Promise<CheckResult[]> {
  if ('error' in local) {
    return [
      {
        id: 'accounts',
        status: 'warn',
        detail: `could not list accounts (${local.error})`,
        fix: 'run the doctor on the PDS machine with the same PDS_DATA_DIRECTORY, or fix the checks above',
      },
    ]
  }
  const active = local.accounts.filter((a) => a.active)
  const checked = active.slice(0, maxAccounts)
  const results = await mapLimit(checked, 8, (a) => checkAccount(cfg, a, identity, timeoutMs))
  const problems = results.filter((r): r is CheckResult => r !== null)
  const failing = problems.filter((p) => p.status === 'fail').length
  const notes = [
    local.source === 'listRepos' ? 'signing keys not checked: the database is not readable here' : '',
    active.length > checked.length ? `checked the first ${checked.length} of ${active.length} active accounts` : '',
    local.total > active.length ? `${local.total - active.length} inactive skipped` : '',
  ].filter(Boolean)
  const summary: CheckResult = {
    id: 'accounts',
    status: failing ? 'fail' : 'pass',
    detail:
      (local.total === 0
        ? 'no accounts yet'
        : failing
          ? `${failing} of ${checked.length} accounts have identity problems (listed above)`
          : `${checked.length} account${checked.length === 1 ? '' : 's'}: DID documents point here${
              local.source === 'database' ? ' with the current signing keys' : ''
            } and handles resolve back`) + (notes.length ? ` (${notes.join('; ')})` : ''),
  }
  return [...problems, summary]
}

/** null when the account is fine; otherwise one result naming every problem found. */
async function checkAccount(cfg: Config, a: LocalAccount, identity: DoctorIdentity, timeoutMs: number): Promise<CheckResult | null> {
  const id = `account:${a.did}`
  const who = a.handle ? `${a.handle} (${a.did})` : a.did
  let doc: Record<string, unknown> | null
  try {
    doc = await withTimeout(identity.didDoc(a.did, true), timeoutMs)
  } catch (err) {
    return {
      id,
      status: 'fail',
      detail: `${who}: the DID document could not be fetched from ${cfg.didPlcUrl} (${describeNetworkError(err)})`,
      fix: 'check PDS_DID_PLC_URL and that this machine can reach the directory',
    }
  }
  if (!doc || !isValidDidDoc(doc)) {
    return {
      id,
      status: 'fail',
      detail: `${who}: ${doc ? 'the DID document is malformed' : `the DID does not exist at ${cfg.didPlcUrl}`}`,
      fix: 'the account was registered with another directory (did PDS_DID_PLC_URL change?): restore the old value',
    }
  }
  const problems: string[] = []
  const fixes: string[] = []
  let status: CheckStatus = 'fail'

  const pds = getPdsEndpoint(doc)
  if (!pds || trimSlash(pds) !== trimSlash(cfg.publicUrl)) {
    problems.push(pds ? `the DID document names PDS ${pds}, not ${cfg.publicUrl}` : 'the DID document names no PDS')
    fixes.push(
      `if PDS_PUBLIC_URL changed, submit a PLC operation (signed with the PDS rotation key) setting the atproto_pds ` +
        `service to ${cfg.publicUrl}; if the account moved to another PDS, deactivate or delete it here`,
    )
  }
  if (a.signingKeyHex) {
    const ours = (await keypairFromHex(a.signingKeyHex)).did()
    // Normalized to a compressed did:key whatever the document's key type (Multikey or the legacy 2019 types).
    const theirs = getKey(doc)
    if (theirs !== ours) {
      problems.push(`the DID document's signing key is ${theirs ?? 'missing'}, but this PDS signs with ${ours}`)
      fixes.push(`submit a PLC operation setting verificationMethods.atproto to ${ours}: until then relays reject every commit`)
    }
  }
  const docHandle = getHandle(doc)
  const handle = a.handle || docHandle
  if (a.handle && docHandle?.toLowerCase() !== a.handle.toLowerCase()) {
    problems.push(`the DID document's handle is ${docHandle ?? 'missing'}, not ${a.handle}`)
    fixes.push(`submit a PLC operation setting alsoKnownAs to at://${a.handle}`)
  }
  if (handle) {
    const reserved = RESERVED_TLDS.has(handle.split('.').pop()!.toLowerCase())
    let resolved: string | undefined
    let error: string | undefined
    try {
      resolved = await withTimeout(
        reserved && cfg.devMode ? wellKnownVia(cfg.publicUrl, handle, timeoutMs) : identity.handle(handle),
        timeoutMs,
      )
    } catch (err) {
      error = describeNetworkError(err)
    }
    if (resolved !== a.did) {
      problems.push(`the handle ${handle} resolves to ${resolved ?? `nothing${error ? ` (${error})` : ''}`}`)
      fixes.push(
        `publish DNS TXT _atproto.${handle} "did=${a.did}", or serve https://${handle}/.well-known/atproto-did ` +
          `(for handles under ${cfg.hostname}: a wildcard DNS record and proxy server_name *.${cfg.hostname})`,
      )
    } else if (reserved && !problems.length) {
      status = 'warn'
      problems.push(`the handle ${handle} resolves only through this server: .${handle.split('.').pop()} names never resolve on the internet`)
      fixes.push('fine for local testing; real accounts need handles under a real domain (PDS_SERVICE_HANDLE_DOMAINS)')
    }
  }
  if (!problems.length) return null
  return { id, status, detail: `${who}: ${problems.join('; ')}`, fix: fixes.join('; ') }
}

/** GET <publicUrl>/.well-known/atproto-did with `Host: <handle>`: how a dev handle resolves against this server. */
function wellKnownVia(publicUrl: string, handle: string, timeoutMs: number): Promise<string | undefined> {
  const u = new URL('/.well-known/atproto-did', publicUrl)
  const mod = u.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = mod.get(u, { headers: { host: handle }, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body = (body + c).slice(0, 2048)))
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() || undefined : undefined))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('no answer in time')))
    req.on('error', reject)
  })
}
