// The round trip of issue 13, against the implementation that defines the API: an account with posts, a profile, a
// follow, images and preferences moves from the reference PDS (@atproto/pds, in-process) to Aurora and on to another
// reference PDS (the first keeps its deactivated copy, and a PDS cannot take back a DID whose repo it still holds),
// all on one real PLC directory, with every emailed code read from a test SMTP server. Once by hand with
// @atproto/api, step by step as the atproto "Account Migration" guide has it; once with `npm run migrate`.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { IdResolver } from '@atproto/identity'
import { readCarWithRoot, verifyRepo } from '@atproto/repo'
import { parseCommitAuthenticated } from '@atproto/sync'
import { migrationAgent } from '../src/migrate/context.ts'
import { FirehoseClient } from './helpers/firehose-client.ts'
import { recordCids, runMigrateCli, seedAccount, type CliRun, type SeededAccount } from './helpers/migration.ts'
import { startPds, type TestPds } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { startReferencePds, type ReferencePds } from './helpers/reference-pds.ts'
import { checkCommitEvent } from './helpers/repo-check.ts'
import { TestSmtp } from './helpers/smtp.ts'

const CREATE_ACCOUNT = 'com.atproto.server.createAccount'
const CAR = 'application/vnd.ipld.car'

type PlcDoc = { alsoKnownAs: string[]; verificationMethods: { atproto: string }; services: { atproto_pds: { endpoint: string } } }

