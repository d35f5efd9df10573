// Step 2: the repo. getRepo on the old PDS (a CAR of the whole repo), importRepo on the new. Not imported twice:
// a recorded import is skipped while the old repo is at the same revision and the new PDS still indexes at least
// the records it had then; otherwise (a newer old repo, or a new PDS that lost it) the CAR is imported again, which
// replaces the repo there.
import { ask } from './errors.ts'
import { accountStatus, type Migration } from './context.ts'
import { formatBytes } from '../cli/output.ts'

/** Figures kept in the state file: the old repo's revision, records indexed on the new PDS, CAR size (bytes). */
export type RepoFigures = { oldRev: string; records: number; bytes: number }

export async function moveRepo(m: Migration): Promise<RepoFigures | 'skipped'> {
  const oldStatus = await accountStatus(m.old)
  const previous = m.state.done('importRepo')
  if (previous) {
    const newStatus = await accountStatus(m.new)
    if (previous.oldRev === oldStatus.repoRev && newStatus.indexedRecords >= Number(previous.records)) {
      m.out.ok(`repo already imported (${newStatus.indexedRecords} records, rev ${oldStatus.repoRev}): not imported again`)
      return 'skipped'
    }
    m.out.warn(
      previous.oldRev !== oldStatus.repoRev
        ? `the old repo changed since it was imported (rev ${previous.oldRev} → ${oldStatus.repoRev}): importing it again`
        : `the new PDS has ${newStatus.indexedRecords} of the ${previous.records} records imported before: importing again`,
    )
  }

  let started = Date.now()
  const car = await ask(m.old.side, 'export the repo (com.atproto.sync.getRepo)', () =>
    m.old.agent.com.atproto.sync.getRepo({ did: m.did }),
  )
  const bytes = car.data.byteLength
  m.out.ok(`repo exported: ${oldStatus.indexedRecords} records, ${formatBytes(bytes)} CAR in ${seconds(started)}`)

  started = Date.now()
  await ask(
    m.new.side,
    'import the repo (com.atproto.repo.importRepo)',
    () => m.new.agent.com.atproto.repo.importRepo(car.data, { encoding: 'application/vnd.ipld.car' }),
    { '413': 'the repo is larger than the new PDS accepts; ask its operator' },
  )
  const newStatus = await accountStatus(m.new)
  const line = `repo imported: ${newStatus.indexedRecords} of ${oldStatus.indexedRecords} records indexed by the new PDS in ${seconds(started)}`
  if (newStatus.indexedRecords < oldStatus.indexedRecords) m.out.warn(line)
  else m.out.ok(line)
  return { oldRev: oldStatus.repoRev, records: newStatus.indexedRecords, bytes }
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`
}
