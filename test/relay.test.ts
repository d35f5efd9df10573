// The relay client: requestCrawl on start, after writes (throttled), on a poke; backoff with jitter on failures
// (500, hang, refused) and recovery; bounded state; nothing sent with federation off; relay URL validation; and the
// relay view (getHostStatus / getRepoStatus). Time runs on a fake clock; HTTP is real, to a local stand-in.
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ConfigError, parseConfig, type Config } from '../src/config/index.ts'
import type { Firehose } from '../src/firehose/firehose.ts'
import { createLogger } from '../src/logger.ts'
import type { Clock } from '../src/relay/clock.ts'
import { watchFirehose } from '../src/relay/firehose-watch.ts'
import { backoffDelay, createRelayNotifier, type CrawlAttempt, type RelayNotifier } from '../src/relay/notifier.ts'
import { relayView } from '../src/doctor/checks/relay-view.ts'
import { within } from './helpers/firehose-client.ts'
import { createUser, freePort, startPds, xrpc } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { RelayStandIn } from './helpers/relay-standin.ts'

const log = createLogger('silent')
const tmp = mkdtempSync(path.join(os.tmpdir(), 'aurora-relay-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

/** Timers that fire only when the test advances time. */
class FakeClock implements Clock {
  t = Date.UTC(2026, 0, 1)
  private nextId = 1
  readonly timers = new Map<number, { at: number; fn: () => void }>()
  now = () => this.t
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.nextId++
    this.timers.set(id, { at: this.t + ms, fn })
    return id
  }
  clearTimeout = (id: unknown) => {
    this.timers.delete(id as number)
  }
  /** Move time forward, firing due timers in order (including ones they schedule). */
  advance(ms: number): void {
    const end = this.t + ms
    for (;;) {
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0]
      if (!due) break
      this.timers.delete(due[0])
      this.t = Math.max(this.t, due[1].at)
      due[1].fn()
    }
    this.t = end
  }
}

function cfgFor(env: Record<string, string>): Config {
  return parseConfig({ PDS_DATA_DIRECTORY: path.join(tmp, 'data'), PDS_LOG_LEVEL: 'silent', ...env })
}

function nextAttempt(n: RelayNotifier): Promise<CrawlAttempt> {
  return within(once(n, 'attempt').then(([a]) => a as CrawlAttempt), 10_000, 'a requestCrawl attempt to finish')
}

const msUntilNext = (n: RelayNotifier, clock: FakeClock): number => Date.parse(n.status()[0].nextAttemptAt!) - clock.now()

describe('relay URL configuration', () => {
  for (const [value, pattern] of [
    ['bsky.network', /^PDS_FEDERATION_RELAY_URLS: "bsky\.network" is not a URL: expected a relay URL such as https:\/\/bsky\.network$/],
    ['https://ok.example, ftp://relay.example', /^PDS_FEDERATION_RELAY_URLS: "ftp:\/\/relay\.example" is not an http\(s\) URL/],
    ['https://relay.example/xrpc', /^PDS_FEDERATION_RELAY_URLS: "https:\/\/relay\.example\/xrpc" has a path or query/],
    ['https://user:pw@relay.example', /^PDS_FEDERATION_RELAY_URLS: .* must not carry credentials/],
  ] as const) {
    it(`refuses ${value} at config time, naming it`, () => {
      assert.throws(
        () => cfgFor({ PDS_FEDERATION_RELAY_URLS: value }),
        (err: Error) => err instanceof ConfigError && pattern.test(err.message),
      )
    })
  }

  it('refuses a malformed PDS_CRAWLERS too, and normalizes good URLs to origins', () => {
    assert.throws(
      () => cfgFor({ PDS_CRAWLERS: 'relay with spaces' }),
      (err: Error) => err instanceof ConfigError && /^PDS_CRAWLERS: "relay with spaces" is not a URL/.test(err.message),
    )
    const cfg = cfgFor({ PDS_FEDERATION_RELAY_URLS: 'https://Relay.Example/, http://localhost:2470' })
    assert.deepEqual(cfg.federation.relayUrls, ['https://relay.example', 'http://localhost:2470'])
  })

  it('parses the requestCrawl interval (seconds) and rejects nonsense', () => {
    assert.equal(cfgFor({}).federation.requestCrawlIntervalMs, 300_000)
    assert.equal(cfgFor({ PDS_FEDERATION_REQUEST_CRAWL_INTERVAL_SECONDS: '90' }).federation.requestCrawlIntervalMs, 90_000)
    for (const bad of ['soon', '0', '-5']) {
      assert.throws(
        () => cfgFor({ PDS_FEDERATION_REQUEST_CRAWL_INTERVAL_SECONDS: bad }),
        (err: Error) => err instanceof ConfigError && err.message.startsWith('PDS_FEDERATION_REQUEST_CRAWL_INTERVAL_SECONDS: '),
      )
    }
  })
})

