// An embedded did:plc directory for offline development, stored in the PDS's SQLite database. Its routes, status
// codes and `{message}` error bodies follow the reference directory (@did-plc/server), except that a tombstoned DID
// answers 410 as the did:plc server API description specifies (the installed reference answers 404).
import * as plc from '@did-plc/lib'
import express, { type ErrorRequestHandler } from 'express'
import type { Db } from '../db/index.ts'
import type { Logger } from '../logger.ts'
import { requestIdOf } from '../request-log.ts'
import { PlcDirectoryError, validateAndAddOp } from './operations.ts'
import { PlcOpStore, type StoredOp } from './store.ts'

// What the reference server reports when started without a version.
const VERSION = '0.0.0'

export function createPlcDirectoryRouter(db: Db, log: Logger): express.Router {
  const store = new PlcOpStore(db)
  const router = express.Router()

  router.get('/_health', (_req, res) => {
    try {
      db.prepare('SELECT 1').get()
    } catch (err) {
      log.error({ err }, 'plc directory: failed health check')
      res.status(503).json({ version: VERSION, error: 'Service Unavailable' })
      return
    }
    res.json({ version: VERSION })
  })

  router.get('/:did', (req, res) => {
    const doc = plc.formatDidDoc(currentData(store, req.params.did))
    res.type('application/did+ld+json').send(JSON.stringify(doc))
  })

  router.get('/:did/data', (req, res) => {
    res.json(currentData(store, req.params.did))
  })

  router.get('/:did/log', (req, res) => {
    res.json(registeredOps(store, req.params.did, false).map((op) => op.operation))
  })

  router.get('/:did/log/audit', (req, res) => {
    res.json(registeredOps(store, req.params.did, true))
  })

  router.get('/:did/log/last', (req, res) => {
    const last = store.lastOpForDid(req.params.did)
    if (!last) throw notRegistered(req.params.did)
    res.json(last.operation)
  })

  router.post('/:did', express.json({ limit: '100kb' }), async (req, res) => {
    // A body in another content type is left unparsed; the reference server (Express 4) then sees `{}`.
    await validateAndAddOp(store, req.params.did, req.body ?? {})
    res.sendStatus(200)
  })

  router.use(errorHandler(log))
  return router
}

function currentData(store: PlcOpStore, did: string): plc.DocumentData {
  const last = store.lastOpForDid(did)
  if (!last) throw notRegistered(did)
  // Ops were verified on the way in, so the live chain's last op alone gives the current document.
  const data = plc.opToData(did, last.operation)
  if (data === null) throw new PlcDirectoryError(410, `DID not available: ${did}`)
  return data
}

function registeredOps(store: PlcOpStore, did: string, includeNullified: boolean): StoredOp[] {
  const ops = store.opsForDid(did, includeNullified)
  if (ops.length === 0) throw notRegistered(did)
  return ops
}

function notRegistered(did: string): PlcDirectoryError {
  return new PlcDirectoryError(404, `DID not registered: ${did}`)
}

/** Like the reference server's handler: lib validation errors are 400s, anything carrying a status keeps it. */
function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err)
      return
    }
    const status = plc.PlcError.is(err) ? 400 : statusOf(err)
    const reqId = requestIdOf(res)
    if (status !== undefined && status < 500) {
      const message = (err as Error).message
      // Messages can echo a whole rejected op (up to 100 kB); the log needs only the gist.
      const gist = message.slice(0, 500)
      log.info({ reqId, method: req.method, path: req.path, status, message: gist }, 'plc directory: request refused')
      res.status(status).json({ message })
      return
    }
    log.error({ reqId, method: req.method, path: req.path, err }, 'plc directory: unexpected error')
    res.status(500).json({ message: 'Internal Server Error' })
  }
}

/** The status of a PlcDirectoryError or of a client error from Express itself (bad JSON, too large, bad escape). */
function statusOf(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined
  const { status, message } = err as { status?: unknown; message?: unknown }
  return typeof status === 'number' && typeof message === 'string' ? status : undefined
}
