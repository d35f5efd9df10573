// zod pieces shared by method schemas: the lexicon string formats and query-string scalars.
import { isValidDid, isValidHandle } from '@atproto/syntax'
import { z } from 'zod'

export const did = z.string().refine((s) => isValidDid(s), { message: 'must be a valid DID' })
export const handle = z.string().refine((s) => isValidHandle(s), { message: 'must be a valid handle' })
export const atIdentifier = z
  .string()
  .refine((s) => (s.startsWith('did:') ? isValidDid(s) : isValidHandle(s)), {
    message: 'must be a valid handle or DID',
  })
/** An email address we accept for an account (createAccount, updateEmail), refused with the reference's words. */
export const email = z.email({ message: 'This email address is not supported, please use a different email.' }).max(254)
export const didKey = z.string().regex(/^did:key:z[1-9A-HJ-NP-Za-km-z]+$/, 'must be a did:key')

/** An integer query parameter (query strings are text). */
export const queryInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max)

/** A boolean query parameter: only "true" and "false". */
export const queryBool = z.enum(['true', 'false']).transform((s) => s === 'true')

/** A repeated query parameter (`?dids=a&dids=b`) of `min` to `max` items: an array, also when given once (a string then). */
export const queryList = <T extends z.ZodType>(item: T, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(item).min(min).max(max))
