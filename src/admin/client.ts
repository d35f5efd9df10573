// The running server as the operator talks to it: the public XRPC API with HTTP Basic admin:<password>, as the
// reference's `pdsadmin` does. No private endpoints: whatever this tool does, any other tool could do the same way.
// Plain fetch rather than @atproto/api, whose lexicons take most of a second to load on every run of a tool that
// makes a call or two; the types are @atproto/api's.
import type {
  ComAtprotoAdminDefs,
  ComAtprotoAdminGetAccountInfos,
  ComAtprotoIdentityResolveHandle,
  ComAtprotoSyncListRepos,
} from '@atproto/api'
import { ask, CliError, type Hints, type Side, type XrpcFailure } from '../cli/errors.ts'
import type { Output } from '../cli/output.ts'
import { EXIT } from './command.ts'

export type AccountView = ComAtprotoAdminDefs.AccountView

/** An account as `account list` shows it: the admin view and the repo status listRepos reports. */
export type ListedAccount = { view: AccountView; active: boolean; status: string }

/** listRepos pages and getAccountInfos batches: 1000 is listRepos' maximum; 100 DIDs keep a query string short. */
const REPO_PAGE = 1000
const INFO_BATCH = 100

/** A call's parameters: a list is sent as the parameter repeated. */
export type QueryParams = Record<string, string | number | boolean | readonly string[] | undefined>

/** A refused or failed XRPC call: the HTTP status (1: no answer, `cause` says why) and the XRPC error name. */
export class XrpcCallError extends Error implements XrpcFailure {
  readonly status: number
  readonly error: string | undefined

  constructor(status: number, error: string | undefined, message: string, cause?: unknown) {
    super(message, { cause })
    this.status = status
    this.error = error
  }
}

/** How long one call may take: a listing page or a deletion of a large account, not a hung server. */
const CALL_TIMEOUT_MS = 120_000

export class AdminClient {
  readonly url: string
  private readonly side: Side
  private readonly authorization: string
  /** What to check when the server refuses the password (where the password came from). */
  private readonly passwordHint: string

  constructor(url: string, password: string, passwordHint = 'check --password or PDS_ADMIN_PASSWORD') {
    this.url = url
    this.passwordHint = passwordHint
    this.side = { name: 'PDS', url }
    this.authorization = 'Basic ' + Buffer.from(`admin:${password}`).toString('base64')
  }

  /** GET /xrpc/<nsid>; `anonymous`: without the admin password. Rejects with XrpcCallError. */
  query<T>(nsid: string, params: QueryParams = {}, { anonymous = false } = {}): Promise<T> {
    const url = new URL(`/xrpc/${nsid}`, this.url)
    for (const [key, value] of Object.entries(params)) {
      for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) url.searchParams.append(key, String(v))
    }
    return this.send(url, { method: 'GET' }, anonymous)
  }

  /** POST /xrpc/<nsid> with a JSON body; resolves with the JSON answer, if any. Rejects with XrpcCallError. */
  procedure<T = void>(nsid: string, body: unknown, { anonymous = false } = {}): Promise<T> {
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
    return this.send(new URL(`/xrpc/${nsid}`, this.url), init, anonymous)
  }

  private async send<T>(url: URL, init: RequestInit, anonymous: boolean): Promise<T> {
    const headers = { ...(init.headers as Record<string, string>), ...(anonymous ? {} : { authorization: this.authorization }) }
    let res: Response
    try {
      res = await fetch(url, { ...init, headers, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) })
    } catch (err) {
      throw new XrpcCallError(1, undefined, 'no answer', err)
    }
    const text = await res.text()
    let body: { error?: unknown; message?: unknown } | undefined
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      if (res.ok) throw new XrpcCallError(2, undefined, `not JSON: ${text.slice(0, 100)}`)
    }
    if (res.ok) return body as T
    const error = typeof body?.error === 'string' ? body.error : undefined
    const message = typeof body?.message === 'string' ? body.message : `HTTP ${res.status}`
    throw new XrpcCallError(res.status, error, message)
  }

  /**
   * One call; a failure becomes a CliError that says what we were doing and what the server said. Exit code 3 when
   * the server refused the admin password, 1 for anything else.
   */
  async call<T>(doing: string, fn: () => Promise<T>, hints: Hints = {}): Promise<T> {
    try {
      return await ask(this.side, doing, fn, hints)
    } catch (err) {
      if (err instanceof CliError && err.status === 401) {
        throw new CliError(
          `the PDS (${this.url}) refused the admin password while trying to ${doing} → ${this.passwordHint}`,
          EXIT.auth,
          401,
        )
      }
      throw err
    }
  }

  /**
   * The account named by a DID or handle (a leading @ is ignored), whatever its status. A handle is resolved by the
   * server; one that does not resolve (a taken-down or deactivated account's) is looked for among all accounts.
   * Exit code 4 when there is no such account here.
   */
  async account(identifier: string, out: Output): Promise<AccountView> {
    const id = identifier.replace(/^@/, '').trim()
    const notFound = () => new CliError(`no account ${id} on this PDS (${this.url})`, EXIT.notFound)
    let did = id.startsWith('did:') ? id : undefined
    if (!did) {
      did = await this.query<ComAtprotoIdentityResolveHandle.OutputSchema>('com.atproto.identity.resolveHandle', {
        handle: id,
      }).then(
        (res) => res.did,
        () => undefined,
      )
    }
    if (did) {
      const found = await this.accountInfo(did)
      if (found) return found
      if (id.startsWith('did:')) throw notFound()
    }
    const listed = await this.listAccounts(out)
    const match = listed.find((a) => a.view.handle === id.toLowerCase())
    if (!match) throw notFound()
    return match.view
  }

  /** getAccountInfo, undefined when the server has no such account. */
  async accountInfo(did: string): Promise<AccountView | undefined> {
    try {
      return await this.call(`look up ${did}`, () => this.query<AccountView>('com.atproto.admin.getAccountInfo', { did }))
    } catch (err) {
      if (err instanceof CliError && err.error === 'NotFound') return undefined
      throw err
    }
  }

  /** Every account: com.atproto.sync.listRepos for the DIDs and statuses, admin.getAccountInfos for the rest. */
  async listAccounts(out: Output): Promise<ListedAccount[]> {
    const progress = out.progress('accounts listed')
    const accounts: ListedAccount[] = []
    let cursor: string | undefined
    do {
      const page = await this.call('list repositories (com.atproto.sync.listRepos)', () =>
        this.query<ComAtprotoSyncListRepos.OutputSchema>('com.atproto.sync.listRepos', { limit: REPO_PAGE, cursor }),
      )
      const repos = page.repos
      for (let i = 0; i < repos.length; i += INFO_BATCH) {
        const batch = repos.slice(i, i + INFO_BATCH)
        const res = await this.call('read accounts (com.atproto.admin.getAccountInfos)', () =>
          this.query<ComAtprotoAdminGetAccountInfos.OutputSchema>('com.atproto.admin.getAccountInfos', {
            dids: batch.map((r) => r.did),
          }),
        )
        const views = new Map(res.infos.map((v) => [v.did, v]))
        for (const repo of batch) {
          const view = views.get(repo.did)
          // Deleted between the two calls: gone, so not listed.
          const active = repo.active ?? true
          if (view) accounts.push({ view, active, status: repo.status ?? (active ? 'active' : 'inactive') })
        }
        progress.update(accounts.length)
      }
      cursor = repos.length > 0 ? page.cursor : undefined
    } while (cursor)
    progress.done()
    return accounts
  }
}
