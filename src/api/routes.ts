// The whole API on one screen: each line is NSID, query|procedure, who may call it (src/xrpc/auth.ts), what an OAuth
// access token needs to (src/xrpc/oauth-rules.ts: the reference's `authorize` of each method), its handler's module,
// and the rate limits it counts against besides the global per-IP one (src/api/limits.ts; their windows are
// configuration). A handler's module (its zod schemas, its imports) is loaded by the method's first call rather than
// at startup, which most methods of a small server never see (issue 15).
// A method not listed here is forwarded to another service by src/proxy (AppView, chat, moderation, or the
// atproto-proxy header's), an OAuth token needing `rpc:<method>?aud=<service>` for it.
import type { AuthKind } from '../xrpc/auth.ts'
import type { MethodDef, MethodType, Route, RouteLimit } from '../xrpc/method.ts'
import { oauth, type OAuthRule } from '../xrpc/oauth-rules.ts'
import { applyWritesPoints, deleteAttempts, emailRequests, loginAttempts, perAccount, perIp, repoWrite } from './limits.ts'

/** A handler's module, whose default export is the method (src/xrpc/method.ts defineMethod). */
type HandlerModule = () => Promise<{ default: MethodDef<any, any> }>

const route = (
  nsid: string,
  type: MethodType,
  auth: AuthKind,
  oauthRule: OAuthRule,
  handler: HandlerModule,
  limits: readonly RouteLimit[] = [],
): Route => {
  let method: Promise<MethodDef<any, any>> | undefined
  return { nsid, type, auth, oauth: oauthRule, method: () => (method ??= handler().then((m) => m.default)), limits }
}

// The reference's own refusals of OAuth tokens, besides OAUTH_NOT_SUPPORTED.
const EMAIL_UPDATE = 'Use the account manager interface to update email address associated with an account'
const REACTIVATION =
  'Account reactivation is not available with OAuth credentials. Sign in to your account management page to reactivate.'

