// Blob bytes into or out of a backup: a hard link where the filesystem allows (same filesystem, nothing copied; the
// server never changes a blob file in place, it only renames new ones in and unlinks old ones), else a copy; either
// way the result is read back and checked against the blob's CID and size, so a backup never holds bytes that are not
// the blob's.
import { createHash } from 'node:crypto'
import { constants, createReadStream, createWriteStream } from 'node:fs'
import { chmod, copyFile, link, mkdir, open } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CID } from 'multiformats/cid'
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../util/private-fs.ts'

const SHA256_CODE = 0x12

/** Why `file` is not the blob `cid` of `size` bytes, or null when it is. A missing file says so. */
export async function blobFileProblem(file: string, cid: string, size: number): Promise<string | null> {
  let expected: Uint8Array
  try {
    const parsed = CID.parse(cid)
    if (parsed.multihash.code !== SHA256_CODE) return `blob ${cid} is not a sha-256 CID`
    expected = parsed.multihash.digest
  } catch {
    return `blob ${cid} is not a CID`
  }
  const hash = createHash('sha256')
  let bytes = 0
  try {
    await pipeline(createReadStream(file), async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        bytes += chunk.length
        hash.update(chunk)
      }
    })
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? `blob file ${file} is missing` : `cannot read ${file}: ${(err as Error).message}`
  }
  if (bytes !== size) return `blob file ${file} has ${bytes} bytes, the database says ${size}`
  if (!Buffer.from(expected).equals(hash.digest())) return `blob file ${file} does not hash to its CID ${cid}`
  return null
}

// Errors after which a copy may still work: another filesystem, links not allowed (protected_hardlinks, a filesystem
// without them), too many links to one file.
const NO_LINK = new Set(['EXDEV', 'EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS'])

/**
 * Put `src` at `dst` (a new path; its folder is created 0700): linked when `allowLink` and the filesystem lets us,
 * else copied (a reflink where the filesystem has them) and synced to disk, mode 0600. Errors are the file system's
 * (ENOENT: `src` is gone).
 */
export async function placeFile(src: string, dst: string, allowLink: boolean): Promise<'linked' | 'copied'> {
  await mkdir(path.dirname(dst), { recursive: true, mode: PRIVATE_DIR_MODE })
  if (allowLink) {
    try {
      await link(src, dst)
      return 'linked'
    } catch (err) {
      if (!NO_LINK.has((err as NodeJS.ErrnoException).code ?? '')) throw err
    }
  }
  await copyFile(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE)
  await chmod(dst, PRIVATE_FILE_MODE)
  await syncToDisk(dst)
  return 'copied'
}

/** Write `body` to the new file `dst` (its folder created 0700), mode 0600, synced to disk. */
export async function writeStreamToFile(body: Readable, dst: string): Promise<void> {
  await mkdir(path.dirname(dst), { recursive: true, mode: PRIVATE_DIR_MODE })
  await pipeline(body, createWriteStream(dst, { mode: PRIVATE_FILE_MODE, flags: 'wx' }))
  await syncToDisk(dst)
}

/** fsync a file, or a folder (its entries: a rename into it is then on disk). */
export async function syncToDisk(target: string): Promise<void> {
  const handle = await open(target, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
