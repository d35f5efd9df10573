// The firehose through the public URL: what a relay does first is open subscribeRepos as a WebSocket, and reverse
// proxies most often break exactly that (dropped Upgrade headers, short read timeouts).
import WebSocket from 'ws'
import type { Config } from '../../config/index.ts'
import { describeNetworkError } from '../../util/net.ts'
import { decodeFrame } from '../../protocol/frames.ts'
import type { CheckResult } from '../types.ts'

const UPGRADE_FIX =
  'the reverse proxy must pass WebSocket upgrades on /xrpc/com.atproto.sync.subscribeRepos; nginx: ' +
  'proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade ' +
  '(see nginx.conf), and a read timeout of an hour or more'

export async function checkFirehose(cfg: Config, timeoutMs: number, frameWaitMs: number): Promise<CheckResult> {
  const url = `${cfg.publicUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`
  return new Promise<CheckResult>((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs, maxPayload: 6 * 1024 * 1024 })
    let frameTimer: NodeJS.Timeout | undefined
    let settled = false
    const done = (r: CheckResult) => {
      if (settled) return
      settled = true
      clearTimeout(frameTimer)
      ws.removeAllListeners()
      ws.on('error', () => {})
      ws.terminate()
      resolve(r)
    }
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body = (body + c).slice(0, 2000)))
      res.on('error', () => {})
      res.on('end', () => done(refusedUpgrade(cfg, res.statusCode ?? 0, body)))
    })
    ws.on('open', () => {
      frameTimer = setTimeout(
        () =>
          done({
            id: 'firehose',
            status: 'pass',
            detail: 'subscribeRepos upgrades to a WebSocket through the public URL (no event to replay yet, so no frame)',
          }),
        frameWaitMs,
      )
    })
    ws.on('message', (data: Buffer) => {
      let what: string
      try {
        const { header, body } = decodeFrame(new Uint8Array(data))
        if (header.op === -1) {
          return done({
            id: 'firehose',
            status: 'fail',
            detail: `subscribeRepos sent an error frame: ${String(body.error)} ${String(body.message ?? '')}`.trim(),
            fix: 'see the PDS log around this time',
          })
        }
        what = `${header.t ?? '?'}${typeof body.seq === 'number' ? ` seq ${body.seq}` : ''}`
      } catch (err) {
        return done({
          id: 'firehose',
          status: 'fail',
          detail: `subscribeRepos sent a frame that does not decode (${(err as Error).message})`,
          fix: 'something between the relay and the PDS alters WebSocket messages: check the proxy',
        })
      }
      done({ id: 'firehose', status: 'pass', detail: `subscribeRepos streams through the public URL (first frame: ${what})` })
    })
    ws.on('error', (err) => {
      const message = describeNetworkError(err)
      done({
        id: 'firehose',
        status: 'fail',
        detail: `WebSocket to ${url}: ${message}`,
        // A connection or TLS failure is about reaching the server at all, not about upgrades.
        fix: /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ECONNRESET|certificate|TLS|SSL/i.test(message)
          ? `make ${cfg.publicUrl} reachable first (see the checks above)`
          : UPGRADE_FIX,
      })
    })
    ws.on('close', (code) =>
      done({
        id: 'firehose',
        status: 'fail',
        detail: `subscribeRepos closed the connection before any frame (code ${code})`,
        fix: UPGRADE_FIX,
      }),
    )
  })
}

function refusedUpgrade(cfg: Config, status: number, body: string): CheckResult {
  let error: string | undefined
  try {
    error = (JSON.parse(body) as { error?: string }).error
  } catch {}
  const base = { id: 'firehose' }
  if (status === 501 && error === 'MethodNotImplemented') {
    return { ...base, status: 'fail', detail: 'the firehose is disabled on this PDS', fix: 'set PDS_FEDERATION_FIREHOSE_ENABLED=true' }
  }
  if (status === 429) {
    return {
      ...base,
      status: 'warn',
      detail: 'subscribeRepos answered 429: this address is over the firehose connection limit',
      fix: 'try again in a minute; if a proxy hides client addresses, set PDS_TRUST_PROXY so each client gets its own limit',
    }
  }
  // Our own server answers 426 only to a GET without `Upgrade`: a proxy in between dropped the header.
  const detail =
    status === 426
      ? `the WebSocket upgrade reached the PDS without its Upgrade header (HTTP 426): the proxy in front of ${cfg.publicUrl} drops it`
      : `the WebSocket upgrade to subscribeRepos through ${cfg.publicUrl} was refused with HTTP ${status}` +
        (error ? ` (${error})` : '')
  return { ...base, status: 'fail', detail, fix: UPGRADE_FIX }
}
