// A stand-in for a service the PDS forwards to (an AppView, a chat service, a moderation service): a loopback HTTP
// server that verifies each call's service JWT with @atproto/xrpc-server's verifyJwt against the caller's signing
// key, resolved from the real PLC directory, checks `aud` (its own DID) and `lxm` (the called method), records the
// call (method, params, headers, body digest, JWT claims) and answers with lexicon-valid bodies, or with whatever a
// test asks for (hang, 500, bytes that are not HTTP, a large streamed body).
import { createHash } from 'node:crypto'
import http, { type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Secp256k1Keypair } from '@atproto/crypto'
import { IdResolver } from '@atproto/identity'
import { verifyJwt } from '@atproto/xrpc-server'
import * as plc from '@did-plc/lib'

export type Claims = { iss: string; aud: string; lxm?: string; exp: number; iat?: number; jti?: string }

export type StandInCall = {
  method: string
  nsid: string
  params: Record<string, string>
  headers: IncomingHttpHeaders
  /** The body's size and sha256 (hex); its JSON when it parses. */
  bodyBytes: number
  bodySha256: string
  json?: unknown
  /** The verified JWT claims; undefined when verification failed (then `authError` says why). */
  claims?: Claims
  authError?: string
}

/** What a test may answer instead of the default: JSON, raw bytes, or a misbehaviour. */
export type Answer =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; raw: string | Buffer; headers?: Record<string, string> }
  | { stream: (res: http.ServerResponse) => Promise<void> | void }
  | 'hang' // accept the request, never answer
  | 'garbage' // answer with bytes that are not HTTP
  | 'close' // close the connection without an answer

export type ServiceEntry = { id: string; type: string; endpoint: string }

export class ServiceStandIn {
  readonly calls: StandInCall[] = []
  /** Its DID: did:web of its origin unless a test gives it another (a did:plc whose document lists it). */
  did: string
  /** A test's answer for a call; undefined: the default answer. */
  answer: (call: StandInCall) => Answer | undefined = () => undefined
  /** Services its did:web document lists besides its own endpoint for every service id (tests add odd ones). */
  extraServices: ServiceEntry[] = []
  readonly url: string
  private readonly server: http.Server
  private readonly resolver: IdResolver
  private readonly sockets = new Set<Socket>()

  private constructor(server: http.Server, port: number, plcUrl: string) {
    this.server = server
    this.url = `http://localhost:${port}`
    this.did = `did:web:localhost%3A${port}`
    this.resolver = new IdResolver({ plcUrl, fetch: globalThis.fetch })
  }

  static async start(plcUrl: string): Promise<ServiceStandIn> {
    let standIn: ServiceStandIn | undefined
    // A request the PDS abandons mid-body (a body over its cap) ends here as a failed read: drop that connection.
    const server = http.createServer((req, res) => void standIn!.handle(req, res).catch(() => res.destroy()))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    standIn = new ServiceStandIn(server, (server.address() as AddressInfo).port, plcUrl)
    server.on('connection', (s) => {
      standIn!.sockets.add(s)
      s.once('close', () => standIn!.sockets.delete(s))
    })
    return standIn
  }

  /** The calls of one method. */
  callsOf(nsid: string): StandInCall[] {
    return this.calls.filter((c) => c.nsid === nsid)
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    await closed
  }

