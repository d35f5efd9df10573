// Hardening for the open internet: blob bytes never lost under concurrent writes, sweeps and account deletion.
import assert from 'node:assert/strict'
import dns from 'node:dns'
import { once } from 'node:events'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import fsp from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { TID } from '@atproto/common-web'
import WebSocket from 'ws'
import { createLogger } from '../src/logger.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, getWithHost, startPds, startServers, stopServers, xrpc, type TestPds } from './helpers/pds.ts'

type User = Awaited<ReturnType<typeof createUser>>
type BlobRef = { $type: 'blob'; ref: { $link: string }; mimeType: string; size: number }

const bearer = (user: User) => ({ authorization: `Bearer ${user.agent.session!.accessJwt}` })

/** A post whose image is `blob`. */
const postWith = (blob: BlobRef, text = 'pic') => ({
  $type: 'app.bsky.feed.post',
  text,
  createdAt: new Date().toISOString(),
  embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: blob }] },
})

/** Bytes unique to `n`: every iteration of a race gets its own blob. */
const uniqueBytes = (n: number) => Buffer.from(`hardening blob ${n} ${process.pid} ${'.'.repeat(n % 97)}`)

async function upload(pds: TestPds, user: User, bytes: Uint8Array): Promise<{ status: number; body: any }> {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
    method: 'POST',
    headers: { ...bearer(user), 'content-type': 'image/png' },
    body: bytes,
  })
  return { status: res.status, body: await res.json() }
}

async function createPost(pds: TestPds, user: User, blob: BlobRef, text?: string) {
  return xrpc(pds, 'com.atproto.repo.createRecord', {
    headers: bearer(user),
    body: { repo: user.did, collection: 'app.bsky.feed.post', record: postWith(blob, text) },
  })
}

/**
 * A slow disk under `dir`: each removal of a path in it waits `turns` event-loop turns first (sockets keep moving
 * meanwhile), which widens any window between deciding to delete bytes and their removal. Returns the undo.
 */
function slowRemovalsUnder(dir: string, turns: number): () => void {
  const realRm = fsp.rm
  const realUnlink = fsp.unlink
  const delay = async (target: unknown) => {
    if (String(target).startsWith(dir)) for (let i = 0; i < turns; i++) await new Promise(setImmediate)
  }
  fsp.rm = async (target, opts) => (await delay(target), realRm(target, opts))
  fsp.unlink = async (target) => (await delay(target), realUnlink(target))
  syncBuiltinESMExports()
  return () => {
    fsp.rm = realRm
    fsp.unlink = realUnlink
    syncBuiltinESMExports()
  }
}

