// The read-after-write hook: a proxied answer of a few methods (the AppView's timeline, profiles, threads) may be
// changed before it reaches the user, as the reference's pipethroughReadAfterWrite does (@atproto/pds
// read-after-write/). Those answers alone are buffered, up to MAX_REWRITE_BYTES; anything larger, not JSON, not a
// 200 or encoded (gzip, …) goes through unchanged, and so does every answer the rewriter declines or fails on.
import type { IncomingMessage } from 'node:http'
import { pipeline } from 'node:stream/promises'
import type { Response } from 'express'
import type { Logger } from '../logger.ts'
import { forwardedResponseHeaders, toHeaders } from './headers.ts'

export type ResponseRewriter = {
  /** NSIDs whose answers may be rewritten. */
  methods: ReadonlySet<string>
  /** Called for a user caller's 200 application/json answer of one of `methods`; undefined: send the upstream bytes unchanged. */
  rewrite(args: {
    nsid: string
    did: string
    params: URLSearchParams
    upstreamHeaders: Headers
    body: unknown
  }): Promise<RewrittenAnswer | undefined>
  /**
   * Called for a user caller's XRPC error answer (`error`: its name) of one of `methods`: an answer to send instead
   * (with status 200), or undefined to pass the error on. The reference answers getPostThread's NotFound for the
   * caller's own post, which the AppView has not indexed yet, from local records.
   */
  /**
   * Optional, cheap (no answer read yet): whether `did` wrote anything after `rev`, the repo rev the AppView says it
   * has seen. False: the answer streams through unbuffered, unparsed. Absent: every candidate is buffered.
   */
  behind?(did: string, rev: string): boolean
  rewriteError?(args: {
    nsid: string
    did: string
    params: URLSearchParams
    upstreamHeaders: Headers
    error: string
  }): Promise<RewrittenAnswer | undefined>
}

export type RewrittenAnswer = { body: unknown; headers?: Record<string, string> }

/** Largest answer held in memory for a rewriter (the reference caps proxied answers at 10 MiB; timelines are ~100 KiB). */
export const MAX_REWRITE_BYTES = 4 * 1024 * 1024

export type RewriteRequest = {
  rewriter: ResponseRewriter
  nsid: string
  did: string
  params: URLSearchParams
  upstream: IncomingMessage
  res: Response
  log: Logger
}

/**
 * Whether an upstream answer is one a rewriter may see: a 200 of JSON, not content-encoded, saying which repo rev
 * of the caller's it reflects (atproto-repo-rev; without it there is nothing to compare).
 */
export function isRewritable(upstream: IncomingMessage): boolean {
  const encoding = upstream.headers['content-encoding']
  return (
    upstream.statusCode === 200 &&
    typeof upstream.headers['atproto-repo-rev'] === 'string' &&
    /^application\/json\b/i.test(upstream.headers['content-type'] ?? '') &&
    (!encoding || encoding.toLowerCase() === 'identity')
  )
}

/**
 * Buffers the (rewritable) answer, lets the rewriter change it, sends the result. Resolves once sent; rejects only
 * when the upstream or the client fails mid-way (the caller decides what is left to do then).
 */
export async function sendRewritten(r: RewriteRequest): Promise<'rewritten' | 'unchanged'> {
  const { upstream, res } = r
  const buffered = await bufferAtMost(upstream, MAX_REWRITE_BYTES)
  if (!buffered.complete) {
    sendHead(res, upstream)
    for (const chunk of buffered.head) res.write(chunk)
    await pipeline(upstream, res) // resumes the paused upstream where buffering stopped
    return 'unchanged'
  }
  const bytes = buffered.body
  const rewritten = await tryRewrite(r, bytes)
  if (!rewritten) {
    sendHead(res, upstream)
    res.end(bytes)
    return 'unchanged'
  }
  const body = Buffer.from(JSON.stringify(rewritten.body), 'utf8')
  sendHead(res, upstream, {
    ...rewritten.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(body.length),
  })
  res.end(body)
  return 'rewritten'
}

/** The rewriter's answer; undefined when the body is not JSON, the rewriter declines, or it fails (logged). */
async function tryRewrite(r: RewriteRequest, bytes: Buffer): ReturnType<ResponseRewriter['rewrite']> {
  let body: unknown
  try {
    body = JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined // the client gets what the upstream sent, as it would have without the hook
  }
  try {
    return await r.rewriter.rewrite({
      nsid: r.nsid,
      did: r.did,
      params: r.params,
      upstreamHeaders: toHeaders(r.upstream.headers),
      body,
    })
  } catch (err) {
    // A read-after-write bug must not take the timeline down: the AppView's answer is still a good one.
    r.log.error({ err, nsid: r.nsid }, 'response rewriter failed; sending the upstream answer unchanged')
    return undefined
  }
}

/**
 * Writes the status and headers of a successful upstream answer (the forwarded ones, then `extra`). From here on the
 * answer has begun: a failure can only cut it short.
 */
export function sendHead(res: Response, upstream: IncomingMessage, extra: Record<string, string> = {}): void {
  res.writeHead(upstream.statusCode ?? 200, { ...Object.fromEntries(forwardedResponseHeaders(upstream.headers)), ...extra })
}

type Buffered = { complete: true; body: Buffer } | { complete: false; head: Buffer[] }

/** Reads the whole stream if it is at most `max` bytes; else stops (paused) once past it, with what was read. */
export function bufferAtMost(stream: IncomingMessage, max: number): Promise<Buffered> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = () => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
    }
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (size > max) {
        stream.pause()
        cleanup()
        resolve({ complete: false, head: chunks })
      }
    }
    const onEnd = () => {
      cleanup()
      resolve({ complete: true, body: Buffer.concat(chunks) })
    }
    const onError = (err: Error) => {
      cleanup()
      reject(err)
    }
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('error', onError)
  })
}
