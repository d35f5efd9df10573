// app.bsky.actor.getProfile: the caller's own profile from their newer profile record (the reference's getProfile.js).
import type { AppBskyActorGetProfile } from '@atproto/api'
import type { Munge } from '../types.ts'

export const getProfileMunge: Munge<AppBskyActorGetProfile.OutputSchema> = async (viewer, original, local, requester) => {
  if (!local.profile || original.did !== requester) return original
  return viewer.updateProfileDetailed(original, local.profile.record)
}
