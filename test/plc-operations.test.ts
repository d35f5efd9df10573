// PLC operations an account's owner drives (getRecommendedDidCredentials, requestPlcOperationSignature,
// signPlcOperation, submitPlcOperation), end to end: a real PLC directory (behind a switchable gate, to take it down),
// a real SMTP server bringing the codes, @atproto/api's AtpAgent as the client, @did-plc/lib checking what the
// directory holds. Every refusal leaves the directory's log, the event log and the live codes as they were.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { Secp256k1Keypair } from '@atproto/crypto'
import * as plc from '@did-plc/lib'
import { EMAIL_TOKEN_LIFETIME_MS } from '../src/account/email-tokens.ts'
import { FirehoseClient } from './helpers/firehose-client.ts'
import { createUser, startPds, xrpc, type TestPds } from './helpers/pds.ts'
import { startPlc, startPlcGate, type PlcGate, type TestPlc } from './helpers/plc.ts'
import { events } from './helpers/repo-check.ts'
import { TestSmtp } from './helpers/smtp.ts'

type User = Awaited<ReturnType<typeof createUser>>
type Changes = { rotationKeys?: string[]; alsoKnownAs?: string[]; verificationMethods?: unknown; services?: unknown }

const SUBJECT = 'PLC Update Operation Requested'
const PDS_TYPE = 'AtprotoPersonalDataServer'

let plcDir: TestPlc
let gate: PlcGate
let smtp: TestSmtp
let pds: TestPds
let firehose: FirehoseClient
/** The directory itself, not through the gate: what the rest of the world reads. */
let directory: plc.Client
let clockOffset = 0

before(async () => {
  plcDir = await startPlc()
  gate = await startPlcGate(plcDir.url)
  smtp = await TestSmtp.start()
  pds = await startPds({
    plcUrl: gate.url,
    env: { PDS_EMAIL_SMTP_URL: smtp.url, PDS_EMAIL_FROM_ADDRESS: 'noreply@example.com' },
    now: () => Date.now() + clockOffset,
  })
  directory = new plc.Client(plcDir.url)
  firehose = await FirehoseClient.connect(pds)
})
after(async () => {
  firehose?.close()
  await pds?.destroy()
  await smtp?.close()
  await gate?.close()
  await plcDir?.close()
})
beforeEach(() => {
  clockOffset = 0
})

const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` })
const identity = (agent: AtpAgent) => agent.com.atproto.identity
/** A raw call as `user` (or with `jwt`), for the status and `{error, message}` of a refusal. */
const call = (nsid: string, who: User | string, body?: unknown) =>
  xrpc(pds, `com.atproto.identity.${nsid}`, {
    method: nsid.startsWith('get') ? 'GET' : 'POST',
    body,
    headers: bearer(typeof who === 'string' ? who : who.agent.session!.accessJwt),
  })
const codes = (did: string) =>
  pds.db.prepare('SELECT purpose FROM email_token WHERE did = ? ORDER BY purpose').pluck().all(did) as string[]

/** This PDS's rotation key, as every account's genesis op lists it. */
async function ourRotationKey(user: User): Promise<string> {
  return (await directory.getDocumentData(user.did)).rotationKeys.at(-1)!
}

/** Ask for a plc_operation code as `user` and return it from the mail that brings it. */
async function plcCode(user: User): Promise<string> {
  await identity(user.agent).requestPlcOperationSignature()
  const mail = await smtp.next(user.email)
  assert.equal(mail.subject, SUBJECT)
  assert.ok(mail.token, `a code in: ${mail.text}`)
  return mail.token
}

/** An operation signed by this PDS for `user` with `changes`, through the methods a client uses. */
async function signed(user: User, changes: Changes = {}): Promise<plc.Operation> {
  const token = await plcCode(user)
  const res = await call('signPlcOperation', user, { token, ...changes })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.operation
}

/** What a refused request must leave alone: the directory's log, the event log, the account's live codes. */
async function snapshot(user: User) {
  return { log: await directory.getOperationLog(user.did), seq: pds.ctx.sequencer.latestSeq(), codes: codes(user.did) }
}
async function assertUnchanged(user: User, before: Awaited<ReturnType<typeof snapshot>>, what: string) {
  assert.deepEqual(await snapshot(user), before, `${what}: unchanged`)
  assert.deepEqual(events(pds, before.seq), [], `${what}: nothing sequenced`)
}

/** Wait (bounded) for the live firehose to show `#identity` for `did` with `handle` after `afterSeq`. */
async function identityEvent(did: string, handle: string, afterSeq: number): Promise<void> {
  await firehose.until(
    () => firehose.events.some((f) => f.header.t === '#identity' && f.body.did === did && f.body.handle === handle && f.body.seq > afterSeq),
    `#identity ${did}`,
  )
}

