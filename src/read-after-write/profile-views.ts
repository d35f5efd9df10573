// Profile views refreshed from the caller's own profile record: the AppView's view with the record's fields laid
// over it. Follows the reference's LocalViewer.updateProfileViewBasic/updateProfileView/updateProfileDetailed
// (read-after-write/viewer.js): a field the record no longer has is removed from the view, not kept.
import type { AppBskyActorDefs } from '@atproto/api'
import { blobCid, type ImageUrl } from './image-url.ts'
import type { JsonObject } from './types.ts'

/** What the views take from an `app.bsky.actor.profile` record (already checked against its lexicon). */
type ProfileFields = { displayName?: string; description?: string; avatar?: string; banner?: string }

/** The record's view fields, with blob refs turned into image URLs for `did`. */
function profileFields(did: string, record: JsonObject, imageUrl: ImageUrl): ProfileFields {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
  const avatar = blobCid(record.avatar)
  const banner = blobCid(record.banner)
  return {
    displayName: str(record.displayName),
    description: str(record.description),
    avatar: avatar ? imageUrl('avatar', did, avatar) : undefined,
    banner: banner ? imageUrl('banner', did, banner) : undefined,
  }
}

/** `view` with `keys` set from `fields`; a key `fields` lacks is deleted (JSON has no undefined). */
function overlay<T extends object>(view: T, fields: ProfileFields, keys: (keyof ProfileFields)[]): T {
  const out: Record<string, unknown> = { ...(view as Record<string, unknown>) }
  for (const key of keys) {
    if (fields[key] === undefined) delete out[key]
    else out[key] = fields[key]
  }
  return out as T
}

const BASIC_KEYS: (keyof ProfileFields)[] = ['displayName', 'avatar']
const DETAILED_KEYS: (keyof ProfileFields)[] = [...BASIC_KEYS, 'description', 'banner']

/** A profileViewBasic (post authors) with the record's displayName and avatar. */
export function updateProfileViewBasic<T extends AppBskyActorDefs.ProfileViewBasic>(
  view: T,
  record: JsonObject,
  imageUrl: ImageUrl,
): T {
  return overlay(view, profileFields(view.did, record, imageUrl), BASIC_KEYS)
}

/** A profileViewDetailed (getProfile, getProfiles) with the record's displayName, avatar, description and banner. */
export function updateProfileDetailed<T extends AppBskyActorDefs.ProfileViewDetailed>(
  view: T,
  record: JsonObject,
  imageUrl: ImageUrl,
): T {
  return overlay(view, profileFields(view.did, record, imageUrl), DETAILED_KEYS)
}

/**
 * The caller's own profileViewBasic, built here (authors of local posts): handle from the account, the rest from
 * its current profile record, if any (the reference's LocalViewer.getProfileBasic).
 */
export function localProfileViewBasic(
  did: string,
  handle: string,
  record: JsonObject | null,
  imageUrl: ImageUrl,
): AppBskyActorDefs.ProfileViewBasic {
  return overlay({ did, handle }, record ? profileFields(did, record, imageUrl) : {}, BASIC_KEYS)
}
