/**
 * At most `concurrency` calls of `run` in flight; the rest wait their turn, first come first served. For work handed
 * to a shared, small resource (libuv's threadpool) that must not be filled by one kind of job.
 */
export function createLimiter(concurrency: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0
  const waiting: (() => void)[] = []
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else active -= 1
  }
  return async (fn) => {
    // A freed slot passes straight to the next waiter, so `active` never dips and lets a newcomer jump the queue.
    if (active < concurrency) active += 1
    else await new Promise<void>((resolve) => waiting.push(resolve))
    try {
      return await fn()
    } finally {
      release()
    }
  }
}
