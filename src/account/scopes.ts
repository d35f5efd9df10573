// Token scopes, as the reference PDS names them.
export const AuthScope = {
  Access: 'com.atproto.access',
  Refresh: 'com.atproto.refresh',
  AppPass: 'com.atproto.appPass',
  AppPassPrivileged: 'com.atproto.appPassPrivileged',
} as const
export type AuthScope = (typeof AuthScope)[keyof typeof AuthScope]

/** Scopes that may use the account normally (posting, reading). */
export const ACCESS_STANDARD: readonly AuthScope[] = [AuthScope.Access, AuthScope.AppPass, AuthScope.AppPassPrivileged]
/** Scopes that may manage the account itself (app passwords, email, deletion): a real login only. */
export const ACCESS_FULL: readonly AuthScope[] = [AuthScope.Access]
export const ACCESS_PRIVILEGED: readonly AuthScope[] = [AuthScope.Access, AuthScope.AppPassPrivileged]

/** A real login or a privileged app password: what chat needs (the reference's isAccessPrivileged). */
export function isPrivilegedScope(scope: AuthScope): boolean {
  return ACCESS_PRIVILEGED.includes(scope)
}