const getBlobStatus = async (pds: TestPds, did: string, cid: string) =>
  (await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${cid}`)).status

describe('blob bytes under concurrency', () => {
  let plc: TestPlc
  let pds: TestPds
  let alice: User

  before(async () => {
    ;({ plc, pds } = await startServers())
    alice = await createUser(pds)
  })
  after(() => stopServers({ plc, pds }))

  it('a blob re-uploaded while the record that used it is deleted stays with the new record', async () => {
    const tries = 60
    let acknowledged = 0
    let refused = 0
    const lost: string[] = []
    for (let i = 0; i < tries; i++) {
      // Half the tries on a slow disk, where a file goes a while after the decision to remove it.
      const undo = i % 2 ? slowRemovalsUnder(path.join(pds.dataDir, 'blobs'), 30) : () => {}
      try {
        const bytes = uniqueBytes(i)
        const first = await upload(pds, alice, bytes)
        assert.equal(first.status, 200)
        const blob = first.body.blob as BlobRef
        const r1 = await createPost(pds, alice, blob, `r1 ${i}`)
        assert.equal(r1.status, 200)
        // Delete R1 (its blob becomes an orphan) while the same bytes are uploaded again and used by R2.
        const [del, r2] = await Promise.all([
          xrpc(pds, 'com.atproto.repo.deleteRecord', {
            headers: bearer(alice),
            body: { repo: alice.did, collection: 'app.bsky.feed.post', rkey: r1.body.uri.split('/').pop() },
          }),
          upload(pds, alice, bytes).then((again) => {
            assert.equal(again.status, 200)
            assert.equal(again.body.blob.ref.$link, blob.ref.$link)
            return createPost(pds, alice, again.body.blob, `r2 ${i}`)
          }),
        ])
        assert.equal(del.status, 200)
        if (r2.status === 200) {
          acknowledged++
          if ((await getBlobStatus(pds, alice.did, blob.ref.$link)) !== 200) lost.push(blob.ref.$link)
        } else {
          // Refused cleanly: the deletion won, and the client is told before anything was acknowledged.
          assert.equal(r2.status, 400)
          assert.equal(r2.body.error, 'BlobNotFound')
          refused++
        }
      } finally {
        undo()
      }
    }
    console.log(`# re-upload race: ${acknowledged} acknowledged, ${refused} refused, ${lost.length} lost`)
    assert.deepEqual(lost, [], `${lost.length} of ${acknowledged} acknowledged records lost their blob`)
    assert.ok(acknowledged > 0)
  })

  it('the stale-upload sweep never takes the blob of a record written during it', async () => {
    const rounds = 20
    const perRound = 6
    let acknowledged = 0
    const lost: string[] = []
    for (let round = 0; round < rounds; round++) {
      const blobs: BlobRef[] = []
      for (let k = 0; k < perRound; k++) {
        const up = await upload(pds, alice, uniqueBytes(1000 + round * perRound + k))
        blobs.push(up.body.blob)
      }
      // A sweep whose clock is two hours ahead finds every one of these fresh uploads stale. On a slow disk (odd
      // rounds) its deletions spread out, some landing while a write that has checked its blob is being signed.
      const undo = round % 2 ? slowRemovalsUnder(path.join(pds.dataDir, 'blobs'), 10) : () => {}
      const [, ...writes] = await Promise.all([
        pds.ctx.blobStore.deleteStaleUploads(Date.now() + 2 * 60 * 60 * 1000),
        ...blobs.map((blob, k) => createPost(pds, alice, blob, `sweep ${round}/${k}`)),
      ]).finally(undo)
      for (const [k, res] of writes.entries()) {
        if (res.status !== 200) {
          assert.equal(res.body.error, 'BlobNotFound')
          continue
        }
        acknowledged++
        const cid = blobs[k].ref.$link
        if ((await getBlobStatus(pds, alice.did, cid)) !== 200) lost.push(cid)
      }
    }
    console.log(`# sweep race: ${acknowledged} acknowledged, ${lost.length} lost`)
    assert.deepEqual(lost, [], `${lost.length} of ${acknowledged} acknowledged records lost their blob`)
  })

  it('a blob deleted after a write checked it, before the write commits, fails the write', async () => {
    const up = await upload(pds, alice, uniqueBytes(5000))
    const cid = up.body.blob.ref.$link
    const before = pds.ctx.sequencer.latestSeq()
    // Just before the write's transaction, the sweep's deletion of the row commits and its file goes.
    const sequencer = pds.ctx.sequencer
    const realTransaction = sequencer.writeTransaction
    sequencer.writeTransaction = function <T>(this: typeof sequencer, fn: () => T): T {
      sequencer.writeTransaction = realTransaction
      pds.db.prepare('DELETE FROM blob WHERE did = ? AND cid = ?').run(alice.did, cid)
      rmSync(path.join(pds.dataDir, 'blobs', alice.did, cid))
      return realTransaction.call(this, fn) as T
    }
    try {
      const res = await createPost(pds, alice, up.body.blob, 'too late')
      assert.equal(res.status, 400)
      assert.equal(res.body.error, 'BlobNotFound')
    } finally {
      sequencer.writeTransaction = realTransaction
    }
    assert.equal(pds.ctx.sequencer.latestSeq(), before, 'nothing was committed')
  })

  for (const moment of ['while its bytes stream in', 'while it moves into place'] as const) {
    it(`an upload whose account is deleted ${moment} fails cleanly and leaves nothing on disk`, async () => {
      const carol = await createUser(pds)
      const deleteCarol = () =>
        xrpc(pds, 'com.atproto.admin.deleteAccount', { headers: { authorization: pds.adminAuth }, body: { did: carol.did } })
      let push!: ReadableStreamDefaultController<Uint8Array>
      const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) })
      push.enqueue(new Uint8Array(1000).fill(7))
      const realUpload = pds.ctx.blobStore.upload.bind(pds.ctx.blobStore)
      const realRename = fsp.rename
      let deleted: Promise<{ status: number }> | undefined
      if (moment === 'while its bytes stream in') {
        // Delete the account once the server is reading the body, then let the body finish.
        pds.ctx.blobStore.upload = (...args) => {
          deleted = deleteCarol()
          void deleted.then(() => {
            push.enqueue(new Uint8Array(1000).fill(8))
            push.close()
          })
          return realUpload(...args)
        }
      } else {
        push.close()
        // The bytes are in; as they move into the account's folder, the account's deletion commits.
        fsp.rename = async (from, to) => {
          if (String(to).includes(carol.did)) {
            const committed = once(pds.ctx.sequencer, 'events')
            deleted = deleteCarol()
            await committed
          }
          return realRename(from, to)
        }
        syncBuiltinESMExports()
      }
      const response = fetch(`${pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
        method: 'POST',
        headers: { ...bearer(carol), 'content-type': 'image/png' },
        body,
        duplex: 'half',
      } as RequestInit)
      try {
        const res = await response
        const answer = (await res.json()) as { error?: string }
        assert.equal(res.status, 403)
        assert.equal(answer.error, 'AccountNotFound')
        assert.ok(deleted)
        assert.equal((await deleted).status, 200)
      } finally {
        pds.ctx.blobStore.upload = realUpload
        fsp.rename = realRename
        syncBuiltinESMExports()
      }
      assert.equal(pds.ctx.accounts.store.byDid(carol.did), undefined)
      assert.equal(existsSync(path.join(pds.dataDir, 'blobs', carol.did)), false, "the deleted account's folder is gone")
      assert.deepEqual(readdirSync(path.join(pds.dataDir, 'tmp')), [], 'no temporary upload left')
    })
  }
})

describe('uploads a crash left half-written', () => {
  it('are swept from <data>/tmp when the server starts, and blobs already in place are kept', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aurora-tmp-sweep-'))
    let pds = await startPds({ dataDir })
    const alice = await createUser(pds)
    const { data } = await alice.agent.uploadBlob(new Uint8Array([1, 2, 3]), { encoding: 'application/octet-stream' })
    await alice.agent.com.atproto.repo.createRecord({
      repo: alice.did,
      collection: 'com.example.file',
      record: { $type: 'com.example.file', file: data.blob },
    })
    await pds.close()
    // What a kill -9 mid-upload leaves: a partial temp file (and, from any older layout, a directory).
    await fsp.writeFile(path.join(dataDir, 'tmp', 'deadbeef'), Buffer.alloc(1024))
    await fsp.mkdir(path.join(dataDir, 'tmp', 'stray'))
    pds = await startPds({ dataDir })
    try {
      assert.deepEqual(readdirSync(path.join(dataDir, 'tmp')), [])
      const blob = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${data.blob.ref}`)
      assert.equal(blob.status, 200)
      assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), new Uint8Array([1, 2, 3]))
    } finally {
      await pds.destroy()
    }
  })
})