describe('backoffDelay', () => {
  it('doubles per failure, stays within [step/2, step] and never exceeds the cap', () => {
    const mid = () => 0.5
    assert.deepEqual([1, 2, 3, 4].map((f) => backoffDelay(f, 1000, 60_000, mid)), [750, 1500, 3000, 6000])
    for (const f of [1, 5, 9]) {
      const step = Math.min(60_000, 1000 * 2 ** (f - 1))
      assert.equal(backoffDelay(f, 1000, 60_000, () => 0), step / 2)
      assert.equal(backoffDelay(f, 1000, 60_000, () => 0.999999), step)
    }
    assert.equal(backoffDelay(10_000, 1000, 60_000, () => 0.999999), 60_000)
  })
})

describe('relay notifier', () => {
  let plc: TestPlc
  let relay: RelayStandIn
  before(async () => {
    plc = await startPlc()
    relay = await RelayStandIn.start()
  })
  after(async () => {
    await relay.close()
    await plc.close()
  })

  it('the server itself asks its relays at startup and shows them on the status page (production wiring)', async () => {
    const standIn = await RelayStandIn.start()
    const pds = await startPds({
      plcUrl: plc.url,
      env: { PDS_FEDERATION_ENABLED: 'true', PDS_FEDERATION_RELAY_URLS: standIn.url },
    })
    try {
      await standIn.waitForCrawls(1, 10_000)
      assert.deepEqual(standIn.crawls[0].body, { hostname: 'localhost' })
      const [status] = pds.ctx.relay.status()
      assert.equal(status.url, standIn.url)
      const page = await fetch(pds.url + '/', { headers: { accept: 'text/html' } }).then((r) => r.text())
      assert.ok(page.includes(standIn.url), 'the status page lists the relay')
    } finally {
      await pds.destroy()
      await standIn.close()
    }
  })

  it('sends nothing with federation disabled, whatever happens', async () => {
    const pds = await startPds({ plcUrl: plc.url, env: { PDS_FEDERATION_RELAY_URLS: relay.url, PDS_FEDERATION_AUTO_STREAM: 'true' } })
    const clock = new FakeClock()
    let fetches = 0
    const before = relay.requests.length
    const listeners = pds.ctx.sequencer.listenerCount('events')
    const notifier = createRelayNotifier({
      cfg: pds.ctx.cfg,
      sequencer: pds.ctx.sequencer,
      log,
      clock,
      fetch: (...args) => {
        fetches += 1
        return fetch(...args)
      },
    })
    try {
      assert.equal(pds.ctx.cfg.federation.enabled, false)
      assert.equal(notifier.active, false)
      notifier.start()
      // Writes emit the sequencer's `events` synchronously after commit, before the response: they have happened.
      const user = await createUser(pds)
      await user.agent.com.atproto.repo.createRecord({
        repo: user.did,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: 'hi', createdAt: new Date().toISOString() },
      })
      notifier.poke('test')
      notifier.onSubscriberLoss()
      clock.advance(24 * 3600_000)
      assert.equal(fetches, 0)
      assert.equal(relay.requests.length, before)
      assert.equal(clock.timers.size, 0)
      assert.deepEqual(notifier.status(), [])
      assert.equal(pds.ctx.sequencer.listenerCount('events'), listeners, 'no write listener attached')
    } finally {
      await notifier.stop()
      await pds.destroy()
    }
  })

  it('asks at startup, then after writes at most once per interval (leading and trailing)', async () => {
    const interval = 300_000
    // The server's own notifier stays off (federation disabled); this one runs on a fake clock with it enabled.
    const pds = await startPds({ plcUrl: plc.url, env: { PDS_FEDERATION_RELAY_URLS: relay.url } })
    const cfg = { ...pds.ctx.cfg, federation: { ...pds.ctx.cfg.federation, enabled: true, autoStream: true } }
    const clock = new FakeClock()
    const notifier = createRelayNotifier({ cfg, sequencer: pds.ctx.sequencer, log, clock, userAgent: 'aurora-test' })
    const base = relay.crawls.length
    try {
      assert.equal(pds.ctx.cfg.federation.requestCrawlIntervalMs, interval)
      let done = nextAttempt(notifier)
      notifier.start()
      const first = await done
      assert.equal(first.ok, true)
      assert.equal(first.reason, 'startup')
      assert.equal(relay.crawls.length, base + 1)
      assert.deepEqual(relay.crawls[base].body, { hostname: 'localhost' })
      assert.equal(relay.crawls[base].userAgent, 'aurora-test')
      const s0 = notifier.status()[0]
      assert.equal(s0.url, relay.url)
      assert.equal(s0.lastResult, 'ok')
      assert.equal(s0.lastSuccessAt, new Date(clock.now()).toISOString())
      assert.equal(s0.nextAttemptAt, null)

      // A burst of writes inside the interval: nothing now, one trailing request scheduled at the interval's end.
      clock.advance(10_000)
      const user = await createUser(pds)
      for (let i = 0; i < 3; i++) {
        await user.agent.com.atproto.repo.createRecord({
          repo: user.did,
          collection: 'app.bsky.feed.post',
          record: { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: new Date().toISOString() },
        })
      }
      assert.equal(relay.crawls.length, base + 1, 'no request inside the interval')
      assert.equal(clock.timers.size, 1, 'one trailing request scheduled, not one per write')
      assert.equal(msUntilNext(notifier, clock), interval - 10_000)
      assert.equal(notifier.status()[0].nextAttemptReason, 'write')

      done = nextAttempt(notifier)
      clock.advance(interval - 10_000)
      const trailing = await done
      assert.equal(trailing.reason, 'write')
      assert.equal(relay.crawls.length, base + 2)

      // No writes: nothing more, however long we wait.
      clock.advance(10 * interval)
      assert.equal(clock.timers.size, 0)
      assert.equal(relay.crawls.length, base + 2)

      // The first write after a quiet interval goes at once (leading edge).
      done = nextAttempt(notifier)
      await user.agent.com.atproto.repo.createRecord({
        repo: user.did,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: 'later', createdAt: new Date().toISOString() },
      })
      assert.equal((await done).reason, 'write')
      assert.equal(relay.crawls.length, base + 3)
      assert.ok(relay.crawls.slice(base).every((c) => c.hostname === 'localhost'))
    } finally {
      await notifier.stop()
      await pds.destroy()
    }
  })

  it('backs off with growing spacing on 500 / hang / refused, adds no load meanwhile, and recovers', async () => {
    const flaky = await RelayStandIn.start()
    const clock = new FakeClock()
    const sequencer = new EventEmitter<{ events: [number] }>()
    const notifier = createRelayNotifier({
      cfg: cfgFor({ PDS_FEDERATION_ENABLED: 'true', PDS_FEDERATION_RELAY_URLS: flaky.url, PDS_PUBLIC_URL: 'https://pds.example.com' }),
      sequencer,
      log,
      clock,
      random: () => 0.5,
      timing: { retryBaseMs: 1000, retryMaxMs: 60_000, requestTimeoutMs: 5000 },
    })
    try {
      flaky.mode = 'error500'
      let done = nextAttempt(notifier)
      notifier.start()
      const a1 = await done
      assert.equal(a1.ok, false)
      assert.equal(a1.status, 500)
      assert.match(a1.error!, /^HTTP 500 InternalServerError: relay stand-in is failing$/)
      assert.deepEqual(flaky.crawls[0].body, { hostname: 'pds.example.com' })
      const d1 = msUntilNext(notifier, clock)

      // While backing off, writes and pokes are absorbed by the pending retry.
      for (let i = 0; i < 20; i++) sequencer.emit('events', i)
      notifier.poke('test')
      assert.equal(clock.timers.size, 1)
      assert.equal(msUntilNext(notifier, clock), d1)
      assert.equal(flaky.crawls.length, 1)

      done = nextAttempt(notifier)
      clock.advance(d1)
      assert.equal((await done).status, 500)
      const d2 = msUntilNext(notifier, clock)

      // A relay that accepts the request and never answers: the timeout frees the slot.
      flaky.mode = 'hang'
      done = nextAttempt(notifier)
      clock.advance(d2)
      await flaky.waitForCrawls(3)
      assert.equal(notifier.status()[0].inFlight, true)
      notifier.poke('while hanging')
      sequencer.emit('events', 99)
      assert.equal(flaky.crawls.length, 3, 'one request in flight per relay, no more')
      clock.advance(5000)
      const a3 = await done
      assert.equal(a3.ok, false)
      assert.equal(a3.error, 'no answer within 5 s')
      const d3 = msUntilNext(notifier, clock)

      // Nobody listening: connection refused.
      await flaky.stopListening()
      done = nextAttempt(notifier)
      clock.advance(d3)
      const a4 = await done
      assert.equal(a4.ok, false)
      assert.match(a4.error!, /ECONNREFUSED/)
      const d4 = msUntilNext(notifier, clock)
      assert.deepEqual([d1, d2, d3, d4], [750, 1500, 3000, 6000], 'spacing doubles per consecutive failure')
      assert.equal(notifier.status()[0].consecutiveFailures, 4)

      // Back up: the next retry succeeds and the notifier is calm again.
      await flaky.listenAgain()
      flaky.mode = 'ok'
      done = nextAttempt(notifier)
      clock.advance(d4)
      const a5 = await done
      assert.equal(a5.ok, true)
      assert.equal(a5.reason, 'retry')
      const s = notifier.status()[0]
      assert.equal(s.consecutiveFailures, 0)
      assert.equal(s.lastResult, 'ok')
      assert.equal(s.lastError, null)
      assert.equal(s.nextAttemptAt, null)
      assert.deepEqual(
        s.history.map((h) => h.ok),
        [false, false, false, false, true],
      )
      assert.equal(clock.timers.size, 0)
    } finally {
      await notifier.stop()
      await flaky.close()
    }
  })

  it('a relay that stays down costs bounded memory and gets one request when it returns', async () => {
    const port = await freePort()
    const clock = new FakeClock()
    const sequencer = new EventEmitter<{ events: [number] }>()
    const maxMs = 30 * 60_000
    const notifier = createRelayNotifier({
      cfg: cfgFor({ PDS_FEDERATION_ENABLED: 'true', PDS_FEDERATION_RELAY_URLS: `http://localhost:${port}` }),
      sequencer,
      log,
      clock,
      timing: { retryBaseMs: 10_000, retryMaxMs: maxMs, historySize: 20 },
    })
    let back: RelayStandIn | undefined
    try {
      let done = nextAttempt(notifier)
      notifier.start()
      await done
      const delays: number[] = []
      for (let i = 0; i < 40; i++) {
        sequencer.emit('events', i)
        const d = msUntilNext(notifier, clock)
        delays.push(d)
        done = nextAttempt(notifier)
        clock.advance(d)
        assert.equal((await done).ok, false)
      }
      const s = notifier.status()[0]
      assert.equal(s.consecutiveFailures, 41)
      assert.equal(s.history.length, 20, 'history is a bounded ring')
      assert.equal(clock.timers.size, 1, 'one pending retry, nothing else')
      assert.ok(delays.every((d) => d <= maxMs), 'retries are capped')
      assert.ok(delays.slice(-10).every((d) => d >= maxMs / 2), 'after a long outage retries stay spaced at the cap')

      // The relay comes back after hours: a single request at the next retry, then quiet.
      back = await RelayStandIn.start(port)
      done = nextAttempt(notifier)
      clock.advance(msUntilNext(notifier, clock))
      const backAttempt = await done
      assert.equal(backAttempt.ok, true, backAttempt.error)
      clock.advance(6 * 3600_000)
      assert.equal(back.crawls.length, 1)
      assert.equal(clock.timers.size, 0)
    } finally {
      await notifier.stop()
      await back?.close()
    }
  })

  it('a poke asks again soon (spaced from the last attempt); stop() cancels and aborts', async () => {
    const r = await RelayStandIn.start()
    const clock = new FakeClock()
    const notifier = createRelayNotifier({
      cfg: cfgFor({ PDS_FEDERATION_ENABLED: 'true', PDS_FEDERATION_RELAY_URLS: r.url, PDS_FEDERATION_AUTO_STREAM: 'false' }),
      log,
      clock,
      timing: { pokeIntervalMs: 60_000 },
    })
    try {
      let done = nextAttempt(notifier)
      notifier.start()
      await done
      clock.advance(5_000)
      notifier.onSubscriberLoss()
      assert.equal(msUntilNext(notifier, clock), 55_000)
      assert.match(notifier.status()[0].nextAttemptReason!, /^poke: firehose lost its subscribers$/)
      done = nextAttempt(notifier)
      clock.advance(55_000)
      assert.equal((await done).ok, true)
      assert.equal(r.crawls.length, 2)

      // A poke long after the last attempt goes at once; stop() aborts it mid-flight and nothing follows.
      r.mode = 'hang'
      clock.advance(3600_000)
      notifier.poke('again')
      await r.waitForCrawls(3)
      await within(notifier.stop(), 5_000, 'stop() with a request in flight')
      assert.equal(clock.timers.size, 0)
      notifier.poke('after stop')
      clock.advance(3600_000)
      assert.equal(r.crawls.length, 3)
    } finally {
      await notifier.stop()
      await r.close()
    }
  })

  it('watchFirehose pokes when the firehose stays without subscribers for the grace period', () => {
    const clock = new FakeClock()
    let count = 1
    const fh = Object.assign(new EventEmitter(), { stats: () => ({ subscriberCount: count }) })
    let losses = 0
    const unwatch = watchFirehose(fh as unknown as Firehose, { onSubscriberLoss: () => (losses += 1) }, { graceMs: 60_000, clock })

    count = 0
    fh.emit('disconnect', { reason: 'Disconnected' })
    clock.advance(30_000)
    count = 1
    fh.emit('connect', {})
    clock.advance(60_000)
    assert.equal(losses, 0, 'a reconnect within the grace period cancels')

    count = 0
    fh.emit('disconnect', { reason: 'KeepaliveTimeout' })
    fh.emit('disconnect', { reason: 'Disconnected' })
    clock.advance(60_000)
    assert.equal(losses, 1)

    fh.emit('disconnect', { reason: 'ServerShutdown' })
    clock.advance(120_000)
    assert.equal(losses, 1, 'shutdown is not a loss')

    fh.emit('disconnect', { reason: 'Disconnected' })
    unwatch()
    clock.advance(120_000)
    assert.equal(losses, 1)
    assert.equal(fh.listenerCount('disconnect') + fh.listenerCount('connect'), 0)
  })
})

