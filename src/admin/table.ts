// Plain-text tables for people: one header line, columns padded to their widest cell, two spaces apart.

/** `rows` under `headers`; the last column is not padded, so lines carry no trailing spaces. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ')
  return [line(headers), ...rows.map(line)].join('\n')
}

/** Key–value lines, keys padded: `Handle   alice.example.com`. */
export function formatFields(fields: readonly [string, string][]): string {
  const width = Math.max(...fields.map(([k]) => k.length))
  return fields.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')
}
