// What an XRPC method is: its zod schemas and a handler. The route table (src/api/routes.ts) adds NSID, type and auth.
import type { Readable } from 'node:stream'
import type { Request, Response } from 'express'
import type { z } from 'zod'
import type { LimitName } from '../config/index.ts'
import type { AppContext } from '../context.ts'
import type { AuthKind, Credentials } from './auth.ts'
import type { OAuthRule } from './oauth-rules.ts'

export type MethodType = 'query' | 'procedure'

/** One line of the route table. */
export type Route = {
  nsid: string
  type: MethodType
  auth: AuthKind
  /** What an OAuth access token needs to call it ('none' for kinds that take no account login). */
  oauth: OAuthRule
  /**
   * Its schemas and handler. Their module is imported by the first call that needs it, not at startup; every call
   * after gets the same promise, settled.
   */
  method: () => Promise<MethodDef<any, any>>
  /** Rate limits this method counts against besides the global one, spent after auth and input validation. */
  limits: readonly RouteLimit[]
}

/** What a route's rate limits see: the request once authenticated and validated, before the handler runs. */
export type LimitArgs = {
  req: Request
  auth: Credentials
  /** The validated JSON body (undefined for methods without one). */
  input: any
  ctx: AppContext
  /** The client's per-IP key: its address, IPv6 folded to the /64. */
  ip: string
}

/**
 * A named limit (windows in src/config) a route counts against: whose budget (`key`; null: this request is not
 * counted) and how many points it spends (default 1). src/api/limits.ts builds them for the route table.
 */
export type RouteLimit = {
  limit: LimitName
  key: (args: LimitArgs) => string | null
  points?: (args: LimitArgs) => number
}

/** A non-JSON response body (CARs, blobs, plain text). JSON outputs are returned as plain objects. */
export class RawOutput {
  readonly contentType: string
  readonly body: Buffer | Uint8Array | Readable
  readonly headers: Record<string, string>
  constructor(contentType: string, body: Buffer | Uint8Array | Readable, headers: Record<string, string> = {}) {
    this.contentType = contentType
    this.body = body
    this.headers = headers
  }
}

export type HandlerArgs<P, I> = {
  params: P
  input: I
  auth: Credentials
  ctx: AppContext
  req: Request
  res: Response
}

// `object | void` for JSON and "no output"; RawOutput for anything else.
export type HandlerOutput = object | RawOutput | void

export type MethodDef<P = unknown, I = unknown> = {
  params?: z.ZodType<P>
  /** JSON body schema. Procedures without one (and without rawInput) take no body. */
  input?: z.ZodType<I>
  /** The handler reads the request body itself (blob uploads): the router leaves the stream alone. */
  rawInput?: true
  handler: (args: HandlerArgs<P, I>) => HandlerOutput | Promise<HandlerOutput>
}

export function defineMethod<P = Record<string, never>, I = undefined>(def: MethodDef<P, I>): MethodDef<P, I> {
  return def
}