  /** Its did:web document: every service id a test uses points here, plus `extraServices`. */
  didDoc(): unknown {
    const own: ServiceEntry[] = [
      { id: '#bsky_appview', type: 'BskyAppView', endpoint: this.url },
      { id: '#bsky_chat', type: 'BskyChatService', endpoint: this.url },
      { id: '#bsky_notif', type: 'BskyNotificationService', endpoint: this.url },
      { id: '#atproto_labeler', type: 'AtprotoLabeler', endpoint: this.url },
    ]
    return {
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: this.did,
      service: [...own, ...this.extraServices].map((s) => ({ id: s.id, type: s.type, serviceEndpoint: s.endpoint })),
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url)
    if (url.pathname === '/.well-known/did.json') return json(res, 200, this.didDoc())
    const nsid = url.pathname.replace(/^\/xrpc\//, '')
    const hash = createHash('sha256')
    let bodyBytes = 0
    const chunks: Buffer[] = []
    for await (const chunk of req) {
      hash.update(chunk as Buffer)
      bodyBytes += (chunk as Buffer).length
      if (bodyBytes <= 64 * 1024) chunks.push(chunk as Buffer)
    }
    const call: StandInCall = {
      method: req.method ?? '',
      nsid,
      params: Object.fromEntries(url.searchParams),
      headers: req.headers,
      bodyBytes,
      bodySha256: hash.digest('hex'),
    }
    if (bodyBytes > 0 && bodyBytes <= 64 * 1024) {
      try {
        call.json = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {}
    }
    try {
      call.claims = await this.verify(req.headers.authorization, nsid)
    } catch (err) {
      call.authError = `${(err as { error?: string }).error ?? 'AuthenticationRequired'}: ${(err as Error).message}`
    }
    this.calls.push(call)
    if (!call.claims) return json(res, 401, { error: call.authError!.split(':')[0], message: call.authError })
    await this.send(res, req.socket, this.answer(call) ?? defaultAnswer(call))
  }

  private async verify(authorization: string | undefined, nsid: string): Promise<Claims> {
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined
    if (!token) throw Object.assign(new Error('no bearer token'), { error: 'AuthMissing' })
    const getKey = (iss: string, forceRefresh: boolean) => this.resolver.did.resolveAtprotoKey(iss, forceRefresh)
    // As Bluesky's AppView checks getFeed: the token is for the feed generator it passes it on to, so its audience
    // is not ours, and it is scoped to getFeedSkeleton.
    if (nsid === 'app.bsky.feed.getFeed') {
      return (await verifyJwt(token, null, 'app.bsky.feed.getFeedSkeleton', getKey)) as Claims
    }
    return (await verifyJwt(token, this.did, nsid, getKey)) as Claims
  }

  private async send(res: http.ServerResponse, socket: Socket, answer: Answer): Promise<void> {
    if (answer === 'hang') return // dropped by close()
    if (answer === 'close') return void socket.destroy()
    if (answer === 'garbage') return void socket.end('this is not HTTP at all\r\n\r\n')
    if ('stream' in answer) return answer.stream(res)
    const body = 'json' in answer ? JSON.stringify(answer.json) : answer.raw
    const type = 'json' in answer ? { 'content-type': 'application/json; charset=utf-8' } : {}
    res.writeHead(answer.status, { ...type, ...answer.headers }).end(body)
  }
}

/** The generator behind every feed the stand-in AppView knows (getFeedGenerator's `view.did`). */
export const FEED_GENERATOR_DID = 'did:web:feedgen.standin.test'

/** Lexicon-valid answers for the methods the tests call through @atproto/api; anything else: the call, echoed. */
function defaultAnswer(call: StandInCall): Answer {
  const iss = call.claims!.iss
  const revHeaders = { 'atproto-repo-rev': 'standin-rev', 'content-language': 'en', 'atproto-content-labelers': 'did:plc:labeler' }
  switch (call.nsid) {
    case 'app.bsky.feed.getTimeline':
      return { status: 200, json: { feed: [], cursor: `after-${call.params.cursor ?? 'start'}` }, headers: revHeaders }
    case 'app.bsky.actor.getProfile': {
      const did = call.params.actor?.startsWith('did:') ? call.params.actor : iss
      return { status: 200, json: { did, handle: 'profile.standin.test', displayName: 'From the stand-in' }, headers: revHeaders }
    }
    case 'app.bsky.feed.getPostThread':
      return {
        status: 200,
        json: { thread: { $type: 'app.bsky.feed.defs#notFoundPost', uri: call.params.uri, notFound: true } },
      }
    case 'app.bsky.feed.getFeedGenerator': {
      const feed = call.params.feed ?? ''
      if (!feed.startsWith('at://')) return { status: 400, json: { error: 'UnknownFeed', message: 'could not find feed' } }
      const creator = feed.split('/')[2]
      const view = {
        uri: feed,
        cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm',
        did: FEED_GENERATOR_DID,
        creator: { did: creator, handle: 'creator.standin.test' },
        displayName: 'Stand-in feed',
        indexedAt: new Date().toISOString(),
      }
      return { status: 200, json: { view, isOnline: true, isValid: true } }
    }
    case 'app.bsky.feed.getFeed':
      return { status: 200, json: { feed: [], cursor: 'feed-cursor' } }
    case 'chat.bsky.convo.listConvos':
      return { status: 200, json: { convos: [] } }
    case 'com.atproto.moderation.createReport': {
      const input = call.json as { reasonType: string; subject: unknown; reason?: string }
      return {
        status: 200,
        json: { id: 1, reasonType: input.reasonType, reason: input.reason, subject: input.subject, reportedBy: iss, createdAt: new Date().toISOString() },
      }
    }
    case 'app.bsky.notification.registerPush':
    case 'app.bsky.notification.unregisterPush':
      return { status: 200, raw: '' }
    default:
      return { status: 200, json: { echo: { ...call, headers: undefined } } }
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/**
 * A did:plc registered with the real directory at `plcUrl` whose document lists `services` (id without '#' →
 * type and endpoint): a service DID as the moderation service's is.
 */
export async function createServiceDid(
  plcUrl: string,
  services: Record<string, { type: string; endpoint: string }>,
): Promise<string> {
  const key = await Secp256k1Keypair.create()
  // @did-plc/lib is typed against an older @atproto/crypto; the Keypair interface it uses is unchanged.
  const signer = key as unknown as Parameters<typeof plc.signOperation>[1]
  const op = await plc.signOperation(
    {
      type: 'plc_operation',
      verificationMethods: { atproto_label: key.did() },
      rotationKeys: [key.did()],
      alsoKnownAs: [],
      services,
      prev: null,
    },
    signer,
  )
  const did = await plc.didForCreateOp(op)
  await new plc.Client(plcUrl).sendOperation(did, op)
  return did
}
