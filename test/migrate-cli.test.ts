// `npm run migrate`, run as a child process exactly as a user would, between two reference PDSs (@atproto/pds,
// in-process) sharing one PLC directory, with their mail caught by a test SMTP server. The CLI only knows the
// official XRPC API, so these runs pin its behaviour against the implementation that defines that API.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { freePort } from './helpers/pds.ts'
import {
  recordCids,
  runMigrateCli,
  runMigrateCliOnTerminal,
  seedAccount,
  type CliRun,
  type SeededAccount,
} from './helpers/migration.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { startReferencePds, type ReferencePds } from './helpers/reference-pds.ts'
import { TestSmtp } from './helpers/smtp.ts'
import { SCRIPT, skipWithout } from './helpers/system.ts'

describe('npm run migrate (reference PDS → reference PDS)', () => {
  let plc: TestPlc
  let smtp: TestSmtp
  let oldPds: ReferencePds
  let newPds: ReferencePds
  let cwd: string
  /** Someone on the old PDS for the migrating accounts to follow. */
  let friendDid: string

  before(async () => {
    plc = await startPlc()
    smtp = await TestSmtp.start()
    ;[oldPds, newPds] = await Promise.all([
      startReferencePds({ plcUrl: plc.url, smtpUrl: smtp.url }),
      startReferencePds({ plcUrl: plc.url, smtpUrl: smtp.url }),
    ])
    cwd = mkdtempSync(path.join(os.tmpdir(), 'migrate-cli-'))
    const friend = new AtpAgent({ service: oldPds.url })
    await friend.createAccount({ handle: 'felix.test', email: 'felix@example.org', password: 'felix-pass' })
    friendDid = friend.session!.did
  })
  after(async () => {
    await oldPds?.close()
    await newPds?.close()
    await smtp?.close()
    await plc?.close()
    if (cwd) rmSync(cwd, { recursive: true, force: true })
  })

  const baseArgs = (acct: SeededAccount) => ['--from', oldPds.url, '--identifier', acct.handle, '--to', newPds.url]
  const env = (acct: SeededAccount, extra: Record<string, string> = {}) => ({ MIGRATE_PASSWORD: acct.password, ...extra })
  const show = (run: CliRun) => `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`

  /** What the new PDS reports for the account, signed in with `password`. */
  async function newStatus(did: string, password: string) {
    const agent = new AtpAgent({ service: newPds.url })
    await agent.login({ identifier: did, password })
    return (await agent.com.atproto.server.checkAccountStatus()).data
  }

  it('moves posts, a profile, a follow, an image and preferences; the DID and every record and blob follow', async () => {
    const alice = await seedAccount(oldPds.url, 'alice.test', friendDid)
    const before = await recordCids(oldPds.url, alice.did)
    assert.equal(before.size, 5)

    // No terminal and no code: everything up to the identity is moved, the code is requested, exit 3.
    const first = await runMigrateCli([...baseArgs(alice), '--new-handle', 'alice2.test', '--new-password', 'new-pass'], {
      cwd,
      env: env(alice),
    })
    assert.equal(first.code, 3, show(first))
    assert.match(first.stdout, /^Moving did:plc:\w+ \(alice\.test\)$/m)
    assert.match(first.stdout, /^✔ account created on the new PDS as alice2\.test \(deactivated until the move is complete\)$/m)
    assert.match(first.stdout, /^✔ repo exported: 5 records, [\d.]+ k?B CAR in [\d.]+ s$/m)
    assert.match(first.stdout, /^✔ repo imported: 5 of 5 records indexed by the new PDS in [\d.]+ s$/m)
    assert.match(first.stdout, /^✔ blobs copied: 2 of 2, [\d.]+ B in [\d.]+ s \([\d.]+ k?B\/s\)$/m)
    assert.match(first.stdout, /^✔ preferences copied: 1 entry$/m)
    assert.match(first.stdout, /^… the old PDS emailed a confirmation code to alice@example\.org/m)
    assert.match(first.stderr, /^✖ run the same command again with --plc-token <the code from that email>$/m)
    const mail = await smtp.next(alice.email)
    assert.ok(mail.token, `a code in the mail: ${mail.text}`)

    // With the code: the data steps are found done, the identity moves, the new activates, the old deactivates.
    const second = await runMigrateCli(
      [...baseArgs(alice), '--new-handle', 'alice2.test', '--new-password', 'new-pass', '--plc-token', mail.token!],
      { cwd, env: env(alice) },
    )
    assert.equal(second.code, 0, show(second))
    assert.match(second.stdout, /resuming; done before: createAccount, importRepo, blobs, preferences/)
    assert.match(second.stdout, /^✔ account already on the new PDS \(alice2\.test\): not created again$/m)
    assert.match(second.stdout, /^✔ repo already imported \(5 records, rev \w+\): not imported again$/m)
    assert.match(second.stdout, /^✔ blobs: none missing on the new PDS$/m)
    assert.match(second.stdout, /^✔ preferences already copied: not copied again$/m)
    assert.match(second.stdout, /^✔ DID document now points to the new PDS/m)
    assert.match(second.stdout, /^✔ account activated on the new PDS$/m)
    assert.match(second.stdout, /^✔ account deactivated on the old PDS/m)
    assert.match(second.stdout, /^ {2}records {3,}5 +5$/m)
    assert.match(second.stdout, /^ {2}blobs \(imported\/expected\) +2\/2 +2\/2$/m)
    assert.match(second.stdout, /^ {2}DID document points here +no +yes$/m)
    assert.match(second.stdout, /^ {2}activated +no +yes$/m)
    const commits = /^ {2}repo commit +(bafyrei…\w{8}) +(\S+)$/m.exec(second.stdout)
    assert.ok(commits && commits[1] === commits[2], 'both sides hold the same commit')
    assert.match(second.stdout, new RegExp(`^✔ moved: ${alice.did} is now served by ${newPds.url} as alice2\\.test$`, 'm'))
    assert.equal(second.stderr, '')

    // The DID resolves to the new PDS, under the new handle.
    const doc = (await (await fetch(`${plc.url}/${alice.did}`)).json()) as { alsoKnownAs: string[]; service: { serviceEndpoint: string }[] }
    assert.deepEqual(doc.alsoKnownAs, ['at://alice2.test'])
    assert.equal(doc.service[0].serviceEndpoint, newPds.url)
    // Every record is served by the new PDS with the same CID, and every blob with the same bytes.
    assert.deepEqual(await recordCids(newPds.url, alice.did), before)
    const newAgent = new AtpAgent({ service: newPds.url })
    for (const [cid, bytes] of alice.blobs) {
      const blob = await newAgent.com.atproto.sync.getBlob({ did: alice.did, cid })
      assert.deepEqual(Buffer.from(blob.data), bytes, `blob ${cid}`)
    }
    const listed = await newAgent.com.atproto.sync.listBlobs({ did: alice.did })
    assert.deepEqual(listed.data.cids.sort(), [...alice.blobs.keys()].sort())
    // The preferences came along; the old PDS serves the repo no more.
    await newAgent.login({ identifier: alice.did, password: 'new-pass' })
    const prefs = await newAgent.app.bsky.actor.getPreferences()
    assert.deepEqual(prefs.data.preferences, [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: false }])
    await assert.rejects(new AtpAgent({ service: oldPds.url }).com.atproto.sync.getRepo({ did: alice.did }), /deactivated/i)
    // The new one takes writes as the account's home.
    await newAgent.post({ text: 'hello from my new home', createdAt: new Date().toISOString() })

    // The state file has every step and no secrets.
    const stateFile = path.join(cwd, `migrate-${alice.did.replaceAll(':', '-')}.json`)
    const state = readFileSync(stateFile, 'utf8')
    assert.deepEqual(Object.keys(JSON.parse(state).steps), [
      'createAccount', 'importRepo', 'blobs', 'preferences', 'plcOperation', 'activateAccount', 'deactivateOld',
    ])
    for (const secret of [alice.password, 'new-pass', mail.token!]) assert.ok(!state.includes(secret))

    // Once more, without --new-handle (the state file remembers it): nothing left to do, the same report, exit 0.
    const third = await runMigrateCli([...baseArgs(alice), '--new-password', 'new-pass'], { cwd, env: env(alice) })
    assert.equal(third.code, 0, show(third))
    assert.match(third.stdout, /^✔ DID document already points to the new PDS: no PLC operation needed$/m)
    assert.match(third.stdout, /^✔ moved: .* as alice2\.test$/m)
    assert.equal(smtp.pending(alice.email).length, 0, 'no new code requested')
    // A rerun with another new password is told so, rather than trying to create the account again.
    const forgot = await runMigrateCli(baseArgs(alice), { cwd, env: env(alice) })
    assert.equal(forgot.code, 1, show(forgot))
    assert.match(forgot.stderr, /^✖ an earlier run created the account on the new PDS, which now refuses to sign in to it: give the same --new-password as then$/m)
  })

  it('resumes after being stopped right after the import, without importing again', async () => {
    const carol = await seedAccount(oldPds.url, 'carol.test', friendDid)
    const before = await recordCids(oldPds.url, carol.did)

    const stopped = await runMigrateCli(baseArgs(carol), { cwd, env: env(carol, { MIGRATE_STOP_AFTER: 'importRepo' }) })
    assert.equal(stopped.code, 4, show(stopped))
    assert.match(stopped.stdout, /^✔ repo imported: 5 of 5 records/m)
    assert.match(stopped.stdout, /^stopped after importRepo, as MIGRATE_STOP_AFTER asked/m)
    assert.doesNotMatch(stopped.stdout, /blobs/)
    // The handle is reused by default, and so is the password.
    const afterImport = await newStatus(carol.did, carol.password)
    assert.equal(afterImport.indexedRecords, 5)
    assert.equal(afterImport.importedBlobs, 0)
    assert.equal(afterImport.expectedBlobs, 2)

    const resumed = await runMigrateCli(baseArgs(carol), { cwd, env: env(carol) })
    assert.equal(resumed.code, 3, show(resumed))
    assert.match(resumed.stdout, /resuming; done before: createAccount, importRepo\)/)
    assert.match(resumed.stdout, /^✔ account already on the new PDS \(carol\.test\): not created again$/m)
    assert.match(resumed.stdout, /^✔ repo already imported \(5 records, rev \w+\): not imported again$/m)
    assert.doesNotMatch(resumed.stdout, /repo exported/)
    assert.match(resumed.stdout, /^✔ blobs copied: 2 of 2/m)
    const { token } = await smtp.next(carol.email)

    const finished = await runMigrateCli([...baseArgs(carol), '--plc-token', token!], { cwd, env: env(carol) })
    assert.equal(finished.code, 0, show(finished))
    assert.match(finished.stdout, /^✔ moved: /m)
    // The reference gives the repo a fresh rev on every import: an unchanged rev means it was imported once.
    const end = await newStatus(carol.did, carol.password)
    assert.equal(end.repoRev, afterImport.repoRev)
    assert.equal(end.importedBlobs, 2)
    assert.deepEqual(await recordCids(newPds.url, carol.did), before)
  })

  it('says clearly what is wrong: bad options, wrong password, an unreachable server, a target that refuses', async () => {
    const dave = await seedAccount(oldPds.url, 'dave.test', friendDid)

    const help = await runMigrateCli(['--help'], { cwd })
    assert.equal(help.code, 0)
    assert.match(help.stdout, /^usage: npm run migrate -- --from <old PDS URL>/)
    assert.match(help.stdout, /3 confirmation code sent: run again with --plc-token/)

    const usage = await runMigrateCli(['--from', oldPds.url], { cwd })
    assert.equal(usage.code, 2)
    assert.equal(usage.stderr, '✖ missing --identifier, --to (see --help)\n')

    const wrong = await runMigrateCli(baseArgs(dave), { cwd, env: { MIGRATE_PASSWORD: 'not-the-password' } })
    assert.equal(wrong.code, 1, show(wrong))
    assert.match(
      wrong.stderr,
      new RegExp(`^✖ the old PDS \\(${oldPds.url}\\) refused to sign in as dave\\.test: AuthenticationRequired: Invalid identifier or password → check --identifier and --password`),
    )

    const closed = `http://localhost:${await freePort()}`
    const unreachable = await runMigrateCli(['--from', oldPds.url, '--identifier', dave.handle, '--to', closed], { cwd, env: env(dave) })
    assert.equal(unreachable.code, 1, show(unreachable))
    assert.match(unreachable.stderr, new RegExp(`^✖ cannot reach the new PDS at ${closed} while trying to answer com\\.atproto\\.server\\.describeServer: connect ECONNREFUSED`))

    const refused = await runMigrateCli([...baseArgs(dave), '--new-handle', 'dave.elsewhere.example'], { cwd, env: env(dave) })
    assert.equal(refused.code, 1, show(refused))
    assert.match(refused.stderr, new RegExp(`^✖ the new PDS \\(${newPds.url}\\) refused to create the account dave\\.elsewhere\\.example for ${dave.did}: .+`, 'm'))
    // Nothing moved: the old account is untouched and active.
    const status = await dave.agent.com.atproto.server.checkAccountStatus()
    assert.equal(status.data.activated, true)
    assert.equal(status.data.validDid, true)
  })

  it('on a terminal, asks for the password (not echoed) and for the emailed code', { skip: skipWithout(SCRIPT) }, async () => {
    const erin = await seedAccount(oldPds.url, 'erin.test', friendDid)
    const term = runMigrateCliOnTerminal(baseArgs(erin), { cwd })
    try {
      await term.waitFor(/Password for erin\.test on http:\/\/localhost:\d+: $/)
      term.type(`${erin.password}\r`)
      await term.waitFor(/Confirmation code from that email: $/)
      const { token } = await smtp.next(erin.email)
      term.type(`${token}\r`)
      assert.equal(await term.exited, 0, term.output())
    } finally {
      term.kill()
    }
    assert.match(term.output(), /✔ moved: /)
    assert.ok(!term.output().includes(erin.password), 'the password was not echoed')
  })
})
