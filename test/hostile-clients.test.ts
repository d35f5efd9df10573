// Clients that hold on to what they are sent, on a server open to the internet: firehose replays that never read
// (memory stays bounded, they are cut off), peers that ping but never answer our pings, caps on open firehose sockets,
// repo exports that stall (no snapshot is pinned: the WAL stays bounded; the idle deadline cuts them off) and the cap
// on concurrent exports. Memory and WAL sizes are measured against a baseline taken in the same test.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import v8 from 'node:v8'
import vm from 'node:vm'
import { readCarStream, verifyRepoCar } from '@atproto/repo'
import { parseConfig } from '../src/config/index.ts'
import { assertConfigRefuses } from './helpers/config.ts'
import { carStreams, type CarStreamInfo } from '../src/repo/car-stream.ts'
import type { Firehose } from '../src/firehose/firehose.ts'
import type { SubscriberInfo } from '../src/firehose/subscriber.ts'
import { decodeFrame } from '../src/protocol/frames.ts'
import { FirehoseClient, firehoseUrl, refusedUpgrade, within } from './helpers/firehose-client.ts'
import { createUser, startPds, xrpc, type TestPds } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { signingDidKey } from './helpers/repo-check.ts'

v8.setFlagsFromString('--expose-gc')
// Freed buffers must leave process.memoryUsage() when gc() returns, not later on a background thread.
v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping')
const gc = vm.runInNewContext('gc') as () => void
const live = () => {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
const MiB = 1024 * 1024
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`

type User = Awaited<ReturnType<typeof createUser>>
type Disconnect = SubscriberInfo & { reason: string }

/** `batches` commits of `perBatch` new records of ~16 kB each (random, so every record is a new block). Returns the JSON bytes. */
async function writeRecords(user: User, batches: number, perBatch = 25): Promise<number> {
  let bytes = 0
  for (let b = 0; b < batches; b++) {
    const writes = Array.from({ length: perBatch }, () => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection: 'com.example.filler',
      value: { $type: 'com.example.filler', data: randomBytes(12_000).toString('base64') },
    }))
    bytes += JSON.stringify(writes).length
    await user.agent.com.atproto.repo.applyWrites({ repo: user.did, writes })
  }
  return bytes
}

// A subscriber on a bare TCP socket, paused from the start: nothing the server sends leaves the kernel, and the test
// process (which is also the server) holds none of it.
const PING = Buffer.from([0x89, 0x80, 0, 0, 0, 0]) // FIN + ping, masked with a zero key, no payload

function stalledSubscriber(pds: TestPds, query: string): net.Socket {
  const url = new URL(firehoseUrl(pds, query))
  const socket = net.connect(Number(url.port), '127.0.0.1')
  socket.pause()
  socket.on('error', () => {})
  socket.write(
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  return socket
}

/** A frame from the server: an event's seq, or the payload of anything else (error frame, close frame). */
type WsFrame = { opcode: number; seq?: number; payload?: Buffer }

/** Read a stalled subscriber's socket until the server's close frame: the frames after the HTTP response head. */
function readUntilClose(socket: net.Socket): Promise<WsFrame[]> {
  const frames: WsFrame[] = []
  let buf = Buffer.alloc(0)
  let headDone = false
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      if (!headDone) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        buf = buf.subarray(end + 4)
        headDone = true
      }
      for (;;) {
        if (buf.length < 2) return
        let len = buf[1] & 0x7f
        let head = 2
        if (len === 126) [len, head] = [buf.length >= 4 ? buf.readUInt16BE(2) : Infinity, 4]
        else if (len === 127) [len, head] = [buf.length >= 10 ? Number(buf.readBigUInt64BE(2)) : Infinity, 10]
        if (buf.length < head + len) return
        const opcode = buf[0] & 0x0f
        const payload = Buffer.from(buf.subarray(head, head + len))
        buf = buf.subarray(head + len)
        // Of an event only its seq is kept: 25 sockets' worth of frames need not stay in memory.
        const seq = opcode === 2 ? decodeFrame(payload).body.seq : undefined
        frames.push(typeof seq === 'number' ? { opcode, seq } : { opcode, payload })
        if (opcode === 8) {
          socket.destroy()
          resolve(frames)
          return
        }
      }
    })
    socket.once('close', () => reject(new Error('the socket closed before a close frame')))
    socket.resume()
  })
}

function collectDisconnects(firehose: Firehose): { list: Disconnect[]; stop: () => void } {
  const list: Disconnect[] = []
  const listener = (info: Disconnect) => list.push(info)
  firehose.on('disconnect', listener)
  return { list, stop: () => firehose.off('disconnect', listener) }
}

/** Wait (bounded) until `done()` holds, checking on every event `emitter` sends. */
function until(emitter: EventEmitter<any>, event: string, done: () => boolean, ms: number, what: string) {
  if (done()) return Promise.resolve()
  let listener!: () => void
  return within(
    new Promise<void>((resolve) => {
      listener = () => done() && resolve()
      emitter.on(event, listener)
    }),
    ms,
    what,
  ).finally(() => emitter.off(event, listener))
}

/** A getRepo/getCheckout request whose client reads the first chunk and then stops reading. */
async function pausedExport(pds: TestPds, query: string, nsid = 'com.atproto.sync.getRepo') {
  const res = await within(
    new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${pds.url}/xrpc/${nsid}?${query}`, resolve).once('error', reject)
    }),
    10_000,
    'the export response',
  )
  assert.equal(res.statusCode, 200)
  const chunks: Buffer[] = []
  // Every chunk is kept from the start: one socket read can emit several before the pause, as the await below waits
  // a microtask.
  const first = new Promise((resolve) => res.once('data', resolve))
  res.on('data', (c: Buffer) => chunks.push(c))
  await within(first, 10_000, 'the first chunk')
  res.pause()
  return {
    res,
    /** Read the rest; resolves with every byte, or rejects if the response was cut. */
    finish: () =>
      within(
        new Promise<Buffer>((resolve, reject) => {
          res.once('end', () => (res.complete ? resolve(Buffer.concat(chunks)) : reject(new Error('cut'))))
          res.once('error', reject)
          res.once('aborted', () => reject(new Error('aborted')))
          res.once('close', () => reject(new Error('closed before the end')))
          res.resume()
        }),
        30_000,
        'the rest of the export',
      ),
  }
}