describe('getRecommendedDidCredentials', () => {
  it("is what the DID document holds for an account created here, and an app password may read it", async () => {
    const alice = await createUser(pds)
    const { did: _did, ...data } = await directory.getDocumentData(alice.did)
    const creds = (await identity(alice.agent).getRecommendedDidCredentials()).data
    assert.deepEqual(creds, data)
    assert.deepEqual(creds.services, { atproto_pds: { type: PDS_TYPE, endpoint: pds.url } })

    const { data: appPassword } = await alice.agent.com.atproto.server.createAppPassword({ name: 'phone' })
    const phone = new AtpAgent({ service: pds.url })
    await phone.login({ identifier: alice.handle, password: appPassword.password })
    assert.deepEqual((await identity(phone).getRecommendedDidCredentials()).data, creds)
  })
})

describe('adding a recovery key of the user’s own', () => {
  it('mail → code → signPlcOperation → submitPlcOperation: the directory lists the key, #identity is sequenced', async () => {
    const bob = await createUser(pds)
    const recovery = await Secp256k1Keypair.create()
    const before = await directory.getDocumentData(bob.did)
    const logBefore = await directory.getOperationLog(bob.did)
    const seq = pds.ctx.sequencer.latestSeq()

    await identity(bob.agent).requestPlcOperationSignature()
    const mail = await smtp.next(bob.email)
    assert.equal(mail.subject, SUBJECT)
    assert.deepEqual(mail.to, [bob.email])
    assert.match(mail.text, new RegExp(`@${bob.handle.replace(/\./g, '\\.')}`))
    assert.deepEqual(codes(bob.did), ['plc_operation'])

    const rotationKeys = [recovery.did(), ...before.rotationKeys]
    const { operation } = (await identity(bob.agent).signPlcOperation({ token: mail.token!, rotationKeys })).data
    assert.deepEqual(codes(bob.did), [], 'the code is spent')
    assert.deepEqual(await directory.getOperationLog(bob.did), logBefore, 'signing alone submits nothing')
    assert.deepEqual(events(pds, seq), [])

    await identity(bob.agent).submitPlcOperation({ operation })
    const after = await directory.getDocumentData(bob.did)
    assert.deepEqual(after, { ...before, rotationKeys })
    // The whole log verifies, ending with our operation.
    const log = await directory.getOperationLog(bob.did)
    assert.deepEqual(log, [...logBefore, operation])
    assert.deepEqual(await plc.validateOperationLog(bob.did, log), after)

    await identityEvent(bob.did, bob.handle, seq)
    const mine = events(pds, seq).filter((e) => e.body.did === bob.did)
    assert.deepEqual(mine.map((e) => [e.type, e.body.handle]), [['#identity', bob.handle]])

    // The key is the user's to use now, without this PDS: the directory takes an operation it signs.
    await directory.updateHandle(bob.did, recovery as any, bob.handle)
    assert.equal((await directory.getOperationLog(bob.did)).length, log.length + 1)

    // The code worked once.
    const again = await call('signPlcOperation', bob, { token: mail.token, rotationKeys })
    assert.deepEqual([again.status, again.body.error], [400, 'InvalidToken'])
  })
})

