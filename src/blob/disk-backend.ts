// Blob bytes on the data directory's disk: <data>/blobs/<did>/<cid>, uploads first written to <data>/tmp.
import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { mkdirPrivate, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../util/private-fs.ts'
import type { BlobBackend } from './blob-backend.ts'

export class DiskBlobBackend implements BlobBackend {
  readonly kind = 'disk'
  private readonly root: string
  private readonly tmp: string

  constructor(dataDirectory: string) {
    this.root = path.join(dataDirectory, 'blobs')
    this.tmp = path.join(dataDirectory, 'tmp')
    mkdirPrivate(this.root)
    mkdirPrivate(this.tmp)
  }

  /** Where a blob's bytes are (backups and the S3 migration read them here). */
  pathOf(did: string, cid: string): string {
    return path.join(this.root, did, cid)
  }

  async writeTemp(body: Readable): Promise<string> {
    const key = randomBytes(16).toString('hex')
    const file = path.join(this.tmp, key)
    try {
      await pipeline(body, createWriteStream(file, { mode: PRIVATE_FILE_MODE }))
      return key
    } catch (err) {
      await rm(file, { force: true })
      throw err
    }
  }

  async makePermanent(tempKey: string, did: string, cid: string): Promise<void> {
    const target = this.pathOf(did, cid)
    mkdirSync(path.dirname(target), { recursive: true, mode: PRIVATE_DIR_MODE })
    // An atomic replace: a reader sees the old bytes or the new, which are the same bytes (same CID).
    await rename(path.join(this.tmp, tempKey), target)
  }

  async deleteTemp(tempKey: string): Promise<void> {
    await rm(path.join(this.tmp, tempKey), { force: true })
  }

  async exists(did: string, cid: string): Promise<boolean> {
    return stat(this.pathOf(did, cid)).then(
      () => true,
      () => false,
    )
  }

  open(did: string, cid: string): Promise<Readable | null> {
    const stream = createReadStream(this.pathOf(did, cid))
    // Opened before it is handed on, so a missing file is a 404 now and not a broken 200 later.
    return new Promise((resolve, reject) => {
      stream.once('open', () => resolve(stream))
      stream.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve(null) : reject(err)))
    })
  }

  async delete(did: string, cid: string): Promise<void> {
    await rm(this.pathOf(did, cid), { force: true })
  }

  async deleteAll(did: string): Promise<void> {
    await rm(path.join(this.root, did), { recursive: true, force: true })
  }

  async sweepTemp(): Promise<number> {
    const names = readdirSync(this.tmp)
    for (const name of names) rmSync(path.join(this.tmp, name), { recursive: true, force: true })
    return names.length
  }

  close(): void {}
}
