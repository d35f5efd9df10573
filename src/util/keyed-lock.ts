// Serialises async work per key (per DID): "load root → build commit → commit" must not interleave for one repo,
// while different repos proceed independently.
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const current = new Promise<void>((resolve) => (release = resolve))
    const tail = prev.then(() => current)
    this.tails.set(key, tail)
    await prev
    try {
      return await fn()
    } finally {
      release()
      // Drop the entry when nobody queued behind us, so idle repos cost no memory.
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }

  /** Resolves once no task holds or waits for any key, tasks queued in the meantime included (shutdown). */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all(this.tails.values())
  }
}
