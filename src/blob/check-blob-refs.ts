// The blob refs of a record being written, against the blobs this repo has stored: the blob must exist, the ref must
// describe it truthfully (type and size), and it must fit the lexicon field it sits in. Runs before anything is
// written, so a refusal leaves the repo as it was.
import type { BlobConstraints } from './blob-constraints.ts'
import type { BlobIndex } from './blob-index.ts'
import { acceptsMimeType } from './mime-type.ts'
import { InvalidRequestError } from '../errors.ts'

/** A blob ref as a record carries it; `constraints` are its lexicon field's, when the record's lexicon is known. */
export type BlobRefToCheck = { cid: { toString(): string }; mimeType: string; size: number; constraints?: BlobConstraints }

/**
 * Throws a 400 for the first ref that fails, with the reference PDS's error names and messages
 * (actor-store/blob/transactor.ts `verifyBlob`, same order):
 * - BlobNotFound: no such blob uploaded to this repo;
 * - BlobTooLarge: the stored blob is over the field's `maxSize`;
 * - InvalidMimeType: the ref's `mimeType` is not the stored type;
 * - InvalidSize: the ref's `size` is not the stored size;
 * - InvalidMimeType: the stored type is not in the field's `accept`.
 */
export function checkBlobRefs(index: BlobIndex, did: string, refs: readonly BlobRefToCheck[]): void {
  for (const ref of refs) {
    const cid = ref.cid.toString()
    const stored = index.get(did, cid)
    if (!stored) throw new InvalidRequestError(`Could not find blob: ${cid}`, 'BlobNotFound')
    const { accept, maxSize } = ref.constraints ?? {}
    if (maxSize !== undefined && stored.size > maxSize) {
      throw new InvalidRequestError(
        `This file is too large. It is ${formatBytes(stored.size)} but the maximum size is ${formatBytes(maxSize)}.`,
        'BlobTooLarge',
      )
    }
    if (ref.mimeType !== stored.mime_type) {
      throw new InvalidRequestError(
        `Referenced Mimetype does not match stored blob. Expected: ${stored.mime_type}, Got: ${ref.mimeType}`,
        'InvalidMimeType',
      )
    }
    if (ref.size !== stored.size) {
      throw new InvalidRequestError(
        `Referenced Size does not match stored blob. Expected: ${stored.size}, Got: ${ref.size}`,
        'InvalidSize',
      )
    }
    if (accept && !acceptsMimeType(accept, stored.mime_type)) {
      throw new InvalidRequestError(
        `Wrong type of file. It is ${stored.mime_type} but it must match ${accept.join(',')}.`,
        'InvalidMimeType',
      )
    }
  }
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB']

/** Bytes as the `bytes` package the reference uses formats them: 1024-based, up to two decimals, no space ("1.14MB"). */
export function formatBytes(n: number): string {
  let unit = 0
  while (unit < UNITS.length - 1 && n >= 1024 ** (unit + 1)) unit++
  const fixed = (n / 1024 ** unit).toFixed(2).replace(/(?:\.0*|(\.[^0]+)0+)$/, '$1')
  return `${fixed}${UNITS[unit]}`
}
