// What the command-line tools print (npm run migrate, npm run admin): plain lines, one per finished step (✔ done,
// ⚠ done with a caveat, ✖ failed, … waiting on the user), a meter for long transfers and a counter for long listings.
// On a terminal a meter or counter redraws one line in place; otherwise (a log, a test reading a pipe) it prints a
// line at most every `everyMs`.

export type Writer = { write: (text: string) => unknown; isTTY?: boolean }

export class Output {
  private readonly out: Writer
  private readonly err: Writer

  /** Progress and results go to `out`; the ✖ line of a failure to `err`. */
  constructor(out: Writer, err: Writer = out) {
    this.out = out
    this.err = err
  }

  line(text = ''): void {
    this.out.write(text + '\n')
  }
  ok(text: string): void {
    this.line(`✔ ${text}`)
  }
  warn(text: string): void {
    this.line(`⚠ ${text}`)
  }
  wait(text: string): void {
    this.line(`… ${text}`)
  }
  fail(text: string): void {
    this.err.write(`✖ ${text}\n`)
  }

  /**
   * A counter of long work on the error stream, so that a listing on stdout stays clean: `update(n)` shows
   * `label: n` once the work has taken `everyMs`, then at most every `everyMs` (100 ms on a terminal); `done()`
   * clears it on a terminal (elsewhere the lines printed stay). Work done sooner prints nothing.
   */
  progress(label: string, everyMs = 1000): { update: (count: number) => void; done: () => void } {
    const err = this.err
    let lastShown = 0
    const started = Date.now()
    return {
      update: (count) => {
        const now = Date.now()
        if (now - started < everyMs || now - lastShown < (err.isTTY ? 100 : everyMs)) return
        lastShown = now
        err.write(err.isTTY ? `\r\x1b[K… ${label}: ${count}` : `… ${label}: ${count}\n`)
      },
      done: () => {
        if (err.isTTY && lastShown) err.write('\r\x1b[K')
      },
    }
  }

  /** A meter for `label`: call `update` as work proceeds and `finish` once; see TransferMeter. */
  meter(label: string, total: number, everyMs = 1000): TransferMeter {
    return new TransferMeter(this.out, label, total, everyMs)
  }
}

/** Counts items and bytes against an expected item total and shows `label: 3/10, 1.2 MB, 640 kB/s`. */
export class TransferMeter {
  count = 0
  bytes = 0
  private readonly started = Date.now()
  private lastShown = 0
  private readonly out: Writer
  private readonly label: string
  private readonly total: number
  private readonly everyMs: number

  constructor(out: Writer, label: string, total: number, everyMs: number) {
    this.out = out
    this.label = label
    this.total = total
    this.everyMs = everyMs
  }

  /** One more item of `bytes` bytes done. */
  add(bytes: number): void {
    this.count += 1
    this.bytes += bytes
    const now = Date.now()
    if (now - this.lastShown >= (this.out.isTTY ? 100 : this.everyMs)) {
      this.lastShown = now
      this.show()
    }
  }

  /** Seconds since the meter started. */
  get seconds(): number {
    return (Date.now() - this.started) / 1000
  }

  /** The closing figures, e.g. `3 of 3, 1.2 MB in 2.0 s (600 kB/s)`; clears the in-place line on a terminal. */
  finish(): string {
    if (this.out.isTTY && this.lastShown) this.out.write('\r\x1b[K')
    return `${this.count} of ${this.total}, ${formatBytes(this.bytes)} in ${this.seconds.toFixed(1)} s (${formatRate(this.bytes, this.seconds)})`
  }

  private show(): void {
    const text = `  ${this.label}: ${this.count}/${this.total}, ${formatBytes(this.bytes)}, ${formatRate(this.bytes, this.seconds)}`
    this.out.write(this.out.isTTY ? `\r\x1b[K${text}` : `${text}\n`)
  }
}

/** Bytes in decimal units, as download tools show them: `512 B`, `3.4 kB`, `12.0 MB`. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let v = n
  let u = -1
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u += 1
  }
  return `${v.toFixed(1)} ${units[u]}`
}

/** `bytes` over `seconds` as `… /s`; an instant transfer counts as taking a millisecond. */
export function formatRate(bytes: number, seconds: number): string {
  return `${formatBytes(Math.round(bytes / Math.max(seconds, 0.001)))}/s`
}

/**
 * End the process with `code` once stdout and stderr are flushed: idle keep-alive sockets to the servers a tool
 * talked to would otherwise hold it open for seconds.
 */
export function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
}
