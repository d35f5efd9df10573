// The doctor's report as plain text: one line per check, the fix on the same line, a summary at the end.
import type { CheckStatus, DoctorReport } from './types.ts'

const MARK: Record<CheckStatus, string> = { pass: '✔', warn: '⚠', fail: '✖', skip: '–' }

export function formatReport(report: DoctorReport): string {
  const lines = report.results.map((r) => `${MARK[r.status]} ${r.detail}${r.fix && r.status !== 'pass' ? ` → fix: ${r.fix}` : ''}`)
  const fails = report.results.filter((r) => r.status === 'fail').length
  const warns = report.results.filter((r) => r.status === 'warn').length
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  lines.push('')
  lines.push(
    fails
      ? `${plural(fails, 'problem')}${warns ? ` and ${plural(warns, 'warning')}` : ''}: fix the ✖ lines above, then run the doctor again.`
      : warns
        ? `No problems; ${plural(warns, 'warning')}.`
        : 'All checks passed.',
  )
  return lines.join('\n') + '\n'
}
