// Whether an AppView answer is what its method's lexicon says: the check the reference makes before munging
// (read-after-write/util.js: `method.output.schema.safeValidate`), so that the munges can rely on the shapes.
import { jsonToLex, type Lexicons } from '@atproto/lexicon'

/**
 * Whether the JSON `body` is a valid output of query `nsid`. It is read as lexicon JSON first, as the reference's
 * `lexParse` does: a signed label's `sig` arrives as `{ $bytes }` and a CID link as `{ $link }`, which the validator
 * only accepts decoded. False for anything malformed, never a throw.
 */
export function isValidOutput(lexicons: Lexicons, nsid: string, body: unknown): boolean {
  try {
    lexicons.assertValidXrpcOutput(nsid, jsonToLex(body as never))
    return true
  } catch {
    return false
  }
}