describe('the admin password', () => {
  let plc: TestPlc
  let pds: TestPds
  let dave: User

  before(async () => {
    ;({ plc, pds } = await startServers())
    dave = await createUser(pds)
  })
  after(() => stopServers({ plc, pds }))

  it("writes no records into a user's repo", async () => {
    const post = { $type: 'app.bsky.feed.post', text: 'not mine', createdAt: new Date().toISOString() }
    const rkey = TID.nextStr()
    const own = await xrpc(pds, 'com.atproto.repo.createRecord', {
      headers: bearer(dave),
      body: { repo: dave.did, collection: 'app.bsky.feed.post', rkey, record: post },
    })
    assert.equal(own.status, 200)
    const seq = pds.ctx.sequencer.latestSeq()
    const attempts: [string, Record<string, unknown>][] = [
      ['com.atproto.repo.createRecord', { repo: dave.did, collection: 'app.bsky.feed.post', record: post }],
      ['com.atproto.repo.putRecord', { repo: dave.did, collection: 'app.bsky.feed.post', rkey, record: post }],
      ['com.atproto.repo.deleteRecord', { repo: dave.did, collection: 'app.bsky.feed.post', rkey }],
      [
        'com.atproto.repo.applyWrites',
        { repo: dave.did, writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post }] },
      ],
    ]
    for (const [nsid, body] of attempts) {
      const res = await xrpc(pds, nsid, { headers: { authorization: pds.adminAuth }, body })
      assert.equal(res.status, 401, nsid)
      assert.equal(res.body.error, 'AuthenticationRequired', nsid)
    }
    assert.equal(pds.ctx.sequencer.latestSeq(), seq, 'nothing was committed')
    assert.equal(pds.ctx.repo.readRecord(dave.did, 'app.bsky.feed.post', rkey)?.cid, own.body.cid)
  })

  it('still manages accounts', async () => {
    const subject = { $type: 'com.atproto.admin.defs#repoRef', did: dave.did }
    const res = await xrpc(pds, 'com.atproto.admin.getSubjectStatus', { query: { did: dave.did }, headers: { authorization: pds.adminAuth } })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.subject, subject)
  })
})

