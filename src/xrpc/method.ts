// What an XRPC method is: its zod schemas and a handler. The route table (src/api/routes.ts) adds NSID, type and auth.
import type { Readable } from 'node:stream'
import type { Request, Response } from 'express'
import type { z } from 'zod'
import type { AppContext } from '../context.ts'
import type { AuthKind, Credentials } from './auth.ts'

export type MethodType = 'query' | 'procedure'

/** One line of the route table. */
export type Route = { nsid: string; type: MethodType; auth: AuthKind; def: MethodDef<any, any> }

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
