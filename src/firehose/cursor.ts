// Where a subscription starts, with the reference PDS's cursor rules: none → live; seq > cursor replayed in order;
// a cursor past the newest seq → FutureCursor; a cursor behind the retention window → #info OutdatedCursor, then
// the oldest event still in the window.
import type { Sequencer } from '../sequencer/sequencer.ts'

export type Start =
  | { kind: 'live'; after: number }
  | { kind: 'replay'; after: number; outdated: boolean }
  | { kind: 'future' }

/** The `cursor` query parameter: absent, or an integer. Anything else is an error message. */
export function parseCursor(url: URL): { cursor?: number } | { error: string } {
  const values = url.searchParams.getAll('cursor')
  if (values.length === 0 || (values.length === 1 && values[0] === '')) return {}
  if (values.length > 1) return { error: 'cursor may be given only once' }
  const raw = values[0]
  const n = Number(raw)
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n)) return { error: 'cursor must be an integer' }
  return { cursor: n }
}

/** Decide the start from the log as it is now. `cutoff`: ISO time before which events are out of the window. */
export function resolveStart(sequencer: Sequencer, cursor: number | undefined, cutoff: string): Start {
  const last = sequencer.lastAssignedSeq()
  if (cursor === undefined) return { kind: 'live', after: last }
  if (cursor > last) return { kind: 'future' }
  cursor = Math.max(cursor, 0) // a negative cursor asks for everything, like 0
  // Events between the cursor and the oldest kept one were pruned (or deleted with their account: an info frame
  // too many is harmless, a silent gap is not).
  const firstKept = sequencer.oldestSeq() ?? last + 1
  const next = sequencer.range(cursor, 1)[0]
  const outdated = cursor < firstKept - 1 || (next !== undefined && next.sequenced_at < cutoff)
  if (!outdated) return { kind: 'replay', after: cursor, outdated: false }
  const first = sequencer.firstSeqSince(cutoff)
  return { kind: 'replay', after: first === null ? last : first - 1, outdated: true }
}