function nextCarClose(match: (info: CarStreamInfo) => boolean): Promise<CarStreamInfo> {
  return new Promise((resolve) => {
    const listener = (info: CarStreamInfo) => {
      if (!match(info)) return
      carStreams.off('close', listener)
      resolve(info)
    }
    carStreams.on('close', listener)
  })
}

describe('hostile clients', () => {
  let plc: TestPlc
  let pds: TestPds
  let user: User
  const STALL_SECONDS = 1

  before(async () => {
    plc = await startPlc()
    pds = await startPds({
      plcUrl: plc.url,
      env: {
        PDS_MAX_REQUEST_BYTES: String(MiB), // applyWrites of 25 × 16 kB records, above the 150 KiB default
        PDS_FIREHOSE_STALL_TIMEOUT_SECONDS: String(STALL_SECONDS),
        PDS_FIREHOSE_MAX_CONNECTIONS_PER_IP: '0',
        PDS_RATE_LIMIT_FIREHOSE_CONNECTS_PER_MINUTE: '0',
        PDS_RATE_LIMIT_SYNC_PER_MINUTE: '0',
      },
    })
    user = await createUser(pds)
    // ~13 MB of records in 32 commits: a repo larger than what socket buffers absorb, and a log of ~400 kB frames.
    await writeRecords(user, 32)
  })
  after(async () => {
    await pds?.destroy()
    await plc?.close()
  })

  it('25 replays from cursor 0 that never read but keep pinging hold bounded memory and are cut off', async (t) => {
    const firehose = pds.ctx.firehose
    const rows = pds.ctx.sequencer.range(0, 1_000_000)
    const last = rows.at(-1)!.seq
    const logBytes = rows.reduce((n, r) => n + r.frame.byteLength, 0)
    const maxFrame = Math.max(...rows.map((r) => r.frame.byteLength))
    const window = pds.ctx.cfg.firehose.socketBufferBytes
    // A reader that keeps up gets everything (and warms the JIT and the event cache for the baseline).
    const warm = await FirehoseClient.connect(pds, { cursor: 0 })
    await warm.untilSeq(last)
    assert.deepEqual(warm.seqs, rows.map((r) => r.seq))
    warm.close()
    await until(firehose, 'closed', () => firehose.stats().openSockets === 0, 10_000, 'the warm-up socket to close')
    gc()
    gc()
    const base = live()
    const baseRss = process.memoryUsage().rss

    const disconnects = collectDisconnects(firehose)
    const sockets = Array.from({ length: 25 }, () => stalledSubscriber(pds, '?cursor=0'))
    const pinger = setInterval(() => sockets.forEach((s) => s.write(PING)), 200)
    let peak = 0
    let peakRss = 0
    const sample = () => {
      gc()
      peak = Math.max(peak, live() - base)
      peakRss = Math.max(peakRss, process.memoryUsage().rss - baseRss)
    }
    const sampler = setInterval(sample, 100)
    let cutOff: unknown
    try {
      // Stall deadline plus time to fill the socket buffers; without a deadline nobody would ever be cut off.
      cutOff = await until(firehose, 'disconnect', () => disconnects.list.length >= 25, (STALL_SECONDS + 10) * 1000, 'the cut-offs')
        .then(() => null, (err: unknown) => err)
      sample()
    } finally {
      clearInterval(sampler)
      clearInterval(pinger)
      disconnects.stop()
      if (cutOff !== null) sockets.forEach((s) => s.destroy())
    }
    const bound = 25 * (window + maxFrame)
    t.diagnostic(
      `log ${mib(logBytes)} in ${rows.length} events (largest ${mib(maxFrame)}); window ${mib(window)}; ` +
        `peak growth with 25 stalled replays: live ${mib(peak)}, rss ${mib(peakRss)}; bound ${mib(bound)}`,
    )
    assert.equal(cutOff, null, 'every stalled replay is cut off')
    assert.deepEqual(new Set(disconnects.list.map((d) => d.reason)), new Set(['ConsumerTooSlow']))
    assert.ok(disconnects.list.every((d) => !d.live), 'cut off during replay')
    // Each holds at most its window plus one frame; the log itself (25 × its size) is never loaded.
    assert.ok(peak < bound + 16 * MiB, `live memory grew by ${mib(peak)} (bound ${mib(bound)})`)
    assert.ok(peak < (25 * logBytes) / 4, `live memory grew by ${mib(peak)}, a fair share of 25 × the log`)

    // Once they read again: the events from seq 1 without a gap, then ConsumerTooSlow and a 1008 close.
    const frames = await Promise.all(sockets.map((s) => readUntilClose(s))).finally(() => sockets.forEach((s) => s.destroy()))
    for (const fs of frames) {
      const close = fs.at(-1)!.payload!
      assert.equal(close.readUInt16BE(0), 1008)
      assert.equal(close.subarray(2).toString(), 'ConsumerTooSlow')
      const error = decodeFrame(fs.filter((f) => f.opcode === 2).at(-1)!.payload!)
      assert.deepEqual(error.header, { op: -1 })
      assert.equal(error.body.error, 'ConsumerTooSlow')
      const seqs = fs.flatMap((f) => (f.seq === undefined ? [] : [f.seq]))
      assert.ok(seqs.length < rows.length, 'stopped before the end of the log')
      assert.deepEqual(seqs, rows.slice(0, seqs.length).map((r) => r.seq))
    }
    await until(firehose, 'closed', () => firehose.stats().openSockets === 0, 10_000, 'the server sides to close')
  })

  it('a peer that sends pings but never answers ours is dropped after the keepalive window', async () => {
    const firehose = pds.ctx.firehose
    const timing = firehose.keepalive.current
    firehose.keepalive.start({ intervalMs: 100, timeoutMs: 600 })
    const healthy = await FirehoseClient.connect(pds)
    const deaf = await FirehoseClient.connect(pds, { autoPong: false })
    const deafId = firehose.stats().subscribers.reduce((a, b) => (b.id > a.id ? b : a)).id
    const pinger = setInterval(() => deaf.ws.ping(), 50)
    try {
      const disconnects = collectDisconnects(firehose)
      await until(firehose, 'disconnect', () => disconnects.list.some((d) => d.id === deafId), 10_000, 'the deaf peer to be dropped')
        .finally(disconnects.stop)
      assert.equal(disconnects.list.find((d) => d.id === deafId)!.reason, 'KeepaliveTimeout')
      assert.ok(deaf.pings > 0, 'it was pinged')
      assert.ok(healthy.pings > 0 && healthy.closeInfo === undefined, 'a peer that answers stays')
      assert.equal(firehose.stats().subscriberCount, 1)
    } finally {
      clearInterval(pinger)
      firehose.keepalive.start(timing)
      healthy.close()
      deaf.close()
    }
  })

  it('a stalled getRepo pins no snapshot: the WAL stays bounded while writes run, and the export is the commit it started from', async (t) => {
    const walFile = path.join(pds.dataDir, 'pds.sqlite-wal')
    const wal = () => statSync(walFile).size
    // Baseline: the WAL after a round of writes with no export open (after a checkpoint it is reused, not shrunk).
    await writeRecords(user, 8)
    const before = wal()
    const pinned = pds.ctx.repo.root(user.did)!
    const records = pds.ctx.records.count(user.did)
    const firstRev = (pds.db.prepare('SELECT min(rev) FROM repo_block WHERE did = ?').pluck().get(user.did)) as string
    const diffRows = pds.db
      .prepare('SELECT cid FROM repo_block WHERE did = ? AND rev > ? ORDER BY rev, cid')
      .pluck()
      .all(user.did, firstRev) as string[]
    const full = await pausedExport(pds, `did=${user.did}`)
    const diff = await pausedExport(pds, `did=${user.did}&since=${firstRev}`)
    t.after(() => [full, diff].forEach((e) => e.res.destroy()))
    // The same round again, plus deletes: commits that remove blocks both exports have not sent yet.
    const written = await writeRecords(user, 8)
    const rkeys = pds.db.prepare('SELECT rkey FROM record WHERE did = ? ORDER BY rkey LIMIT 100').pluck().all(user.did) as string[]
    await user.agent.com.atproto.repo.applyWrites({
      repo: user.did,
      writes: rkeys.map((rkey) => ({ $type: 'com.atproto.repo.applyWrites#delete' as const, collection: 'com.example.filler', rkey })),
    })
    const during = wal()
    t.diagnostic(`WAL ${mib(before)} after a round of writes alone, ${mib(during)} after the same round (${mib(written)} of records) under two stalled exports`)
    assert.ok(during - before < written / 2, `the WAL grew by ${mib(during - before)} while ${mib(written)} was written`)

    assert.equal(pds.ctx.repo.exports.active, 2, 'both exports are still open, stalled')
    const retired = () => pds.db.prepare('SELECT count(*) FROM temp.repo_block_retired').pluck().get() as number
    assert.ok(retired() > 0, 'blocks the commits removed are kept for the exports')
    const [fullBytes, diffBytes] = await Promise.all([full.finish(), diff.finish()])
    const verified = await verifyRepoCar(fullBytes, user.did, await signingDidKey(pds, user.did))
    assert.equal(verified.commit.cid.toString(), pinned.cid.toString())
    assert.equal(verified.creates.length, records)
    const diffCar = await readCarStream([diffBytes])
    assert.equal(diffCar.roots[0].toString(), pinned.cid.toString())
    const diffCids: string[] = []
    for await (const block of diffCar.blocks) diffCids.push(block.cid.toString())
    assert.deepEqual(diffCids, diffRows, 'the diff as of the pinned commit, in (rev, cid) order')
    assert.equal(pds.ctx.repo.exports.active, 0)
    assert.equal(retired(), 0, 'retired blocks go with the last export of the repo')
  })

  describe('with an export idle deadline and cap', () => {
    let capped: TestPds

    before(async () => {
      // The same data directory, restarted with short deadlines and a cap of two exports.
      await pds.close()
      capped = await startPds({
        plcUrl: plc.url,
        dataDir: pds.dataDir,
        env: {
          PDS_REPO_EXPORT_IDLE_TIMEOUT_SECONDS: '2',
          PDS_REPO_EXPORT_MAX_CONCURRENT: '2',
          PDS_RATE_LIMIT_SYNC_PER_MINUTE: '0',
        },
      })
      pds = capped
    })

    it('a getRepo whose client stops reading is cut off after the idle deadline', async (t) => {
      const cut = nextCarClose((i) => i.did === user.did)
      const stalled = await pausedExport(capped, `did=${user.did}`)
      t.after(() => stalled.res.destroy())
      const info = await within(cut, 10_000, 'the idle export to be cut off')
      assert.deepEqual([info.complete, info.timedOut], [false, true])
      assert.equal(capped.ctx.repo.exports.active, 0)
      await assert.rejects(stalled.finish(), 'the client gets a cut response, not a complete CAR')
    })

    it('exports over the concurrency cap are refused with 503 NotEnoughResources', async (t) => {
      const a = await pausedExport(capped, `did=${user.did}`)
      const b = await pausedExport(capped, `did=${user.did}`, 'com.atproto.sync.getCheckout')
      t.after(() => [a, b].forEach((e) => e.res.destroy()))
      assert.equal(capped.ctx.repo.exports.active, 2)
      for (const nsid of ['com.atproto.sync.getRepo', 'com.atproto.sync.getCheckout']) {
        const refused = await xrpc(capped, nsid, { query: { did: user.did } })
        assert.equal(refused.status, 503, nsid)
        assert.equal(refused.body.error, 'NotEnoughResources')
        assert.match(refused.body.message, /at most 2/)
      }
      const gone = nextCarClose(() => true)
      a.res.destroy()
      await within(gone, 10_000, 'the first export to end')
      const again = await fetch(`${capped.url}/xrpc/com.atproto.sync.getRepo?did=${user.did}`)
      assert.equal(again.status, 200, 'a slot is free again')
      await again.arrayBuffer()
    })
  })
})