describe('migration out', () => {
  it('signs an operation for another PDS and signing key that verifies; our submitPlcOperation refuses it; the new PDS could submit it', async () => {
    const carol = await createUser(pds)
    const ourKey = await ourRotationKey(carol)
    const newPdsRotationKey = await Secp256k1Keypair.create()
    const newSigningKey = await Secp256k1Keypair.create()
    // What the new PDS's getRecommendedDidCredentials would answer.
    const recommended = {
      rotationKeys: [newPdsRotationKey.did()],
      alsoKnownAs: [`at://${carol.handle}`],
      verificationMethods: { atproto: newSigningKey.did() },
      services: { atproto_pds: { type: PDS_TYPE, endpoint: 'https://new-pds.example.com' } },
    }
    const operation = await signed(carol, recommended)

    // Signed by our rotation key, as the next operation of the DID's log, giving exactly the data asked for.
    assert.equal(await plc.assureValidSig([ourKey], operation), ourKey)
    const log = await directory.getOperationLog(carol.did)
    assert.deepEqual(await plc.validateOperationLog(carol.did, [...log, operation]), { did: carol.did, ...recommended })

    // The account is active here: this PDS does not send an operation that moves it away.
    const before = await snapshot(carol)
    const res = await call('submitPlcOperation', carol, { operation })
    assert.deepEqual([res.status, res.body.error, res.body.message], [400, 'InvalidRequest', "Rotation keys do not include server's rotation key"])
    await assertUnchanged(carol, before, 'refused migration op')

    // The new PDS submits it: the directory accepts the operation as signed.
    await directory.sendOperation(carol.did, operation)
    assert.deepEqual(await directory.getDocumentData(carol.did), { did: carol.did, ...recommended })
  })
})

