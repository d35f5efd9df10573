// The running server as the operator talks to it: the public XRPC API with HTTP Basic admin:<password>, as the
// reference's `pdsadmin` does, through @atproto/api (so answers are checked against the lexicons). No private
// endpoints: whatever this tool does, any other tool could do the same way.
import { AtpAgent, type ComAtprotoAdminDefs } from '@atproto/api'
import { ask, CliError, type Hints, type Side } from '../cli/errors.ts'
import type { Output } from '../cli/output.ts'
import { EXIT } from './command.ts'

export type AccountView = ComAtprotoAdminDefs.AccountView

/** An account as `account list` shows it: the admin view and the repo status listRepos reports. */
export type ListedAccount = { view: AccountView; active: boolean; status: string }

/** listRepos pages and getAccountInfos batches: 1000 is listRepos' maximum; 100 DIDs keep a query string short. */
const REPO_PAGE = 1000
const INFO_BATCH = 100

export class AdminClient {
  readonly url: string
  /** Signed in as the operator: every call carries the admin password. */
  readonly agent: AtpAgent
  private readonly side: Side

  constructor(url: string, password: string) {
    this.url = url
    this.side = { name: 'PDS', url }
    const basic = 'Basic ' + Buffer.from(`admin:${password}`).toString('base64')
    this.agent = new AtpAgent({ service: url, headers: [['authorization', basic]] })
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
          `the PDS (${this.url}) refused the admin password while trying to ${doing} → check --password or PDS_ADMIN_PASSWORD`,
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
      did = await this.agent.com.atproto.identity.resolveHandle({ handle: id }).then(
        (res) => res.data.did,
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
      return (await this.call(`look up ${did}`, () => this.agent.com.atproto.admin.getAccountInfo({ did }))).data
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
        this.agent.com.atproto.sync.listRepos({ limit: REPO_PAGE, cursor }),
      )
      const repos = page.data.repos
      for (let i = 0; i < repos.length; i += INFO_BATCH) {
        const batch = repos.slice(i, i + INFO_BATCH)
        const res = await this.call('read accounts (com.atproto.admin.getAccountInfos)', () =>
          this.agent.com.atproto.admin.getAccountInfos({ dids: batch.map((r) => r.did) }),
        )
        const views = new Map(res.data.infos.map((v) => [v.did, v]))
        for (const repo of batch) {
          const view = views.get(repo.did)
          // Deleted between the two calls: gone, so not listed.
          if (view) accounts.push({ view, active: repo.active ?? true, status: repo.status ?? (repo.active === false ? 'inactive' : 'active') })
        }
        progress.update(accounts.length)
      }
      cursor = repos.length > 0 ? page.data.cursor : undefined
    } while (cursor)
    progress.done()
    return accounts
  }
}