/** This machine's first non-loopback IPv4 address, if it has one. */
const externalIPv4 = Object.values(os.networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address

/** Whether a TCP connection to host:port is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('dev mode listens on this machine only', () => {
  let plc: TestPlc
  before(async () => {
    plc = await startPlc()
  })
  after(async () => {
    await plc?.close()
  })

  it('binds 127.0.0.1 with no PDS_HOSTNAME, and localhost URLs reach it however localhost resolves', async () => {
    const pds = await startPds({ plcUrl: plc.url })
    const lookup = dns.lookup
    let asked = 0
    try {
      const { address, port } = pds.server.address() as net.AddressInfo
      assert.equal(address, '127.0.0.1')
      if (externalIPv4) assert.equal(await connects(externalIPv4, port), false, `not reachable on ${externalIPv4}`)
      else console.log('# no non-loopback IPv4 address here: only the bound address is checked')
      // Where /etc/hosts names ::1 first, Node's clients try it, are refused, and fall back to 127.0.0.1.
      dns.lookup = ((host: string, opts: any, cb: any) => {
        if (host !== 'localhost') return lookup(host, opts, cb)
        asked++
        const all = [
          { address: '::1', family: 6 },
          { address: '127.0.0.1', family: 4 },
        ]
        process.nextTick(() => (opts?.all ? cb(null, all) : cb(null, all[0].address, all[0].family)))
      }) as typeof dns.lookup
      const res = await fetch(`http://localhost:${port}/xrpc/_health`)
      assert.equal(res.status, 200)
      assert.ok(((await res.json()) as { version?: string }).version)
      assert.ok(asked > 0, 'the client looked localhost up')
    } finally {
      dns.lookup = lookup
      await pds.destroy()
    }
  })

  it('listens elsewhere when PDS_BIND_HOST says so, with a warning', { skip: !externalIPv4 && 'no non-loopback IPv4 address' }, async () => {
    const lines: { level: number; msg: string; listen?: string }[] = []
    const log = createLogger('warn', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } })
    const pds = await startPds({ plcUrl: plc.url, env: { PDS_BIND_HOST: '0.0.0.0' }, log })
    try {
      const { address, port } = pds.server.address() as net.AddressInfo
      assert.equal(address, '0.0.0.0')
      assert.equal(await connects(externalIPv4!, port), true)
      const warning = lines.find((l) => /dev mode reachable from other machines/.test(l.msg))
      assert.ok(warning, JSON.stringify(lines))
      assert.equal(warning.level, 40)
      assert.equal(warning.listen, `0.0.0.0:${port} (all interfaces)`)
    } finally {
      await pds.destroy()
    }
  })
})

describe('handles of inactive accounts stop resolving', () => {
  let plc: TestPlc
  let pds: TestPds
  const admin = () => ({ authorization: pds.adminAuth })
  const subject = (did: string) => ({ $type: 'com.atproto.admin.defs#repoRef', did })

  before(async () => {
    ;({ plc, pds } = await startServers())
  })
  after(() => stopServers({ plc, pds }))

  /** What resolveHandle and /.well-known/atproto-did say about `user`'s handle: the DID, or the refusals. */
  async function resolved(user: User): Promise<{ xrpc: string; wellKnown: string }> {
    const res = await xrpc(pds, 'com.atproto.identity.resolveHandle', { query: { handle: user.handle } })
    const wk = await getWithHost(pds, '/.well-known/atproto-did', user.handle)
    return {
      xrpc: res.status === 200 ? res.body.did : `${res.status} ${res.body.error}`,
      wellKnown: wk.status === 200 ? wk.body : `${wk.status} ${wk.body}`,
    }
  }
  const gone = { xrpc: '400 HandleNotFound', wellKnown: '404 User not found' }

  it('deactivated: not found until reactivated', async () => {
    const user = await createUser(pds)
    assert.deepEqual(await resolved(user), { xrpc: user.did, wellKnown: user.did })
    const off = await xrpc(pds, 'com.atproto.server.deactivateAccount', { headers: bearer(user), body: {} })
    assert.equal(off.status, 200)
    assert.deepEqual(await resolved(user), gone)
    const on = await xrpc(pds, 'com.atproto.server.activateAccount', { method: 'POST', headers: bearer(user) })
    assert.equal(on.status, 200)
    assert.deepEqual(await resolved(user), { xrpc: user.did, wellKnown: user.did })
  })

  it('taken down: not found until the takedown is lifted', async () => {
    const user = await createUser(pds)
    assert.deepEqual(await resolved(user), { xrpc: user.did, wellKnown: user.did })
    const down = await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', {
      headers: admin(),
      body: { subject: subject(user.did), takedown: { applied: true } },
    })
    assert.equal(down.status, 200)
    assert.deepEqual(await resolved(user), gone)
    await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', { headers: admin(), body: { subject: subject(user.did), takedown: { applied: false } } })
    assert.deepEqual(await resolved(user), { xrpc: user.did, wellKnown: user.did })
  })

  it('deleted: not found', async () => {
    const user = await createUser(pds)
    assert.deepEqual(await resolved(user), { xrpc: user.did, wellKnown: user.did })
    const del = await xrpc(pds, 'com.atproto.admin.deleteAccount', { headers: admin(), body: { did: user.did } })
    assert.equal(del.status, 200)
    assert.deepEqual(await resolved(user), gone)
  })
})

