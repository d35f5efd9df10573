// Online backup and restore: a backup taken by the operator command while four clients write, restored into a fresh
// data directory and started there. Every write acknowledged before the backup began is back, each repo verifies,
// and the firehose goes on from above every seq the old server emitted; bad backups and targets are refused.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { AtpAgent } from '@atproto/api'
import { backup } from '../src/backup/backup.ts'
import { blobBackend } from '../src/blob/backend-for-config.ts'
import { BackupError } from '../src/backup/errors.ts'
import { restore } from '../src/backup/restore.ts'
import { scheduleBackups } from '../src/backup/schedule.ts'
import { MAX_CLOCK_SKEW_MS, MAX_EVENTS_PER_SECOND, seqFloorAfterRestore } from '../src/backup/seq-floor.ts'
import { FirehoseClient, within } from './helpers/firehose-client.ts'
import { png } from './helpers/images.ts'
import { captureLog } from './helpers/log-capture.ts'
import { createUser, startPds, type TestPds } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { startS3 } from './helpers/s3.ts'
import { runCli } from './helpers/cli.ts'
import { findProgram } from './helpers/system.ts'
import { verifyStoredRepo } from './helpers/repo-check.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const WRITERS = 4

/** Run the operator command (`node src/admin.ts backup|restore …`) and collect its output and exit code. */
const cli = (...args: string[]) => runCli('src/admin.ts', args, { cwd: ROOT, timeoutMs: 20_000 })

async function refusal(promise: Promise<unknown>): Promise<BackupError> {
  const err = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  )
  assert.ok(err instanceof BackupError, `a BackupError, got ${(err as Error)?.stack}`)
  return err
}