describe('hostile clients: caps on open firehose sockets', () => {
  let pds: TestPds

  before(async () => {
    pds = await startPds({
      env: {
        PDS_TRUST_PROXY: 'loopback', // X-Forwarded-For names the client, as behind nginx
        PDS_FIREHOSE_MAX_CONNECTIONS_PER_IP: '2',
        PDS_FIREHOSE_MAX_CONNECTIONS: '3',
      },
    })
  })
  after(() => pds?.destroy())

  it('per client IP (429 RateLimitExceeded) and in total (503 NotEnoughResources), refused before upgrading', async () => {
    const firehose = pds.ctx.firehose
    const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } })
    const a1 = await FirehoseClient.connect(pds, from('192.0.2.1'))
    const a2 = await FirehoseClient.connect(pds, from('192.0.2.1'))
    const perIp = await refusedUpgrade(firehoseUrl(pds), from('192.0.2.1').headers)
    assert.equal(perIp.status, 429)
    assert.equal(perIp.body.error, 'RateLimitExceeded')
    assert.match(perIp.body.message, /at most 2/)
    const b = await FirehoseClient.connect(pds, from('192.0.2.2'))
    const total = await refusedUpgrade(firehoseUrl(pds), from('192.0.2.3').headers)
    assert.equal(total.status, 503)
    assert.equal(total.body.error, 'NotEnoughResources')
    const stats = firehose.stats()
    assert.equal(stats.openSockets, 3)
    assert.equal(stats.totals.refused, 2)
    assert.deepEqual(
      stats.subscribers.map((s) => s.remoteAddress),
      ['192.0.2.1', '192.0.2.1', '192.0.2.2'],
    )
    // A socket that closes frees its place.
    a1.close()
    await until(firehose, 'closed', () => firehose.stats().openSockets === 2, 10_000, 'the socket to close')
    const a3 = await FirehoseClient.connect(pds, from('192.0.2.1'))
    assert.equal(firehose.stats().openSockets, 3)
    for (const c of [a2, a3, b]) c.close()
  })
})