describe('relay view', () => {
  let plc: TestPlc
  before(async () => {
    plc = await startPlc()
  })
  after(() => plc.close())

  it('reports what a relay knows of us and how far behind it is', async () => {
    const pds = await startPds({ plcUrl: plc.url })
    const r = await RelayStandIn.start()
    try {
      const alice = await createUser(pds)
      const bob = await createUser(pds)
      const ours = (did: string) => xrpc(pds, 'com.atproto.sync.getRepoStatus', { query: { did } }).then((x) => x.body.rev as string)
      const aliceRev = await ours(alice.did)
      const bobRev = await ours(bob.did)
      const latestSeq = pds.ctx.sequencer.latestSeq()
      r.onQuery = (nsid, params) => {
        if (nsid === 'com.atproto.sync.getHostStatus') {
          assert.equal(params.get('hostname'), 'localhost')
          return { status: 200, body: { hostname: 'localhost', seq: latestSeq - 2, accountCount: 2, status: 'active' } }
        }
        if (nsid === 'com.atproto.sync.getRepoStatus') {
          const did = params.get('did')
          if (did === alice.did) return { status: 200, body: { did, active: true, rev: aliceRev } }
          if (did === bob.did) return { status: 200, body: { did, active: true, rev: '2222222222222' } }
          return { status: 400, body: { error: 'RepoNotFound', message: 'no such repo' } }
        }
      }
      const view = await relayView(r.url, 'localhost', [alice.did, bob.did, 'did:plc:unknownunknownunknown'], {
        local: { seq: latestSeq, revs: { [alice.did]: aliceRev, [bob.did]: bobRev } },
      })
      assert.equal(view.reachable, true)
      assert.deepEqual(view.host, { supported: true, found: true, status: 'active', seq: latestSeq - 2, accountCount: 2 })
      assert.equal(view.behindEvents, 2)
      assert.deepEqual(
        view.repos.map((x) => [x.did, x.found, x.inSync]),
        [
          [alice.did, true, true],
          [bob.did, true, false],
          ['did:plc:unknownunknownunknown', false, undefined],
        ],
      )
      assert.equal(view.repos[0].source, 'getRepoStatus')

      // A relay without getHostStatus/getRepoStatus but with getLatestCommit; then one that knows nothing of us.
      r.onQuery = (nsid, params) =>
        nsid === 'com.atproto.sync.getLatestCommit' ? { status: 200, body: { cid: 'bafy', rev: params.get('did') === alice.did ? aliceRev : 'x' } } : undefined
      const partial = await relayView(r.url, 'localhost', [alice.did], { local: { revs: { [alice.did]: aliceRev } } })
      assert.equal(partial.host.supported, false)
      assert.deepEqual([partial.repos[0].source, partial.repos[0].inSync], ['getLatestCommit', true])

      r.onQuery = (nsid) => (nsid === 'com.atproto.sync.getHostStatus' ? { status: 400, body: { error: 'HostNotFound' } } : undefined)
      const stranger = await relayView(r.url, 'localhost', [alice.did])
      assert.deepEqual(stranger.host, { supported: true, found: false })
      assert.deepEqual(stranger.repos, [{ did: alice.did, supported: false }])

      await r.stopListening()
      const down = await relayView(r.url, 'localhost', [alice.did])
      assert.equal(down.reachable, false)
      assert.match(down.error!, /ECONNREFUSED/)
    } finally {
      await r.close()
      await pds.destroy()
    }
  })
})
