// GET /metrics: off by default, behind a bearer token when one is set, and the series an operator alerts on, read in
// the Prometheus text format after real traffic (writes, a blob, a firehose subscriber, a relay, made-up methods).
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { MethodLabels, OTHER_METHOD } from '../src/metrics/method-label.ts'
import { FirehoseClient } from './helpers/firehose-client.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, xrpc, type TestPds } from './helpers/pds.ts'
import { RelayStandIn } from './helpers/relay-standin.ts'

const TOKEN = 'metrics-token-for-the-test-0123456789'

type Sample = { name: string; labels: Record<string, string>; value: number }

/** The samples of a Prometheus text exposition (no escapes in our label values). */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(m, `a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[k] = v
    out.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return out
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}

describe('metrics', () => {
  let plc: TestPlc
  let pds: TestPds
  let relay: RelayStandIn

  before(async () => {
    plc = await startPlc()
    relay = await RelayStandIn.start()
    pds = await startPds({
      plcUrl: plc.url,
      env: {
        PDS_METRICS_ENABLED: 'true',
        PDS_METRICS_TOKEN: TOKEN,
        PDS_FEDERATION_ENABLED: 'true',
        PDS_FEDERATION_RELAY_URLS: relay.url,
      },
    })
  })
  after(async () => {
    await pds?.destroy()
    await relay?.close()
    await plc?.close()
  })

  const scrape = (authorization?: string) =>
    fetch(`${pds.url}/metrics`, { headers: authorization ? { authorization } : {} })

  it('wants the bearer token when one is set', async () => {
    for (const auth of [undefined, 'Bearer wrong-token', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`, 'Bearer ']) {
      const res = await scrape(auth)
      assert.equal(res.status, 401, `refused with ${auth}`)
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/)
      assert.doesNotMatch(await res.text(), /aurora_/)
    }
    const res = await scrape(`Bearer ${TOKEN}`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  })

  it('counts requests, writes, blobs, the firehose, relays and storage', async () => {
    const alice = await createUser(pds)
    const firehose = await FirehoseClient.connect(pds)
    const posted = []
    for (let i = 0; i < 3; i++) {
      posted.push(
        await alice.agent.com.atproto.repo.createRecord({
          repo: alice.did,
          collection: 'app.bsky.feed.post',
          record: { $type: 'app.bsky.feed.post', text: `metrics ${i}`, createdAt: new Date().toISOString() },
        }),
      )
    }
    await alice.agent.com.atproto.repo.deleteRecord({
      repo: alice.did,
      collection: 'app.bsky.feed.post',
      rkey: posted[0].data.uri.split('/').pop()!,
    })
    const blob = Buffer.alloc(12_345, 1)
    await alice.agent.com.atproto.repo.uploadBlob(blob, { encoding: 'image/png' })
    // Made-up methods: each answered (400, no service to forward to), none gets a series of its own.
    for (let i = 0; i < 25; i++) assert.equal((await xrpc(pds, `com.example.madeUp${i}`)).status, 400)
    await firehose.untilSeq(pds.ctx.sequencer.lastAssignedSeq())
    // The startup requestCrawl has been answered by the stand-in.
    if (pds.ctx.relay.status()[0].lastResult === null) await once(pds.ctx.relay, 'attempt', { signal: AbortSignal.timeout(10_000) })

    const res = await scrape(`Bearer ${TOKEN}`)
    assert.equal(res.status, 200)
    const samples = parseExposition(await res.text())
    const count = (method: string, status: string) =>
      value(samples, 'aurora_xrpc_request_duration_seconds_count', { method, status }) ?? 0

    assert.equal(count('com.atproto.repo.createRecord', '200'), 3)
    assert.equal(count('com.atproto.server.createAccount', '200'), 1)
    assert.equal(count(OTHER_METHOD, '400'), 25)
    assert.ok(!samples.some((s) => s.labels.method?.startsWith('com.example.')), 'no label per made-up method')
    // A histogram: buckets up to +Inf, which holds every request.
    assert.equal(
      value(samples, 'aurora_xrpc_request_duration_seconds_bucket', { method: 'com.atproto.repo.createRecord', status: '200', le: '+Inf' }),
      3,
    )

    assert.equal(value(samples, 'aurora_repo_writes_total', { action: 'create' }), 3)
    assert.equal(value(samples, 'aurora_repo_writes_total', { action: 'delete' }), 1)
    assert.equal(value(samples, 'aurora_repo_commit_duration_seconds_count'), 4)
    assert.equal(value(samples, 'aurora_sequencer_latest_seq'), pds.ctx.sequencer.lastAssignedSeq())
    assert.equal(value(samples, 'aurora_firehose_subscribers'), 1)
    assert.equal(value(samples, 'aurora_firehose_connections_total'), 1)
    assert.equal(value(samples, 'aurora_firehose_max_lag_events'), 0)
    assert.equal(value(samples, 'aurora_relay_request_crawl_total', { relay: relay.url, result: 'ok' }), 1)
    assert.equal(value(samples, 'aurora_relay_consecutive_failures', { relay: relay.url }), 0)
    assert.equal(value(samples, 'aurora_blob_bytes'), blob.length)
    assert.equal(value(samples, 'aurora_accounts'), 1)
    assert.ok(value(samples, 'aurora_database_file_bytes', { file: 'db' })! > 0)
    assert.ok(value(samples, 'aurora_database_file_bytes', { file: 'wal' })! >= 0)
    assert.notEqual(value(samples, 'nodejs_eventloop_lag_seconds'), undefined, "prom-client's default metrics")

    // The subscriber leaves: its disconnect is counted by reason.
    const gone = once(pds.ctx.firehose, 'disconnect', { signal: AbortSignal.timeout(10_000) })
    firehose.close()
    await gone
    const later = parseExposition(await (await scrape(`Bearer ${TOKEN}`)).text())
    assert.equal(value(later, 'aurora_firehose_subscribers'), 0)
    assert.equal(value(later, 'aurora_firehose_disconnects_total', { reason: 'Disconnected' }), 1)
  })
})

describe('metrics switched off (the default)', () => {
  it('has no /metrics', async () => {
    const pds = await startPds()
    try {
      assert.equal((await fetch(`${pds.url}/metrics`)).status, 404)
    } finally {
      await pds.destroy()
    }
  })
})

describe('method labels', () => {
  it('gives forwarded methods a label only once another service served them, up to a cap', () => {
    const labels = new MethodLabels(['com.atproto.repo.createRecord'], 2)
    assert.equal(labels.label('com.atproto.repo.createRecord', 500), 'com.atproto.repo.createRecord')
    assert.equal(labels.label('app.bsky.feed.getTimeline', 404), OTHER_METHOD)
    assert.equal(labels.label('app.bsky.feed.getTimeline', 200), 'app.bsky.feed.getTimeline')
    assert.equal(labels.label('app.bsky.feed.getTimeline', 502), 'app.bsky.feed.getTimeline', 'kept once admitted')
    assert.equal(labels.label('not an nsid', 200), OTHER_METHOD)
    assert.equal(labels.label('app.bsky.actor.getProfile', 200), 'app.bsky.actor.getProfile')
    assert.equal(labels.label('app.bsky.feed.getFeed', 200), OTHER_METHOD, 'over the cap')
  })
})