describe('submitPlcOperation refusals', () => {
  let dan: User
  let ourKey: string
  let other: Secp256k1Keypair

  before(async () => {
    dan = await createUser(pds)
    ourKey = await ourRotationKey(dan)
    other = await Secp256k1Keypair.create()
  })

  const refused = async (operation: unknown, status: number, error: string, message: string | RegExp, what: string) => {
    const before = await snapshot(dan)
    const res = await call('submitPlcOperation', dan, { operation })
    assert.deepEqual([res.status, res.body.error], [status, error], `${what}: ${JSON.stringify(res.body)}`)
    if (typeof message === 'string') assert.equal(res.body.message, message, what)
    else assert.match(res.body.message, message, what)
    await assertUnchanged(dan, before, what)
  }

  it('refuses operations signed by this PDS that drop our rotation key, endpoint, signing key or handle', async () => {
    const endpoint = (url: string, type = PDS_TYPE) => ({ services: { atproto_pds: { type, endpoint: url } } })
    const cases: [string, Changes, string][] = [
      ['drops our rotation key', { rotationKeys: [other.did()] }, "Rotation keys do not include server's rotation key"],
      ['another endpoint', endpoint('https://elsewhere.example.com'), 'Incorrect endpoint on atproto_pds service'],
      ['another service type', endpoint(pds.url, 'SomethingElse'), 'Incorrect type on atproto_pds service'],
      ['no atproto_pds service', { services: {} }, 'Incorrect type on atproto_pds service'],
      ['another signing key', { verificationMethods: { atproto: other.did() } }, 'Incorrect signing key'],
      ['no signing key', { verificationMethods: {} }, 'Incorrect signing key'],
      ['another handle first', { alsoKnownAs: ['at://someone-else.test', `at://${dan.handle}`] }, 'Incorrect handle in alsoKnownAs'],
    ]
    for (const [what, changes, message] of cases) {
      await refused(await signed(dan, changes), 400, 'InvalidRequest', message, what)
    }
    // With our key kept beside another, each check still holds.
    const kept = await signed(dan, { rotationKeys: [other.did(), ourKey], ...endpoint('https://elsewhere.example.com') })
    await refused(kept, 400, 'InvalidRequest', 'Incorrect endpoint on atproto_pds service', 'our key kept, endpoint not')
  })

  it('refuses malformed operations and ones the directory will not take (bad signature, stale), then takes a good one once the directory is back', async () => {
    const good = await signed(dan)
    const { sig: _sig, ...unsigned } = good
    const malformed: [string, unknown][] = [
      ['no signature', unsigned],
      ['a legacy create op', { ...good, type: 'create' }],
      ['rotation keys not a list', { ...good, rotationKeys: ourKey }],
      ['a service without endpoint', { ...good, services: { atproto_pds: { type: PDS_TYPE } } }],
      ['a tombstone', { type: 'plc_tombstone', prev: good.prev, sig: good.sig }],
    ]
    for (const [what, operation] of malformed) await refused(operation, 400, 'InvalidRequest', 'Invalid operation', what)
    for (const body of [{}, { operation: 'an op' }, { operation: [good] }]) {
      const before = await snapshot(dan)
      const res = await call('submitPlcOperation', dan, body)
      assert.deepEqual([res.status, res.body.error], [400, 'InvalidRequest'], JSON.stringify(body))
      await assertUnchanged(dan, before, JSON.stringify(body))
    }

    // Passes our checks, but no rotation key signed it: the directory refuses.
    const forged = await plc.addSignature(unsigned, other as any)
    await refused(forged, 400, 'InvalidRequest', /signature/i, 'signed by a key that is no rotation key')
    const tampered = { ...good, alsoKnownAs: [...good.alsoKnownAs, 'at://extra.example.com'] }
    await refused(tampered, 400, 'InvalidRequest', /signature/i, 'changed after signing')

    // The directory is down: 502, nothing sent or sequenced.
    await gate.whileDown(() => refused(good, 502, 'UpstreamFailure', /unavailable/, 'directory down'))

    // Back up: the same operation goes through.
    const seq = pds.ctx.sequencer.latestSeq()
    const res = await call('submitPlcOperation', dan, { operation: good })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual((await directory.getOperationLog(dan.did)).at(-1), good)
    await identityEvent(dan.did, dan.handle, seq)

    // Now it is no longer the next operation: the directory refuses it.
    await refused(good, 400, 'InvalidRequest', /./, 'submitted twice (no longer the next operation)')
  })
})