describe('backup and restore', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'aurora-backup-'))
  let plc: TestPlc
  let old: TestPds
  let restored: TestPds | undefined
  let watcher: FirehoseClient
  let port: string
  const users: { agent: AtpAgent; did: string; blob: { cid: string; bytes: Buffer } }[] = []
  let backupPath = ''
  const restoredLog = captureLog()

  before(async () => {
    plc = await startPlc()
    old = await startPds({ plcUrl: plc.url, dataDir: path.join(tmp, 'old') })
    port = new URL(old.url).port
    watcher = await FirehoseClient.connect(old, { cursor: 0 })
    for (let i = 0; i < WRITERS; i++) {
      const user = await createUser(old)
      const bytes = png(100 + i, i)
      const up = await user.agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'image/png' })
      await user.agent.com.atproto.repo.createRecord({
        repo: user.did,
        collection: 'app.bsky.feed.post',
        record: {
          $type: 'app.bsky.feed.post',
          text: 'with an image',
          createdAt: new Date().toISOString(),
          embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: '' }] },
        },
      })
      users.push({ agent: user.agent, did: user.did, blob: { cid: up.data.blob.ref.toString(), bytes } })
    }
  })

  after(async () => {
    watcher?.close()
    await restored?.close()
    await old?.close()
    await plc?.close()
    rmSync(tmp, { recursive: true, force: true })
  })

  it('reports a destination that is not writable, and the server keeps serving', async (t) => {
    const file = path.join(tmp, 'a-file')
    writeFileSync(file, 'not a folder')
    const notDir = await refusal(backup({ db: old.db, dataDirectory: old.dataDir, destination: path.join(file, 'backups') }))
    assert.equal(notDir.kind, 'destination')
    assert.match(notDir.message, /backup destination .*a-file\/backups (is not a directory|could not be written)/)

    // Read-only for us: mode 0555, and for root (whom modes do not stop) the immutable attribute where it can be set.
    const readOnly = path.join(tmp, 'read-only')
    mkdirSync(readOnly)
    chmodSync(readOnly, 0o555)
    let immutable = false
    const chattr = findProgram({ name: 'chattr', debianPackage: 'e2fsprogs' })
    if (process.getuid?.() === 0 && chattr) {
      // Needs CAP_LINUX_IMMUTABLE and a filesystem with the attribute; many containers have neither.
      const [code] = await within(once(spawn(chattr, ['+i', readOnly], { stdio: 'ignore' }), 'close'), 5000, 'chattr +i')
      immutable = code === 0
    }
    if (process.getuid?.() === 0 && !immutable) t.diagnostic('read-only case skipped: root, and chattr +i not possible here')
    else {
      try {
        const err = await refusal(backup({ db: old.db, dataDirectory: old.dataDir, destination: readOnly }))
        assert.equal(err.kind, 'destination')
        assert.match(err.message, new RegExp(`backup destination ${readOnly} is not writable`))
        assert.deepEqual(readdirSync(readOnly), [], 'nothing left behind')
      } finally {
        if (immutable) await within(once(spawn(chattr!, ['-i', readOnly], { stdio: 'ignore' }), 'close'), 5000, 'chattr -i')
      }
    }

    const res = await users[0].agent.com.atproto.repo.createRecord({
      repo: users[0].did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'still serving', createdAt: new Date().toISOString() },
    })
    assert.match(res.data.uri, /^at:\/\//)
  })

  it('backs up while four clients write; the restore holds every earlier write and the firehose only goes up', async () => {
    const acked: string[] = []
    const failures: unknown[] = []
    let stop = false
    let ackCount = 0
    const acks = new EventEmitter()
    const writer = async (u: (typeof users)[number], w: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const res = await u.agent.com.atproto.repo.createRecord({
            repo: u.did,
            collection: 'app.bsky.feed.post',
            record: { $type: 'app.bsky.feed.post', text: `writer ${w} post ${i}`, createdAt: new Date().toISOString() },
          })
          acked.push(res.data.uri)
          ackCount++
          acks.emit('ack')
        } catch (err) {
          failures.push(err)
          return
        }
      }
    }
    const untilAcks = async (n: number) => {
      const signal = AbortSignal.timeout(20_000)
      while (ackCount < n) await once(acks, 'ack', { signal })
    }
    const writers = users.map((u, w) => writer(u, w))
    await untilAcks(2 * WRITERS)

    const ackedBefore = [...acked]
    const made = await cli('backup', path.join(tmp, 'backups'), '--data-dir', old.dataDir)
    assert.equal(made.code, 0, made.stderr)
    const countAtBackupEnd = ackCount
    backupPath = /backup written: (\S+)/.exec(made.stdout)![1]
    assert.match(made.stdout, /database: \d+ of \d+ pages/, 'progress lines')
    // Writes after the backup: the old server emits seqs the backup does not hold.
    await untilAcks(countAtBackupEnd + WRITERS)
    stop = true
    await Promise.all(writers)
    assert.deepEqual(failures, [])
    assert.ok(ackCount > ackedBefore.length, 'the writers kept writing during the backup')

    const oldLast = old.ctx.sequencer.lastAssignedSeq()
    await watcher.untilSeq(oldLast)
    const highestSeen = Math.max(...watcher.seqs)
    assert.equal(highestSeen, oldLast)
    const manifest = JSON.parse(readFileSync(path.join(backupPath, 'manifest.json'), 'utf8'))
    assert.ok(manifest.snapshot.lastSeq < highestSeen, 'the old server went on past the snapshot')
    await old.close()

    const dataDir = path.join(tmp, 'restored')
    const res = await cli('restore', backupPath, dataDir)
    assert.equal(res.code, 0, res.stderr)
    assert.match(res.stdout, /seq jumped from \d+ to above \d+/)
    // With scheduled backups every ~1 s (0.0003 h), keeping one: the last test looks at what they did.
    restored = await startPds({
      plcUrl: plc.url,
      dataDir,
      log: restoredLog.log,
      env: {
        PDS_PORT: port,
        PDS_BACKUP_DIRECTORY: path.join(tmp, 'timed'),
        PDS_BACKUP_INTERVAL_HOURS: '0.0003',
        PDS_BACKUP_KEEP: '1',
      },
    })

    // A relay that followed the old server to its last event resumes there: no FutureCursor, and the #sync of every
    // repo comes next, above everything it saw.
    const relay = await FirehoseClient.connect(restored, { cursor: highestSeen })
    try {
      await relay.until(
        () => users.every((u) => relay.events.some((f) => f.header.t === '#sync' && f.body.did === u.did)),
        'a #sync for every repo',
      )
      assert.deepEqual(relay.frames.filter((f) => f.header.op !== 1), [], 'no error frame (FutureCursor)')
      assert.deepEqual(relay.frames.filter((f) => f.header.t === '#info'), [], 'no #info (OutdatedCursor)')
      assert.ok(relay.seqs.every((s) => s > highestSeen))

      for (const u of users) {
        const verified = await verifyStoredRepo(restored, u.did)
        const paths = new Set(verified.creates.map((c) => `at://${u.did}/${c.collection}/${c.rkey}`))
        for (const uri of ackedBefore.filter((x) => x.startsWith(`at://${u.did}/`))) {
          assert.ok(paths.has(uri), `${uri}, acknowledged before the backup, is in the restored repo`)
        }
        const blob = await u.agent.com.atproto.sync.getBlob({ did: u.did, cid: u.blob.cid })
        assert.deepEqual(Buffer.from(blob.data), u.blob.bytes)
      }

      // The same sessions work (the secrets came back too), and a new write goes out above the old high seq.
      const write = await users[1].agent.com.atproto.repo.createRecord({
        repo: users[1].did,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: 'after the restore', createdAt: new Date().toISOString() },
      })
      await relay.until(
        () => relay.events.some((f) => f.header.t === '#commit' && f.body.commit.toString() === write.data.commit!.cid),
        'the new commit',
      )
      const commit = relay.events.find((f) => f.header.t === '#commit')!
      assert.ok(commit.body.seq > highestSeen)
      const seqs = relay.seqs
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in order')
    } finally {
      relay.close()
    }
  })

  it('refuses to restore into a data directory that is not empty', async () => {
    const target = path.join(tmp, 'not-empty')
    mkdirSync(target)
    writeFileSync(path.join(target, 'pds.sqlite'), 'someone else’s data')
    const err = await refusal(restore({ backupDir: backupPath, dataDirectory: target }))
    assert.equal(err.kind, 'notEmpty')
    assert.match(err.message, /is not empty \(pds\.sqlite\)/)
    assert.deepEqual(readdirSync(target), ['pds.sqlite'])
    assert.equal(readFileSync(path.join(target, 'pds.sqlite'), 'utf8'), 'someone else’s data')
    const res = await cli('restore', backupPath, target)
    assert.equal(res.code, 4)
    assert.match(res.stderr, /is not empty/)
  })

  it('a stopped restore (Ctrl-C) leaves the data directory empty, so the next attempt is not refused', async () => {
    const target = path.join(tmp, 'stopped')
    const ctrlC = new AbortController()
    const onProgress = (p: { phase: string }) => {
      if (p.phase === 'files') ctrlC.abort()
    }
    const err = await refusal(restore({ backupDir: backupPath, dataDirectory: target, signal: ctrlC.signal, onProgress }))
    assert.equal(err.kind, 'aborted')
    assert.deepEqual(readdirSync(target), [])
    const again = await restore({ backupDir: backupPath, dataDirectory: target })
    assert.equal(again.manifest.counts.accounts, WRITERS)
  })

  it('--json: backup and restore each print one JSON document (for scripts), failures stay on stderr', async () => {
    const made = await cli('backup', path.join(tmp, 'backups-json'), '--data-dir', old.dataDir, '--json')
    assert.equal(made.code, 0, made.stderr)
    const backedUp = JSON.parse(made.stdout)
    assert.ok(existsSync(path.join(backedUp.path, 'manifest.json')), made.stdout)
    assert.equal(backedUp.manifest.counts.accounts, WRITERS)
    // The data directory's files are its owner's only (README "Running it"); so are their copies, and nothing else.
    assert.deepEqual(readdirSync(backedUp.path).sort(), ['blobs', 'manifest.json', 'pds.sqlite', 'secrets.json'])
    for (const name of ['manifest.json', 'pds.sqlite', 'secrets.json']) {
      assert.equal(statSync(path.join(backedUp.path, name)).mode & 0o777, 0o600, name)
    }
    const target = path.join(tmp, 'restored-json')
    const res = await cli('restore', backedUp.path, target, '--json')
    assert.equal(res.code, 0, res.stderr)
    const restoredJson = JSON.parse(res.stdout)
    assert.equal(restoredJson.dataDirectory, target)
    assert.equal(restoredJson.manifest.snapshot.lastSeq, backedUp.manifest.snapshot.lastSeq)
    assert.ok(restoredJson.events.first > restoredJson.seqFloor, res.stdout)
    const refused = await cli('restore', backedUp.path, target, '--json')
    assert.equal(refused.code, 4)
    assert.equal(refused.stdout, '')
    assert.match(refused.stderr, /is not empty/)
  })

  it('refuses a truncated, corrupt or unfinished backup and leaves the data directory empty', async () => {
    const damaged = (name: string, harm: (dir: string) => void) => {
      const dir = path.join(tmp, `damaged-${name}`)
      cpSync(backupPath, dir, { recursive: true })
      harm(dir)
      return dir
    }
    const target = path.join(tmp, 'target')
    const attempt = async (dir: string, pattern: RegExp) => {
      const err = await refusal(restore({ backupDir: dir, dataDirectory: target }))
      assert.equal(err.kind, 'invalidBackup')
      assert.match(err.message, pattern)
      assert.deepEqual(readdirSync(target), [], 'nothing landed in the data directory')
    }

    const db = (dir: string) => path.join(dir, 'pds.sqlite')
    await attempt(damaged('truncated', (dir) => truncateSync(db(dir), 4096)), /pds\.sqlite has 4096 bytes.*truncated/)
    await attempt(damaged('unfinished', (dir) => rmSync(path.join(dir, 'manifest.json'))), /no manifest\.json/)
    const blobFile = (dir: string) => path.join(dir, 'blobs', users[0].did, users[0].blob.cid)
    await attempt(
      damaged('blob', (dir) => writeFileSync(blobFile(dir), Buffer.concat([users[0].blob.bytes.subarray(1), Buffer.from('x')]))),
      /does not hash to its CID/,
    )
    // Damage the manifest cannot see (its checksum updated to match): SQLite's integrity_check does.
    const corrupt = damaged('pages', (dir) => {
      const bytes = readFileSync(db(dir))
      for (let page = 1; page * 4096 < bytes.length; page++) bytes.fill(0x5a, page * 4096 + 8, page * 4096 + 64)
      writeFileSync(db(dir), bytes)
      const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'))
      m.files[0].sha256 = createHash('sha256').update(bytes).digest('hex')
      writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m))
    })
    await attempt(corrupt, /integrity_check|does not open|cannot be read|malformed/)
    const res = await cli('restore', corrupt, path.join(tmp, 'target-cli'))
    assert.equal(res.code, 3, res.stderr)
  })

  it('runs scheduled backups on the server on its timer and keeps PDS_BACKUP_KEEP of them', async () => {
    const first = await restoredLog.awaitLine((l) => l.msg === 'backup written')
    const firstIndex = restoredLog.lines.indexOf(first)
    const pruned = await restoredLog.awaitLine((l) => l.msg === 'backup: deleted the oldest backups', firstIndex)
    assert.deepEqual(pruned.deleted, [path.basename(first.path)])
    assert.equal(pruned.keep, 1)
    // The next timed backup may be landing right now; the pruned one is gone for good.
    const kept = readdirSync(path.join(tmp, 'timed')).filter((n) => n.startsWith('aurora-backup-'))
    assert.ok(!kept.includes(path.basename(first.path)))
    assert.ok(kept.length >= 1)
    assert.equal(restoredLog.lines.filter((l) => l.msg === 'backup failed').length, 0)
  })

  it('schedules backups: logged, never two at once, the oldest beyond KEEP deleted', async () => {
    const dir = path.join(tmp, 'scheduled')
    const capture = captureLog()
    const schedule = scheduleBackups({
      db: restored!.db,
      dataDirectory: restored!.dataDir,
      settings: { directory: dir, intervalHours: 24, keep: 2 },
      log: capture.log,
    })
    try {
      const [first, second] = await Promise.all([schedule.runNow(), schedule.runNow()])
      assert.equal(first.outcome, 'written')
      assert.equal(second.outcome, 'skipped')
      assert.ok(capture.lines.some((l) => l.msg === 'backup skipped: the previous one is still running'))
      const third = await schedule.runNow()
      const fourth = await schedule.runNow()
      assert.equal(third.outcome, 'written')
      assert.equal(fourth.outcome, 'written')
      assert.ok(fourth.outcome === 'written' && fourth.deleted.length === 1)
      const kept = readdirSync(dir).sort()
      assert.deepEqual(kept, [third, fourth].map((r) => r.outcome === 'written' && path.basename(r.result.path)))
      assert.equal(capture.lines.filter((l) => l.msg === 'backup written').length, 3)
    } finally {
      await schedule.stop()
    }
  })

  it('downloads blobs that live on S3 into the backup, and restores them into the data directory', async () => {
    const s3 = await startS3()
    const pds = await startPds({ plcUrl: plc.url, env: s3.env })
    try {
      const user = await createUser(pds)
      const bytes = png(300, 7)
      const up = await user.agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'image/png' })
      await user.agent.com.atproto.repo.createRecord({
        repo: user.did,
        collection: 'app.bsky.actor.profile',
        rkey: 'self',
        record: { $type: 'app.bsky.actor.profile', avatar: up.data.blob },
      })
      const cid = up.data.blob.ref.toString()
      assert.ok(!existsSync(path.join(pds.dataDir, 'blobs', user.did)), 'the bytes are in the bucket only')
      const store = await blobBackend(pds.ctx.cfg)
      const made = await backup({ db: pds.db, dataDirectory: pds.dataDir, blobBackend: store, destination: path.join(tmp, 's3-backups') }).finally(
        () => store.close(),
      )
      assert.equal(made.copiedBlobs, 1)
      assert.deepEqual(made.damagedBlobs, [])
      const target = path.join(tmp, 's3-restored')
      const done = await restore({ backupDir: made.path, dataDirectory: target })
      assert.equal(done.blobs, 1)
      assert.deepEqual(readFileSync(path.join(target, 'blobs', user.did, cid)), bytes)
    } finally {
      await pds.destroy()
      await s3.close()
    }
  })

  it('the seq jump covers the fastest possible server for the time since the snapshot, plus clock skew', () => {
    const at = '2026-01-01T00:00:00.000Z'
    const t = Date.parse(at)
    assert.equal(seqFloorAfterRestore(500, at, t), 500 + (MAX_CLOCK_SKEW_MS / 1000) * MAX_EVENTS_PER_SECOND)
    const dayLater = seqFloorAfterRestore(500, at, t + 86_400_000)
    assert.equal(dayLater, 500 + (86_400 + MAX_CLOCK_SKEW_MS / 1000) * MAX_EVENTS_PER_SECOND)
    // A clock behind the snapshot within the allowance still jumps; far behind is refused.
    assert.ok(seqFloorAfterRestore(500, at, t - 60_000) > 500)
    assert.throws(() => seqFloorAfterRestore(500, at, t - MAX_CLOCK_SKEW_MS - 1), /clock .* behind the backup's time/)
  })
})