describe('the public status page names no firehose subscriber', () => {
  let plc: TestPlc
  let pds: TestPds
  before(async () => {
    ;({ plc, pds } = await startServers())
  })
  after(() => stopServers({ plc, pds }))

  it('shows counts to everyone and addresses only with the admin password', async () => {
    const connected = once(pds.ctx.firehose, 'connect', { signal: AbortSignal.timeout(5000) })
    const ws = new WebSocket(`${pds.url.replace('http', 'ws')}/xrpc/com.atproto.sync.subscribeRepos`)
    try {
      const [sub] = await connected
      const address = sub.remoteAddress
      assert.match(address, /\d/, 'the server knows the address')
      const page = async (urlPath: string, headers: Record<string, string> = {}) => {
        const res = await fetch(pds.url + urlPath, { headers })
        return { status: res.status, headers: res.headers, body: await res.text() }
      }
      const html = await page('/', { accept: 'text/html' })
      assert.equal(html.status, 200)
      assert.match(html.body, /id="subscribers">1</)
      assert.ok(!html.body.includes(address), 'no address on the status page')
      const banner = await page('/')
      assert.match(banner.body, /AT Protocol Personal Data Server/)
      assert.ok(!banner.body.includes(address), 'no address in the banner')

      const anonymous = await page('/status', { accept: 'text/html' })
      assert.equal(anonymous.status, 401)
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic /)
      assert.ok(!anonymous.body.includes(address))
      const wrong = await page('/status', { authorization: 'Basic ' + Buffer.from('admin:guess').toString('base64') })
      assert.equal(wrong.status, 401)
      const operator = await page('/status', { authorization: pds.adminAuth })
      assert.equal(operator.status, 200)
      assert.ok(operator.body.includes(`<td>${address}</td>`), 'the operator sees who is subscribed')
    } finally {
      ws.close()
    }
  })
})

describe('the data directory is private', () => {
  let plc: TestPlc
  let root: string
  before(async () => {
    plc = await startPlc()
    root = mkdtempSync(path.join(os.tmpdir(), 'aurora-modes-'))
  })
  after(async () => {
    await plc?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8)

  it('creates folders 0700 and files 0600: signing keys, secrets, uploads', async () => {
    const dataDir = path.join(root, 'fresh', 'data')
    const pds = await startPds({ plcUrl: plc.url, dataDir })
    try {
      const user = await createUser(pds)
      const up = await upload(pds, user, uniqueBytes(7000))
      assert.equal(up.status, 200)
      assert.equal(mode(dataDir), '700')
      for (const dir of ['blobs', 'tmp', path.join('blobs', user.did)]) assert.equal(mode(path.join(dataDir, dir)), '700', dir)
      for (const file of ['pds.sqlite', 'pds.sqlite-wal', 'pds.sqlite-shm', 'secrets.json']) {
        assert.equal(mode(path.join(dataDir, file)), '600', file)
      }
      assert.equal(mode(path.join(dataDir, 'blobs', user.did, up.body.blob.ref.$link)), '600', 'an upload')
    } finally {
      await pds.destroy()
    }
  })

  it('tightens what an older version left readable', async () => {
    const dataDir = path.join(root, 'older')
    const first = await startPds({ plcUrl: plc.url, dataDir })
    await first.close()
    for (const dir of ['', 'blobs', 'tmp']) chmodSync(path.join(dataDir, dir), 0o755)
    for (const file of ['pds.sqlite', 'secrets.json']) chmodSync(path.join(dataDir, file), 0o644)
    const again = await startPds({ plcUrl: plc.url, dataDir })
    try {
      for (const dir of ['', 'blobs', 'tmp']) assert.equal(mode(path.join(dataDir, dir)), '700', dir || 'data')
      for (const file of ['pds.sqlite', 'secrets.json']) assert.equal(mode(path.join(dataDir, file)), '600', file)
    } finally {
      await again.destroy()
    }
  })
})
