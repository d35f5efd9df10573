// zod shapes shared by the record-writing methods.
import { z } from 'zod'
import { atIdentifier } from '../../../../xrpc/schemas.ts'

export const repoParam = atIdentifier
export const nsidString = z.string().min(1).max(317)
export const rkeyString = z.string().min(1).max(512)
export const cidString = z.string().min(1).max(200)
export const recordValue = z.record(z.string(), z.unknown())