describe('migration round trip: reference PDS → Aurora → reference PDS', () => {
  let plc: TestPlc
  let smtp: TestSmtp
  let refA: ReferencePds
  let refB: ReferencePds
  let aurora: TestPds
  let idResolver: IdResolver
  /** Someone on the first reference PDS for the migrating accounts to follow. */
  let friendDid: string
  let cwd: string

  before(async () => {
    plc = await startPlc()
    smtp = await TestSmtp.start()
    ;[refA, refB, aurora] = await Promise.all([
      startReferencePds({ plcUrl: plc.url, smtpUrl: smtp.url }),
      startReferencePds({ plcUrl: plc.url, smtpUrl: smtp.url }),
      startPds({ plcUrl: plc.url, env: { PDS_EMAIL_SMTP_URL: smtp.url, PDS_EMAIL_FROM_ADDRESS: 'noreply@aurora.test' } }),
    ])
    idResolver = new IdResolver({ plcUrl: plc.url, fetch: globalThis.fetch })
    const friend = new AtpAgent({ service: refA.url })
    await friend.createAccount({ handle: 'felix.test', email: 'felix@example.org', password: 'felix-pass' })
    friendDid = friend.session!.did
    cwd = mkdtempSync(path.join(os.tmpdir(), 'migrate-roundtrip-'))
  })
  after(async () => {
    await aurora?.destroy()
    await refA?.close()
    await refB?.close()
    await smtp?.close()
    await plc?.close()
    if (cwd) rmSync(cwd, { recursive: true, force: true })
  })

  /** The DID's current PLC data, from the directory itself. */
  async function plcData(did: string): Promise<PlcDoc> {
    const res = await fetch(`${plc.url}/${did}/data`)
    assert.equal(res.status, 200)
    return (await res.json()) as PlcDoc
  }

  /** Every blob of `blobs` served by `url` for `did` with the same bytes (and so the same CID). */
  async function assertBlobsServed(url: string, did: string, blobs: Map<string, Buffer>, agent = new AtpAgent({ service: url })) {
    for (const [cid, bytes] of blobs) {
      const blob = await agent.com.atproto.sync.getBlob({ did, cid })
      assert.deepEqual(Buffer.from(blob.data), bytes, `blob ${cid} from ${url}`)
    }
    const listed = await agent.com.atproto.sync.listBlobs({ did })
    assert.deepEqual(listed.data.cids.sort(), [...blobs.keys()].sort())
  }

  /** getRepo from `url` (as `agent` asks it) verifies against the key the DID document names now; its records. */
  async function verifiedExport(agent: AtpAgent, did: string): Promise<Map<string, string>> {
    const car = await agent.com.atproto.sync.getRepo({ did })
    const { root, blocks } = await readCarWithRoot(car.data)
    const { signingKey } = await idResolver.did.resolveAtprotoData(did, true)
    const verified = await verifyRepo(blocks, root, did, signingKey)
    return new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
  }

  /**
   * The official sequence, one XRPC call at a time: service auth from the old PDS, createAccount with the DID on the
   * new, the repo, the missing blobs, the preferences, the PLC operation (recommended by the new, signed by the old
   * with the emailed code, submitted by the new), activate the new, deactivate the old. Resolves with both sessions.
   */
  async function moveByHand(acct: SeededAccount, from: string, to: string, newHandle: string) {
    const old = migrationAgent(from)
    await old.login({ identifier: acct.did, password: acct.password })
    const neu = migrationAgent(to)
    const toDid = (await neu.com.atproto.server.describeServer()).data.did

    const auth = await old.com.atproto.server.getServiceAuth({ aud: toDid, lxm: CREATE_ACCOUNT })
    const created = await neu.com.atproto.server.createAccount(
      { did: acct.did, handle: newHandle, email: acct.email, password: acct.password },
      { headers: { authorization: `Bearer ${auth.data.token}` } },
    )
    assert.equal(created.data.did, acct.did)
    await neu.login({ identifier: acct.did, password: acct.password })
    const fresh = (await neu.com.atproto.server.checkAccountStatus()).data
    assert.deepEqual([fresh.activated, fresh.validDid], [false, false], 'deactivated, and the DID document names the old PDS')

    const car = await old.com.atproto.sync.getRepo({ did: acct.did })
    await neu.com.atproto.repo.importRepo(car.data, { encoding: CAR })

    const missing = (await neu.com.atproto.repo.listMissingBlobs({})).data.blobs
    assert.deepEqual(missing.map((b) => b.cid).sort(), [...acct.blobs.keys()].sort(), 'every blob listed as missing')
    for (const { cid } of missing) {
      const blob = await old.com.atproto.sync.getBlob({ did: acct.did, cid })
      const up = await neu.com.atproto.repo.uploadBlob(blob.data, { encoding: blob.headers['content-type'] })
      assert.equal(up.data.blob.ref.toString(), cid)
    }
    assert.deepEqual((await neu.com.atproto.repo.listMissingBlobs({})).data.blobs, [])

    const prefs = await old.app.bsky.actor.getPreferences()
    await neu.app.bsky.actor.putPreferences({ preferences: prefs.data.preferences })

    const creds = await neu.com.atproto.identity.getRecommendedDidCredentials()
    await old.com.atproto.identity.requestPlcOperationSignature()
    const { token } = await smtp.next(acct.email)
    assert.ok(token, 'the old PDS mailed a code')
    const signed = await old.com.atproto.identity.signPlcOperation({ ...creds.data, token })
    await neu.com.atproto.identity.submitPlcOperation({ operation: signed.data.operation })

    await neu.com.atproto.server.activateAccount()
    await old.com.atproto.server.deactivateAccount({})
    return { old, neu }
  }

  it('by hand with @atproto/api: every record, blob and preference goes there and back, announced and verifiable', async () => {
    const alice = await seedAccount(refA.url, 'alice.test', friendDid)
    const original = await recordCids(refA.url, alice.did)
    assert.equal(original.size, 5)
    const firehose = await FirehoseClient.connect(aurora, { cursor: aurora.ctx.sequencer.lastAssignedSeq() })
    try {
      // ── reference → Aurora
      const { neu: atAurora } = await moveByHand(alice, refA.url, aurora.url, 'alice-aurora.test')

      // The DID resolves to Aurora, with the handle and signing key it recommended.
      const doc = await plcData(alice.did)
      assert.equal(doc.services.atproto_pds.endpoint, aurora.url)
      assert.deepEqual(doc.alsoKnownAs, ['at://alice-aurora.test'])
      const resolved = await idResolver.did.resolveAtprotoData(alice.did, true)
      assert.equal(resolved.pds, aurora.url)
      assert.equal(resolved.handle, 'alice-aurora.test')

      // Every record and blob, served by Aurora with the same CIDs; the preferences came along.
      assert.deepEqual(await recordCids(aurora.url, alice.did), original)
      await assertBlobsServed(aurora.url, alice.did, alice.blobs)
      const prefs = await atAurora.app.bsky.actor.getPreferences()
      assert.deepEqual(prefs.data.preferences, [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: false }])
      const status = (await atAurora.com.atproto.server.checkAccountStatus()).data
      assert.deepEqual([status.activated, status.validDid, status.importedBlobs, status.expectedBlobs], [true, true, 2, 2])

      // The firehose: #identity when the PLC operation was submitted (as the reference does, even for a deactivated
      // account), then #account (active), #identity and #sync at activation; nothing of the import before them.
      const mine = () => firehose.events.filter((f) => (f.body.did ?? f.body.repo) === alice.did)
      await firehose.until(() => mine().length >= 4, 'the identity and activation events of the account')
      assert.deepEqual(mine().map((f) => f.header.t), ['#identity', '#account', '#identity', '#sync'])
      const [account, identity, sync] = mine().slice(1).map((f) => f.body)
      assert.deepEqual([account.active, account.status], [true, undefined])
      assert.equal(identity.handle, 'alice-aurora.test')
      const syncCar = await readCarWithRoot(sync.blocks)
      assert.equal(syncCar.root.toString(), status.repoCommit, '#sync names the head')

      // getRepo from Aurora verifies against the DID's current key, and holds the same records.
      assert.deepEqual(await verifiedExport(atAurora, alice.did), original)

      // The next write's #commit follows the #sync and verifies as a relay verifies it.
      const write = await atAurora.post({ text: 'hello from Aurora', createdAt: new Date().toISOString() })
      await firehose.until(() => mine().length >= 5, 'the #commit of the next write')
      const commit = mine()[4]
      assert.equal(commit.header.t, '#commit')
      assert.equal(commit.body.since, sync.rev)
      await checkCommitEvent(commit.body, resolved.signingKey)
      const parsed = await parseCommitAuthenticated(idResolver, commit.body as never)
      assert.deepEqual(parsed.map((e) => [e.event, e.uri.toString()]), [['create', write.uri]])
      const atAuroraNow = await recordCids(aurora.url, alice.did)
      assert.equal(atAuroraNow.size, 6)

      // The first reference PDS serves the repo no more.
      await assert.rejects(new AtpAgent({ service: refA.url }).com.atproto.sync.getRepo({ did: alice.did }), /deactivated/i)

      // ── Aurora → another reference PDS
      const { old: leftAurora, neu: atRefB } = await moveByHand(alice, aurora.url, refB.url, 'alice-back.test')
      const back = await plcData(alice.did)
      assert.equal(back.services.atproto_pds.endpoint, refB.url)
      assert.deepEqual(back.alsoKnownAs, ['at://alice-back.test'])
      assert.deepEqual(await recordCids(refB.url, alice.did), atAuroraNow)
      await assertBlobsServed(refB.url, alice.did, alice.blobs)
      const refBStatus = (await atRefB.com.atproto.server.checkAccountStatus()).data
      assert.deepEqual([refBStatus.activated, refBStatus.validDid], [true, true])
      // The reference does not re-sign an imported head at activation: until the first write there, it serves the
      // commit exactly as Aurora signed it, and from then on a repo signed with its own key.
      const imported = await readCarWithRoot((await atRefB.com.atproto.sync.getRepo({ did: alice.did })).data)
      assert.equal(imported.root.toString(), (await atAurora.com.atproto.sync.getLatestCommit({ did: alice.did })).data.cid)
      await verifyRepo(imported.blocks, imported.root, alice.did, resolved.signingKey)
      const refBPrefs = await atRefB.app.bsky.actor.getPreferences()
      assert.deepEqual(refBPrefs.data.preferences, [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: false }])
      const home = await atRefB.post({ text: 'home again', createdAt: new Date().toISOString() })
      const atRefBNow = await verifiedExport(atRefB, alice.did)
      assert.deepEqual(atRefBNow, new Map([...atAuroraNow, [home.uri.split('/').slice(-2).join('/'), home.cid]]))

      // Aurora: deactivated and announced so; its copy is no longer public, but stays there for the owner to export.
      const left = (await leftAurora.com.atproto.server.checkAccountStatus()).data
      assert.deepEqual([left.activated, left.validDid], [false, false])
      await firehose.until(
        () => mine().some((f) => f.header.t === '#account' && f.body.active === false && f.body.status === 'deactivated'),
        'the #account (deactivated) of the departure',
      )
      await assert.rejects(new AtpAgent({ service: aurora.url }).com.atproto.sync.getRepo({ did: alice.did }), /deactivated/i)
      const ownCar = await leftAurora.com.atproto.sync.getRepo({ did: alice.did })
      const { blocks, root } = await readCarWithRoot(ownCar.data)
      const exported = await verifyRepo(blocks, root, alice.did)
      assert.equal(exported.creates.length, atAuroraNow.size)
      await assertBlobsServed(aurora.url, alice.did, alice.blobs, leftAurora)
    } finally {
      firehose.close()
    }
  })

  const show = (run: CliRun) => `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`

  /** `npm run migrate` from `from` to `to`: the run that emails the code (exit 3), then the one with it (exit 0). */
  async function moveWithCli(
    acct: SeededAccount,
    from: string,
    to: string,
    newHandle: string,
    { existing = false } = {},
  ): Promise<CliRun> {
    const args = ['--from', from, '--identifier', acct.did, '--to', to, '--new-handle', newHandle]
    const env = { MIGRATE_PASSWORD: acct.password }
    const first = await runMigrateCli(args, { cwd, env })
    assert.equal(first.code, 3, show(first))
    const handle = newHandle.replaceAll('.', '\\.')
    if (existing) assert.match(first.stdout, new RegExp(`^✔ account already on the new PDS \\(${handle}\\): not created again$`, 'm'))
    else assert.match(first.stdout, new RegExp(`^✔ account created on the new PDS as ${handle} `, 'm'))
    assert.match(first.stdout, /^✔ repo imported: (\d+) of \1 records indexed by the new PDS/m)
    assert.match(first.stdout, existing ? /^✔ blobs: none missing on the new PDS$/m : /^✔ blobs copied: 2 of 2, /m)
    const { token } = await smtp.next(acct.email)
    assert.ok(token, 'a code in the mail')
    const second = await runMigrateCli([...args, '--plc-token', token!], { cwd, env })
    assert.equal(second.code, 0, show(second))
    assert.equal(second.stderr, '')
    // As it says, the state file has served its purpose: without it the next move of the DID starts afresh.
    const stateFile = path.join(cwd, `migrate-${acct.did.replaceAll(':', '-')}.json`)
    assert.match(second.stdout, new RegExp(`^ {2}${stateFile.replaceAll('.', '\\.')} can be deleted\\.$`, 'm'))
    rmSync(stateFile)
    return second
  }

  it('with npm run migrate: there, back, and here again onto the deactivated copy, with the final report on both sides', async () => {
    const bob = await seedAccount(refA.url, 'bob.test', friendDid)
    const original = await recordCids(refA.url, bob.did)

    const there = await moveWithCli(bob, refA.url, aurora.url, 'bob-aurora.test')
    assert.match(there.stdout, /^✔ DID document now points to the new PDS/m)
    assert.match(there.stdout, /^✔ account activated on the new PDS$/m)
    assert.match(there.stdout, /^✔ account deactivated on the old PDS/m)
    assert.match(there.stdout, /^ {2}records {3,}5 +5$/m)
    assert.match(there.stdout, /^ {2}blobs \(imported\/expected\) +2\/2 +2\/2$/m)
    assert.match(there.stdout, /^ {2}DID document points here +no +yes$/m)
    assert.match(there.stdout, /^ {2}activated +no +yes$/m)
    assert.match(there.stdout, /^ {2}repo commit +bafyrei…\w{8} +bafyrei…\w{8}$/m)
    assert.match(there.stdout, new RegExp(`^✔ moved: ${bob.did} is now served by ${aurora.url} as bob-aurora\\.test$`, 'm'))
    assert.equal((await plcData(bob.did)).services.atproto_pds.endpoint, aurora.url)
    assert.deepEqual(await recordCids(aurora.url, bob.did), original)
    await assertBlobsServed(aurora.url, bob.did, bob.blobs)

    const back = await moveWithCli(bob, aurora.url, refB.url, 'bob-back.test')
    assert.match(back.stdout, /^ {2}records {3,}5 +5$/m)
    assert.match(back.stdout, /^ {2}blobs \(imported\/expected\) +2\/2 +2\/2$/m)
    assert.match(back.stdout, /^ {2}DID document points here +no +yes$/m)
    assert.match(back.stdout, /^ {2}activated +no +yes$/m)
    const commits = /^ {2}repo commit +(bafyrei…\w{8}) +(\S+)$/m.exec(back.stdout)
    assert.ok(commits && commits[1] === commits[2], `both sides hold the same commit: ${commits}`)
    assert.match(back.stdout, new RegExp(`^✔ moved: ${bob.did} is now served by ${refB.url} as bob-back\\.test$`, 'm'))
    const doc = await plcData(bob.did)
    assert.equal(doc.services.atproto_pds.endpoint, refB.url)
    assert.deepEqual(doc.alsoKnownAs, ['at://bob-back.test'])
    assert.deepEqual(await recordCids(refB.url, bob.did), original)
    await assertBlobsServed(refB.url, bob.did, bob.blobs)

    // And here once more, where the deactivated copy is: the command signs in to it instead of creating the account,
    // imports the newer repo over it, and activates it.
    const refBAgent = migrationAgent(refB.url)
    await refBAgent.login({ identifier: bob.did, password: bob.password })
    const later = await refBAgent.post({ text: 'written on the second reference PDS', createdAt: new Date().toISOString() })
    const again = await moveWithCli(bob, refB.url, aurora.url, 'bob-aurora.test', { existing: true })
    assert.match(again.stdout, /^ {2}records {3,}6 +6$/m)
    assert.match(again.stdout, /^ {2}activated +no +yes$/m)
    assert.equal((await plcData(bob.did)).services.atproto_pds.endpoint, aurora.url)
    const finalCids = await recordCids(aurora.url, bob.did)
    assert.equal(finalCids.get(later.uri.split('/').slice(-2).join('/')), later.cid)
    assert.equal(finalCids.size, 6)
  })
})
