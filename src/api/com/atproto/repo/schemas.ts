// zod shapes shared by the record-writing methods.
import { z } from 'zod'
import { atIdentifier } from '../../../../xrpc/schemas.ts'

export const repoParam = atIdentifier
export const nsidString = z.string().min(1).max(317)
export const rkeyString = z.string().min(1).max(512)
export const cidString = z.string().min(1).max(200)
// Checked, not copied: z.record would rebuild the object by assignment, and assigning a "__proto__" key sets the
// prototype instead, silently dropping that field. The record goes on as parsed, for prepare.ts to judge whole.
export const recordValue = z.custom<Record<string, unknown>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  'must be an object',
)
