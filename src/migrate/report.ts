// The closing report: checkAccountStatus on both sides, side by side, and whether the move is complete (the new
// PDS active with a DID document pointing to it, the old deactivated) and how many blobs the new one still lacks.
import { accountStatus, type AccountStatus, type Migration, type Peer } from './context.ts'

export type Report = { complete: boolean; missingBlobs: number; text: string }

export async function finalReport(m: Migration): Promise<Report> {
  const [oldStatus, newStatus] = await Promise.all([statusOrWhy(m.old), statusOrWhy(m.new)])
  const rows: [string, (s: AccountStatus) => string][] = [
    ['records', (s) => String(s.indexedRecords)],
    ['blobs (imported/expected)', (s) => `${s.importedBlobs}/${s.expectedBlobs}`],
    ['DID document points here', (s) => yesNo(s.validDid)],
    ['activated', (s) => yesNo(s.activated)],
    ['repo commit', (s) => short(s.repoCommit)],
  ]
  const cell = (s: AccountStatus | string, f: (s: AccountStatus) => string) => (typeof s === 'string' ? '?' : f(s))
  const table = [['', 'old PDS', 'new PDS'], ...rows.map(([name, f]) => [name, cell(oldStatus, f), cell(newStatus, f)])]
  const widths = [0, 1, 2].map((i) => Math.max(...table.map((r) => r[i].length)))
  const lines = table.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i])).join('   ').trimEnd())
  for (const [name, s] of [['old', oldStatus], ['new', newStatus]] as const) {
    if (typeof s === 'string') lines.push(`  (${name} PDS status unavailable: ${s})`)
  }
  const complete =
    typeof newStatus !== 'string' &&
    newStatus.activated &&
    newStatus.validDid &&
    (typeof oldStatus === 'string' || !oldStatus.activated)
  const missingBlobs = typeof newStatus === 'string' ? 0 : Math.max(newStatus.expectedBlobs - newStatus.importedBlobs, 0)
  return { complete: Boolean(complete), missingBlobs, text: lines.join('\n') }
}

async function statusOrWhy(peer: Peer): Promise<AccountStatus | string> {
  try {
    return await accountStatus(peer)
  } catch (err) {
    return (err as Error).message
  }
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no')
/** `bafyrei…7aa5uf7e`: enough to see whether both sides hold the same commit. */
const short = (cid: string) => (cid.length > 20 ? `${cid.slice(0, 7)}…${cid.slice(-8)}` : cid)