// prettier-ignore
export const routes: readonly Route[] = [
  route('com.atproto.server.describeServer',     'query',     'none',          oauth.none, () => import('./com/atproto/server/describeServer.ts')),
  // A migrating account's old PDS speaks for it with a service JWT (createAccount with `did`).
  route('com.atproto.server.createAccount',      'procedure', 'optionalServiceAuth', oauth.none, () => import('./com/atproto/server/createAccount.ts'), [perIp('createAccount')]),
  route('com.atproto.server.createSession',      'procedure', 'none',          oauth.none, () => import('./com/atproto/server/createSession.ts'), [loginAttempts, perIp('loginIp')]),
  route('com.atproto.server.getSession',         'query',     'access',        oauth.always, () => import('./com/atproto/server/getSession.ts')),
  route('com.atproto.server.refreshSession',     'procedure', 'refresh',       oauth.none, () => import('./com/atproto/server/refreshSession.ts')),
  route('com.atproto.server.deleteSession',      'procedure', 'refresh',       oauth.none, () => import('./com/atproto/server/deleteSession.ts')),
  route('com.atproto.server.createAppPassword',  'procedure', 'accessFull',    oauth.refused(), () => import('./com/atproto/server/createAppPassword.ts')),
  route('com.atproto.server.listAppPasswords',   'query',     'accessFull',    oauth.refused(), () => import('./com/atproto/server/listAppPasswords.ts')),
  route('com.atproto.server.revokeAppPassword',  'procedure', 'accessFull',    oauth.refused(), () => import('./com/atproto/server/revokeAppPassword.ts')),
  route('com.atproto.server.getServiceAuth',     'query',     'access',        oauth.serviceAuth, () => import('./com/atproto/server/getServiceAuth.ts')),
  route('com.atproto.server.checkAccountStatus', 'query',     'access',        oauth.always, () => import('./com/atproto/server/checkAccountStatus.ts')),
  route('com.atproto.server.getAccountInviteCodes', 'query', 'accessFull',    oauth.refused(), () => import('./com/atproto/server/getAccountInviteCodes.ts')),
  route('com.atproto.server.createInviteCode',   'procedure', 'admin',         oauth.none, () => import('./com/atproto/server/createInviteCode.ts')),
  route('com.atproto.server.createInviteCodes',  'procedure', 'admin',         oauth.none, () => import('./com/atproto/server/createInviteCodes.ts')),
  // account self-service with a mailed code (src/account/self-service.ts); app passwords may not change the address
  // or ask to delete the account; the methods without a login are limited per IP
  route('com.atproto.server.requestEmailConfirmation', 'procedure', 'access', oauth.account('email', 'manage'), () => import('./com/atproto/server/requestEmailConfirmation.ts'), [emailRequests]),
  route('com.atproto.server.confirmEmail',       'procedure', 'access',        oauth.account('email', 'manage'), () => import('./com/atproto/server/confirmEmail.ts')),
  route('com.atproto.server.requestEmailUpdate', 'procedure', 'access',        oauth.refused(EMAIL_UPDATE), () => import('./com/atproto/server/requestEmailUpdate.ts'), [emailRequests]),
  route('com.atproto.server.updateEmail',        'procedure', 'accessFull',    oauth.refused(EMAIL_UPDATE), () => import('./com/atproto/server/updateEmail.ts')),
  route('com.atproto.server.requestPasswordReset', 'procedure', 'none',        oauth.none, () => import('./com/atproto/server/requestPasswordReset.ts'), [perIp('passwordResetRequest')]),
  route('com.atproto.server.resetPassword',      'procedure', 'none',          oauth.none, () => import('./com/atproto/server/resetPassword.ts'), [perIp('passwordReset')]),
  route('com.atproto.server.requestAccountDelete', 'procedure', 'accessFull',  oauth.refused(), () => import('./com/atproto/server/requestAccountDelete.ts'), [emailRequests]),
  route('com.atproto.server.deleteAccount',      'procedure', 'none',          oauth.none, () => import('./com/atproto/server/deleteAccount.ts'), [perIp('accountDelete'), deleteAttempts]),
  route('com.atproto.temp.checkSignupQueue',     'query',     'access',        oauth.refused(), () => import('./com/atproto/temp/checkSignupQueue.ts')),
  route('com.atproto.identity.resolveHandle',    'query',     'none',          oauth.none, () => import('./com/atproto/identity/resolveHandle.ts')),
  route('com.atproto.identity.updateHandle',     'procedure', 'access',        oauth.identity('handle'), () => import('./com/atproto/identity/updateHandle.ts'), [perAccount('handleUpdate')]),
  // The reference forwards these three to its AppView, for logged-in users only (app passwords included).
  route('com.atproto.identity.resolveDid',       'query',     'access',        oauth.rpc, () => import('./com/atproto/identity/resolveDid.ts'), [perAccount('identityLookup')]),
  route('com.atproto.identity.resolveIdentity',  'query',     'access',        oauth.rpc, () => import('./com/atproto/identity/resolveIdentity.ts'), [perAccount('identityLookup')]),
  route('com.atproto.identity.refreshIdentity',  'procedure', 'access',        oauth.rpc, () => import('./com/atproto/identity/refreshIdentity.ts'), [perAccount('identityLookup')]),
  // PLC operations (src/account/plc-operations.ts), with the reference's auth: the mailed code and the signature by
  // our rotation key need a real login; reading the recommendation and submitting an op already signed do not. The
  // code's mail counts as the other mails do (the reference does not limit this one).
  route('com.atproto.identity.getRecommendedDidCredentials', 'query', 'access', oauth.always, () => import('./com/atproto/identity/getRecommendedDidCredentials.ts')),
  route('com.atproto.identity.requestPlcOperationSignature', 'procedure', 'accessFull', oauth.identity('*'), () => import('./com/atproto/identity/requestPlcOperationSignature.ts'), [emailRequests]),
  route('com.atproto.identity.signPlcOperation', 'procedure', 'accessFull',    oauth.identity('*'), () => import('./com/atproto/identity/signPlcOperation.ts')),
  route('com.atproto.identity.submitPlcOperation', 'procedure', 'access',      oauth.identity('*'), () => import('./com/atproto/identity/submitPlcOperation.ts')),
  route('com.atproto.repo.createRecord',         'procedure', 'access',        oauth.inHandler, () => import('./com/atproto/repo/createRecord.ts'), [repoWrite(3)]),
  route('com.atproto.repo.putRecord',            'procedure', 'access',        oauth.inHandler, () => import('./com/atproto/repo/putRecord.ts'), [repoWrite(2)]),
  route('com.atproto.repo.deleteRecord',         'procedure', 'access',        oauth.inHandler, () => import('./com/atproto/repo/deleteRecord.ts'), [repoWrite(1)]),
  route('com.atproto.repo.applyWrites',          'procedure', 'access',        oauth.inHandler, () => import('./com/atproto/repo/applyWrites.ts'), [repoWrite(applyWritesPoints)]),
  route('com.atproto.repo.uploadBlob',           'procedure', 'access',        oauth.blob, () => import('./com/atproto/repo/uploadBlob.ts'), [perAccount('blobUpload')]),
  route('com.atproto.repo.getRecord',            'query',     'none',          oauth.none, () => import('./com/atproto/repo/getRecord.ts')),
  route('com.atproto.repo.listRecords',          'query',     'none',          oauth.none, () => import('./com/atproto/repo/listRecords.ts')),
  route('com.atproto.repo.describeRepo',         'query',     'none',          oauth.none, () => import('./com/atproto/repo/describeRepo.ts')),
  route('com.atproto.repo.listMissingBlobs',     'query',     'access',        oauth.always, () => import('./com/atproto/repo/listMissingBlobs.ts')),
  // Migration in: only for an account not yet activated here; a real login, as the reference (ACCESS_FULL).
  route('com.atproto.repo.importRepo',           'procedure', 'accessFull',    oauth.account('repo', 'manage'), () => import('./com/atproto/repo/importRepo.ts')),
  route('com.atproto.server.deactivateAccount',  'procedure', 'accessFull',    oauth.account('status', 'manage'), () => import('./com/atproto/server/deactivateAccount.ts')),
  route('com.atproto.server.activateAccount',    'procedure', 'accessFull',    oauth.refused(REACTIVATION), () => import('./com/atproto/server/activateAccount.ts')),
  route('com.atproto.admin.updateSubjectStatus', 'procedure', 'admin',         oauth.none, () => import('./com/atproto/admin/updateSubjectStatus.ts')),
  route('com.atproto.admin.getSubjectStatus',    'query',     'admin',         oauth.none, () => import('./com/atproto/admin/getSubjectStatus.ts')),
  route('app.bsky.actor.getPreferences',         'query',     'access',        oauth.rpc, () => import('./app/bsky/actor/getPreferences.ts')),
  route('app.bsky.actor.putPreferences',         'procedure', 'access',        oauth.rpc, () => import('./app/bsky/actor/putPreferences.ts')),
  // forwarded to the notification service named in the body, signed for the user (src/proxy)
  route('app.bsky.notification.registerPush',    'procedure', 'access',        oauth.inHandler, () => import('./app/bsky/notification/registerPush.ts')),
  route('app.bsky.notification.unregisterPush',  'procedure', 'access',        oauth.inHandler, () => import('./app/bsky/notification/unregisterPush.ts')),
  route('com.atproto.admin.deleteAccount',       'procedure', 'admin',         oauth.none, () => import('./com/atproto/admin/deleteAccount.ts')),
  // The operator's account administration (src/account/account-admin.ts), for `npm run admin` and other tools.
  route('com.atproto.admin.getAccountInfo',      'query',     'admin',         oauth.none, () => import('./com/atproto/admin/getAccountInfo.ts')),
  route('com.atproto.admin.getAccountInfos',     'query',     'admin',         oauth.none, () => import('./com/atproto/admin/getAccountInfos.ts')),
  route('com.atproto.admin.getInviteCodes',      'query',     'admin',         oauth.none, () => import('./com/atproto/admin/getInviteCodes.ts')),
  route('com.atproto.admin.disableInviteCodes',  'procedure', 'admin',         oauth.none, () => import('./com/atproto/admin/disableInviteCodes.ts')),
  route('com.atproto.admin.disableAccountInvites', 'procedure', 'admin',       oauth.none, () => import('./com/atproto/admin/disableAccountInvites.ts')),
  route('com.atproto.admin.enableAccountInvites', 'procedure', 'admin',        oauth.none, () => import('./com/atproto/admin/enableAccountInvites.ts')),
  route('com.atproto.admin.sendEmail',           'procedure', 'admin',         oauth.none, () => import('./com/atproto/admin/sendEmail.ts')),
  route('com.atproto.admin.updateAccountEmail',  'procedure', 'admin',         oauth.none, () => import('./com/atproto/admin/updateAccountEmail.ts')),
  route('com.atproto.admin.updateAccountHandle', 'procedure', 'admin',         oauth.none, () => import('./com/atproto/admin/updateAccountHandle.ts')),
  route('com.atproto.admin.updateAccountPassword', 'procedure', 'admin',       oauth.none, () => import('./com/atproto/admin/updateAccountPassword.ts')),
  // sync reads: public; inactive repos still served to their owner or the operator, so credentials are read if sent
  route('com.atproto.sync.getRepo',              'query',     'optionalAccessOrAdmin', oauth.always, () => import('./com/atproto/sync/getRepo.ts')),
  route('com.atproto.sync.getLatestCommit',      'query',     'optionalAccessOrAdmin', oauth.always, () => import('./com/atproto/sync/getLatestCommit.ts')),
  route('com.atproto.sync.getRecord',            'query',     'optionalAccessOrAdmin', oauth.always, () => import('./com/atproto/sync/getRecord.ts')),
  route('com.atproto.sync.getBlocks',            'query',     'optionalAccessOrAdmin', oauth.always, () => import('./com/atproto/sync/getBlocks.ts')),
  route('com.atproto.sync.getBlob',              'query',     'optionalAccessOrAdmin', oauth.always, () => import('./com/atproto/sync/getBlob.ts')),
  route('com.atproto.sync.listBlobs',            'query',     'optionalAccessOrAdmin', oauth.always, () => import('./com/atproto/sync/listBlobs.ts')),
  route('com.atproto.sync.listRepos',            'query',     'none',          oauth.none, () => import('./com/atproto/sync/listRepos.ts')),
  route('com.atproto.sync.getRepoStatus',        'query',     'none',          oauth.none, () => import('./com/atproto/sync/getRepoStatus.ts')),
  route('com.atproto.sync.getHead',              'query',     'optionalAccessOrAdmin', oauth.always, () => import('./com/atproto/sync/getHead.ts')),
  route('com.atproto.sync.getCheckout',          'query',     'optionalAccessOrAdmin', oauth.always, () => import('./com/atproto/sync/getCheckout.ts')),
]