describe('hostile clients: configuration', () => {
  it('socket buffer, stall and idle deadlines, caps: defaults, values, bad values', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-hostile-cfg-'))
    try {
      const defaults = parseConfig({ PDS_DATA_DIRECTORY: dir })
      assert.deepEqual(
        [defaults.firehose.socketBufferBytes, defaults.firehose.stallTimeoutMs],
        [1024 * 1024, 60_000],
      )
      assert.deepEqual([defaults.firehose.maxConnections, defaults.firehose.maxConnectionsPerIp], [256, 16])
      assert.deepEqual(defaults.repoExport, { maxConcurrent: 16, idleTimeoutMs: 60_000 })
      const cfg = parseConfig({
        PDS_DATA_DIRECTORY: dir,
        PDS_FIREHOSE_SOCKET_BUFFER_BYTES: '262144',
        PDS_FIREHOSE_STALL_TIMEOUT_SECONDS: '2.5',
        PDS_FIREHOSE_MAX_CONNECTIONS: '0',
        PDS_FIREHOSE_MAX_CONNECTIONS_PER_IP: '4',
        PDS_REPO_EXPORT_MAX_CONCURRENT: '0',
        PDS_REPO_EXPORT_IDLE_TIMEOUT_SECONDS: '0.5',
      })
      assert.deepEqual(
        [cfg.firehose.socketBufferBytes, cfg.firehose.stallTimeoutMs, cfg.firehose.maxConnections, cfg.firehose.maxConnectionsPerIp],
        [262144, 2500, 0, 4],
      )
      assert.deepEqual(cfg.repoExport, { maxConcurrent: 0, idleTimeoutMs: 500 })
      for (const [name, value] of [
        ['PDS_FIREHOSE_SOCKET_BUFFER_BYTES', '1000'],
        ['PDS_FIREHOSE_SOCKET_BUFFER_BYTES', 'big'],
        ['PDS_FIREHOSE_STALL_TIMEOUT_SECONDS', '0'],
        ['PDS_FIREHOSE_MAX_CONNECTIONS', '-1'],
        ['PDS_FIREHOSE_MAX_CONNECTIONS_PER_IP', '2.5'],
        ['PDS_REPO_EXPORT_MAX_CONCURRENT', 'many'],
        ['PDS_REPO_EXPORT_IDLE_TIMEOUT_SECONDS', '-3'],
      ]) {
        assertConfigRefuses({ PDS_DATA_DIRECTORY: dir, [name]: value }, name)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('hostile clients: shutdown with a stalled repo export', () => {
  it('cuts the export off after a short grace instead of waiting for its idle deadline', async (t) => {
    const pds = await startPds({ env: { PDS_REPO_EXPORT_IDLE_TIMEOUT_SECONDS: '600', PDS_MAX_REQUEST_BYTES: String(MiB) } })
    t.after(() => pds.destroy())
    const user = await createUser(pds)
    await writeRecords(user, 40) // ~16 MB: more than the loopback socket buffers between server and client hold
    const cut = nextCarClose((i) => i.did === user.did)
    const stalled = await pausedExport(pds, `did=${user.did}`)
    t.after(() => stalled.res.destroy())
    // Without the cut-off, close() would wait for the 600 s idle deadline and this would time out.
    await within(pds.close(), 20_000, 'the shutdown')
    const info = await within(cut, 1000, 'the export to be closed')
    assert.deepEqual([info.complete, info.timedOut], [false, false])
    await assert.rejects(stalled.finish(), 'the client gets a cut response, not a complete CAR')
  })
})