describe('signPlcOperation refusals', () => {
  it('refuses a missing, wrong, replaced, foreign, other-purpose or expired code and malformed fields; each leaves the live code', async () => {
    const erin = await createUser(pds)
    const fay = await createUser(pds)
    const replaced = await plcCode(erin)
    const token = await plcCode(erin)
    const fays = await plcCode(fay)
    await erin.agent.com.atproto.server.requestEmailConfirmation()
    const confirmation = (await smtp.next(erin.email)).token!

    const sign = async (body: Record<string, unknown>, status: number, error: string, what: string) => {
      const before = await snapshot(erin)
      const res = await call('signPlcOperation', erin, body)
      assert.deepEqual([res.status, res.body.error], [status, error], `${what}: ${JSON.stringify(res.body)}`)
      assert.equal(res.body.operation, undefined)
      await assertUnchanged(erin, before, what)
      return res.body.message as string
    }
    const message = await sign({}, 400, 'InvalidRequest', 'no code')
    assert.equal(message, 'email confirmation token required to sign PLC operations')
    await sign({ token: '' }, 400, 'InvalidRequest', 'an empty code')
    await sign({ token: 'AAAAA-AAAAA' }, 400, 'InvalidToken', 'a wrong code')
    await sign({ token: replaced }, 400, 'InvalidToken', 'a replaced code')
    await sign({ token: fays }, 400, 'InvalidToken', "another account's code")
    await sign({ token: confirmation }, 400, 'InvalidToken', 'an email confirmation code')
    await sign({ token, verificationMethods: { atproto: 5 } }, 400, 'InvalidRequest', 'a non-string key')
    await sign({ token, services: 'https://elsewhere.example.com' }, 400, 'InvalidRequest', 'services not a map')
    await sign({ token, services: { atproto_pds: { type: PDS_TYPE } } }, 400, 'InvalidRequest', 'a service without endpoint')
    await sign({ token, rotationKeys: 'did:key:z' }, 400, 'InvalidRequest', 'rotation keys not a list')
    clockOffset = EMAIL_TOKEN_LIFETIME_MS
    await sign({ token }, 400, 'ExpiredToken', 'an expired code')
    clockOffset = 0
    assert.deepEqual(codes(erin.did), ['confirm_email', 'plc_operation'])

    // The directory is down: 502, and the code is not spent, so the user can retry without a new mail.
    await gate.whileDown(() => sign({ token }, 502, 'UpstreamFailure', 'directory down'))
    const res = await call('signPlcOperation', erin, { token })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(codes(erin.did), ['confirm_email'])
    await sign({ token }, 400, 'InvalidToken', 'a spent code')
  })

  it('refuses to sign for a DID its owner has tombstoned with their own key, and keeps the code', async () => {
    const gus = await createUser(pds)
    const recovery = await Secp256k1Keypair.create()
    const rotationKeys = [recovery.did(), await ourRotationKey(gus)]
    await identity(gus.agent).submitPlcOperation({ operation: await signed(gus, { rotationKeys }) })
    await directory.tombstone(gus.did, recovery as any)

    const token = await plcCode(gus)
    const seq = pds.ctx.sequencer.latestSeq()
    const res = await call('signPlcOperation', gus, { token })
    assert.deepEqual([res.status, res.body.error], [400, 'InvalidRequest'])
    assert.match(res.body.message, /tombstoned/)
    assert.deepEqual(codes(gus.did), ['plc_operation'])
    assert.deepEqual(events(pds, seq), [])
  })
})

describe('who may call them', () => {
  it('app passwords may neither ask for a code nor sign; they may read the recommendation and submit', async () => {
    const hal = await createUser(pds)
    const { data: appPassword } = await hal.agent.com.atproto.server.createAppPassword({ name: 'phone' })
    const phone = new AtpAgent({ service: pds.url })
    await phone.login({ identifier: hal.handle, password: appPassword.password })
    const jwt = phone.session!.accessJwt

    const before = await snapshot(hal)
    const request = await call('requestPlcOperationSignature', jwt)
    assert.deepEqual([request.status, request.body.error], [400, 'InvalidToken'])
    assert.deepEqual(smtp.pending(hal.email), [], 'nothing mailed')
    await assertUnchanged(hal, before, 'request with an app password')

    const token = await plcCode(hal)
    const withCode = await snapshot(hal)
    const sign = await call('signPlcOperation', jwt, { token })
    assert.deepEqual([sign.status, sign.body.error], [400, 'InvalidToken'])
    await assertUnchanged(hal, withCode, 'sign with an app password')

    assert.equal((await call('getRecommendedDidCredentials', jwt)).status, 200)
    // Past auth, to the operation's own checks (the reference lets any login submit an operation already signed).
    const submit = await call('submitPlcOperation', jwt, { operation: {} })
    assert.deepEqual([submit.status, submit.body.message], [400, 'Invalid operation'])
  })

  it('none of them without a login', async () => {
    for (const nsid of ['getRecommendedDidCredentials', 'requestPlcOperationSignature', 'signPlcOperation', 'submitPlcOperation']) {
      const res = await xrpc(pds, `com.atproto.identity.${nsid}`, {
        method: nsid.startsWith('get') ? 'GET' : 'POST',
        body: nsid.startsWith('get') || nsid.startsWith('request') ? undefined : {},
      })
      assert.deepEqual([res.status, res.body.error], [401, 'AuthenticationRequired'], nsid)
    }
  })
})
