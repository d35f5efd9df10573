/** An ISO 8601 time as people read it in a table: `2026-11-30 04:16` (UTC, as stored). */
export function shortTime(iso: string | undefined): string {
  return iso ? iso.slice(0, 16).replace('T', ' ') : ''
}
