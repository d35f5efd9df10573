// A relay that drops our firehose (its own restart, a network blip, marking us offline) does not always come back by
// itself. When the firehose has had no subscriber at all for a grace period, poke the notifier so every relay is
// asked to crawl again. Behind a proxy every subscriber shares the proxy's address, so "the relay's subscriber" cannot
// be told apart reliably; the throttled requestCrawl after writes covers the case where others stay connected.
import type { Firehose } from '../firehose/firehose.ts'
import { realClock, type Clock } from './clock.ts'

export type SubscriberLossTarget = { onSubscriberLoss(): void }

export function watchFirehose(
  firehose: Pick<Firehose, 'on' | 'off' | 'stats'>,
  target: SubscriberLossTarget,
  opts: { graceMs?: number; clock?: Clock } = {},
): () => void {
  const graceMs = opts.graceMs ?? 60_000
  const clock = opts.clock ?? realClock
  let timer: unknown
  let armed = false

  const disarm = () => {
    if (armed) clock.clearTimeout(timer)
    armed = false
  }
  const onDisconnect = (info: { reason: string }) => {
    if (info.reason === 'ServerShutdown' || armed || firehose.stats().subscriberCount > 0) return
    armed = true
    timer = clock.setTimeout(() => {
      armed = false
      if (firehose.stats().subscriberCount === 0) target.onSubscriberLoss()
    }, graceMs)
  }
  firehose.on('disconnect', onDisconnect)
  firehose.on('connect', disarm)
  return () => {
    disarm()
    firehose.off('disconnect', onDisconnect)
    firehose.off('connect', disarm)
  }
}
