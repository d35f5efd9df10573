// A blob's MIME type: what its bytes say (file-type, as the reference PDS does), else what the uploader declared, else
// application/octet-stream. A stored type is always one concrete `type/subtype`: no wildcard, no parameters, so a
// client cannot label an upload `*/*` and have it pass a lexicon's `accept` or be served as anything at all.

/** Bytes from the start of an upload that sniffing looks at: file-type's own sample size for streams. */
export const SNIFF_BYTES = 4100

export const FALLBACK_MIME_TYPE = 'application/octet-stream'

// RFC 6838 §4.2 restricted-name, for both halves; `*` is not in it.
const NAME = '[a-z0-9][a-z0-9!#$&^_.+-]{0,126}'
const CONCRETE = new RegExp(`^${NAME}/${NAME}$`)

/** `type/subtype` with no wildcard, parameters or stray characters (lower case, as normalised here). */
export function isConcreteMimeType(value: string): boolean {
  return CONCRETE.test(value)
}

/**
 * The type a Content-Type header declares: parameters dropped, lower-cased; undefined when it is absent, malformed
 * or a wildcard (`image/*`, or star-slash-star).
 */
export function declaredMimeType(header: string | undefined): string | undefined {
  const type = (header ?? '').split(';')[0].trim().toLowerCase()
  return isConcreteMimeType(type) ? type : undefined
}

/** The type file-type finds in the first SNIFF_BYTES of a blob; undefined when the bytes match nothing it knows. */
export async function sniffMimeType(sample: Uint8Array): Promise<string | undefined> {
  // Loaded on first use (outside the try: a missing module is a fault, not "no answer"); only uploads need it.
  const { fileTypeFromBuffer } = await import('file-type')
  try {
    const found = await fileTypeFromBuffer(sample.subarray(0, SNIFF_BYTES))
    return found && isConcreteMimeType(found.mime) ? found.mime : undefined
  } catch {
    // A detector that wanted more than the sample holds (file-type's EndOfStreamError): no answer, not a failed upload.
    return undefined
  }
}

/** The type to store for a blob whose first bytes are `sample`: sniffed, else `declared` (already checked), else the fallback. */
export async function blobMimeType(sample: Uint8Array, declared: string | undefined): Promise<string> {
  return (await sniffMimeType(sample)) ?? declared ?? FALLBACK_MIME_TYPE
}

/**
 * Whether `mimeType` matches a lexicon blob field's `accept` list: exact types, `type/*` globs and the any-type
 * wildcard (star-slash-star), as the reference PDS matches them (lex-schema's BlobSchema).
 */
export function acceptsMimeType(accept: readonly string[], mimeType: string): boolean {
  if (accept.includes('*/*') || accept.includes(mimeType)) return true
  return accept.some((a) => a.endsWith('/*') && mimeType.startsWith(a.slice(0, -1)))
}
