// The whole API on one screen: each line is NSID, query|procedure, who may call it (src/xrpc/auth.ts), what an OAuth
// access token needs to (src/xrpc/oauth-rules.ts: the reference's `authorize` of each method), its handler, and the
// rate limits it counts against besides the global per-IP one (src/api/limits.ts; their windows are configuration).
// A method not listed here is forwarded to another service by src/proxy (AppView, chat, moderation, or the
// atproto-proxy header's), an OAuth token needing `rpc:<method>?aud=<service>` for it.
import checkAccountStatus from './com/atproto/server/checkAccountStatus.ts'
import confirmEmail from './com/atproto/server/confirmEmail.ts'
import createAccount from './com/atproto/server/createAccount.ts'
import createAppPassword from './com/atproto/server/createAppPassword.ts'
import createInviteCode from './com/atproto/server/createInviteCode.ts'
import createInviteCodes from './com/atproto/server/createInviteCodes.ts'
import createSession from './com/atproto/server/createSession.ts'
import deleteAccount from './com/atproto/server/deleteAccount.ts'
import deleteSession from './com/atproto/server/deleteSession.ts'
import describeServer from './com/atproto/server/describeServer.ts'
import getAccountInviteCodes from './com/atproto/server/getAccountInviteCodes.ts'
import getServiceAuth from './com/atproto/server/getServiceAuth.ts'
import getSession from './com/atproto/server/getSession.ts'
import listAppPasswords from './com/atproto/server/listAppPasswords.ts'
import refreshSession from './com/atproto/server/refreshSession.ts'
import requestAccountDelete from './com/atproto/server/requestAccountDelete.ts'
import requestEmailConfirmation from './com/atproto/server/requestEmailConfirmation.ts'
import requestEmailUpdate from './com/atproto/server/requestEmailUpdate.ts'
import requestPasswordReset from './com/atproto/server/requestPasswordReset.ts'
import resetPassword from './com/atproto/server/resetPassword.ts'
import revokeAppPassword from './com/atproto/server/revokeAppPassword.ts'
import updateEmail from './com/atproto/server/updateEmail.ts'
import checkSignupQueue from './com/atproto/temp/checkSignupQueue.ts'
import getRecommendedDidCredentials from './com/atproto/identity/getRecommendedDidCredentials.ts'
import refreshIdentity from './com/atproto/identity/refreshIdentity.ts'
import requestPlcOperationSignature from './com/atproto/identity/requestPlcOperationSignature.ts'
import signPlcOperation from './com/atproto/identity/signPlcOperation.ts'
import submitPlcOperation from './com/atproto/identity/submitPlcOperation.ts'
import resolveDid from './com/atproto/identity/resolveDid.ts'
import resolveHandle from './com/atproto/identity/resolveHandle.ts'
import resolveIdentity from './com/atproto/identity/resolveIdentity.ts'
import updateHandle from './com/atproto/identity/updateHandle.ts'
import applyWrites from './com/atproto/repo/applyWrites.ts'
import createRecord from './com/atproto/repo/createRecord.ts'
import deleteRecord from './com/atproto/repo/deleteRecord.ts'
import describeRepo from './com/atproto/repo/describeRepo.ts'
import getRecord from './com/atproto/repo/getRecord.ts'
import listRecords from './com/atproto/repo/listRecords.ts'
import putRecord from './com/atproto/repo/putRecord.ts'
import uploadBlob from './com/atproto/repo/uploadBlob.ts'
import listMissingBlobs from './com/atproto/repo/listMissingBlobs.ts'
import importRepo from './com/atproto/repo/importRepo.ts'
import activateAccount from './com/atproto/server/activateAccount.ts'
import deactivateAccount from './com/atproto/server/deactivateAccount.ts'
import deleteAccountAdmin from './com/atproto/admin/deleteAccount.ts'
import disableAccountInvites from './com/atproto/admin/disableAccountInvites.ts'
import disableInviteCodes from './com/atproto/admin/disableInviteCodes.ts'
import enableAccountInvites from './com/atproto/admin/enableAccountInvites.ts'
import getAccountInfo from './com/atproto/admin/getAccountInfo.ts'
import getAccountInfos from './com/atproto/admin/getAccountInfos.ts'
import getInviteCodes from './com/atproto/admin/getInviteCodes.ts'
import getSubjectStatus from './com/atproto/admin/getSubjectStatus.ts'
import sendEmail from './com/atproto/admin/sendEmail.ts'
import updateAccountEmail from './com/atproto/admin/updateAccountEmail.ts'
import updateAccountHandle from './com/atproto/admin/updateAccountHandle.ts'
import updateAccountPassword from './com/atproto/admin/updateAccountPassword.ts'
import updateSubjectStatus from './com/atproto/admin/updateSubjectStatus.ts'
import getBlob from './com/atproto/sync/getBlob.ts'
import getBlocks from './com/atproto/sync/getBlocks.ts'
import getCheckout from './com/atproto/sync/getCheckout.ts'
import getHead from './com/atproto/sync/getHead.ts'
import getLatestCommit from './com/atproto/sync/getLatestCommit.ts'
import getRecordProof from './com/atproto/sync/getRecord.ts'
import getRepo from './com/atproto/sync/getRepo.ts'
import getRepoStatus from './com/atproto/sync/getRepoStatus.ts'
import listBlobs from './com/atproto/sync/listBlobs.ts'
import listRepos from './com/atproto/sync/listRepos.ts'
import getPreferences from './app/bsky/actor/getPreferences.ts'
import putPreferences from './app/bsky/actor/putPreferences.ts'
import registerPush from './app/bsky/notification/registerPush.ts'
import unregisterPush from './app/bsky/notification/unregisterPush.ts'
import type { AuthKind } from '../xrpc/auth.ts'
import type { MethodDef, MethodType, Route, RouteLimit } from '../xrpc/method.ts'
import { oauth, type OAuthRule } from '../xrpc/oauth-rules.ts'
import { applyWritesPoints, deleteAttempts, emailRequests, loginAttempts, perAccount, perIp, repoWrite } from './limits.ts'

const route = (
  nsid: string,
  type: MethodType,
  auth: AuthKind,
  oauthRule: OAuthRule,
  def: MethodDef<any, any>,
  limits: readonly RouteLimit[] = [],
): Route => ({ nsid, type, auth, oauth: oauthRule, def, limits })

// The reference's own refusals of OAuth tokens, besides OAUTH_NOT_SUPPORTED.
const EMAIL_UPDATE = 'Use the account manager interface to update email address associated with an account'
const REACTIVATION =
  'Account reactivation is not available with OAuth credentials. Sign in to your account management page to reactivate.'

// prettier-ignore
export const routes: readonly Route[] = [
  route('com.atproto.server.describeServer',     'query',     'none',          oauth.none, describeServer),
  // A migrating account's old PDS speaks for it with a service JWT (createAccount with `did`).
  route('com.atproto.server.createAccount',      'procedure', 'optionalServiceAuth', oauth.none, createAccount, [perIp('createAccount')]),
  route('com.atproto.server.createSession',      'procedure', 'none',          oauth.none, createSession, [loginAttempts, perIp('loginIp')]),
  route('com.atproto.server.getSession',         'query',     'access',        oauth.always, getSession),
  route('com.atproto.server.refreshSession',     'procedure', 'refresh',       oauth.none, refreshSession),
  route('com.atproto.server.deleteSession',      'procedure', 'refresh',       oauth.none, deleteSession),
  route('com.atproto.server.createAppPassword',  'procedure', 'accessFull',    oauth.refused(), createAppPassword),
  route('com.atproto.server.listAppPasswords',   'query',     'accessFull',    oauth.refused(), listAppPasswords),
  route('com.atproto.server.revokeAppPassword',  'procedure', 'accessFull',    oauth.refused(), revokeAppPassword),
  route('com.atproto.server.getServiceAuth',     'query',     'access',        oauth.serviceAuth, getServiceAuth),
  route('com.atproto.server.checkAccountStatus', 'query',     'access',        oauth.always, checkAccountStatus),
  route('com.atproto.server.getAccountInviteCodes', 'query', 'accessFull',    oauth.refused(), getAccountInviteCodes),
  route('com.atproto.server.createInviteCode',   'procedure', 'admin',         oauth.none, createInviteCode),
  route('com.atproto.server.createInviteCodes',  'procedure', 'admin',         oauth.none, createInviteCodes),
  // account self-service with a mailed code (src/account/self-service.ts); app passwords may not change the address
  // or ask to delete the account; the methods without a login are limited per IP
  route('com.atproto.server.requestEmailConfirmation', 'procedure', 'access', oauth.account('email', 'manage'), requestEmailConfirmation, [emailRequests]),
  route('com.atproto.server.confirmEmail',       'procedure', 'access',        oauth.account('email', 'manage'), confirmEmail),
  route('com.atproto.server.requestEmailUpdate', 'procedure', 'access',        oauth.refused(EMAIL_UPDATE), requestEmailUpdate, [emailRequests]),
  route('com.atproto.server.updateEmail',        'procedure', 'accessFull',    oauth.refused(EMAIL_UPDATE), updateEmail),
  route('com.atproto.server.requestPasswordReset', 'procedure', 'none',        oauth.none, requestPasswordReset, [perIp('passwordResetRequest')]),
  route('com.atproto.server.resetPassword',      'procedure', 'none',          oauth.none, resetPassword, [perIp('passwordReset')]),
  route('com.atproto.server.requestAccountDelete', 'procedure', 'accessFull',  oauth.refused(), requestAccountDelete, [emailRequests]),
  route('com.atproto.server.deleteAccount',      'procedure', 'none',          oauth.none, deleteAccount, [perIp('accountDelete'), deleteAttempts]),
  route('com.atproto.temp.checkSignupQueue',     'query',     'access',        oauth.refused(), checkSignupQueue),
  route('com.atproto.identity.resolveHandle',    'query',     'none',          oauth.none, resolveHandle),
  route('com.atproto.identity.updateHandle',     'procedure', 'access',        oauth.identity('handle'), updateHandle,  [perAccount('handleUpdate')]),
  // The reference forwards these three to its AppView, for logged-in users only (app passwords included).
  route('com.atproto.identity.resolveDid',       'query',     'access',        oauth.rpc, resolveDid,      [perAccount('identityLookup')]),
  route('com.atproto.identity.resolveIdentity',  'query',     'access',        oauth.rpc, resolveIdentity, [perAccount('identityLookup')]),
  route('com.atproto.identity.refreshIdentity',  'procedure', 'access',        oauth.rpc, refreshIdentity, [perAccount('identityLookup')]),
  // PLC operations (src/account/plc-operations.ts), with the reference's auth: the mailed code and the signature by
  // our rotation key need a real login; reading the recommendation and submitting an op already signed do not. The
  // code's mail counts as the other mails do (the reference does not limit this one).
  route('com.atproto.identity.getRecommendedDidCredentials', 'query', 'access', oauth.always, getRecommendedDidCredentials),
  route('com.atproto.identity.requestPlcOperationSignature', 'procedure', 'accessFull', oauth.identity('*'), requestPlcOperationSignature, [emailRequests]),
  route('com.atproto.identity.signPlcOperation', 'procedure', 'accessFull',    oauth.identity('*'), signPlcOperation),
  route('com.atproto.identity.submitPlcOperation', 'procedure', 'access',      oauth.identity('*'), submitPlcOperation),
  route('com.atproto.repo.createRecord',         'procedure', 'access',        oauth.inHandler, createRecord,  [repoWrite(3)]),
  route('com.atproto.repo.putRecord',            'procedure', 'access',        oauth.inHandler, putRecord,     [repoWrite(2)]),
  route('com.atproto.repo.deleteRecord',         'procedure', 'access',        oauth.inHandler, deleteRecord,  [repoWrite(1)]),
  route('com.atproto.repo.applyWrites',          'procedure', 'access',        oauth.inHandler, applyWrites,   [repoWrite(applyWritesPoints)]),
  route('com.atproto.repo.uploadBlob',           'procedure', 'access',        oauth.blob, uploadBlob,    [perAccount('blobUpload')]),
  route('com.atproto.repo.getRecord',            'query',     'none',          oauth.none, getRecord),
  route('com.atproto.repo.listRecords',          'query',     'none',          oauth.none, listRecords),
  route('com.atproto.repo.describeRepo',         'query',     'none',          oauth.none, describeRepo),
  route('com.atproto.repo.listMissingBlobs',     'query',     'access',        oauth.always, listMissingBlobs),
  // Migration in: only for an account not yet activated here; a real login, as the reference (ACCESS_FULL).
  route('com.atproto.repo.importRepo',           'procedure', 'accessFull',    oauth.account('repo', 'manage'), importRepo),
  route('com.atproto.server.deactivateAccount',  'procedure', 'accessFull',    oauth.account('status', 'manage'), deactivateAccount),
  route('com.atproto.server.activateAccount',    'procedure', 'accessFull',    oauth.refused(REACTIVATION), activateAccount),
  route('com.atproto.admin.updateSubjectStatus', 'procedure', 'admin',         oauth.none, updateSubjectStatus),
  route('com.atproto.admin.getSubjectStatus',    'query',     'admin',         oauth.none, getSubjectStatus),
  route('app.bsky.actor.getPreferences',         'query',     'access',        oauth.rpc, getPreferences),
  route('app.bsky.actor.putPreferences',         'procedure', 'access',        oauth.rpc, putPreferences),
  // forwarded to the notification service named in the body, signed for the user (src/proxy)
  route('app.bsky.notification.registerPush',    'procedure', 'access',        oauth.inHandler, registerPush),
  route('app.bsky.notification.unregisterPush',  'procedure', 'access',        oauth.inHandler, unregisterPush),
  route('com.atproto.admin.deleteAccount',       'procedure', 'admin',         oauth.none, deleteAccountAdmin),
  // The operator's account administration (src/account/account-admin.ts), for `npm run admin` and other tools.
  route('com.atproto.admin.getAccountInfo',      'query',     'admin',         oauth.none, getAccountInfo),
  route('com.atproto.admin.getAccountInfos',     'query',     'admin',         oauth.none, getAccountInfos),
  route('com.atproto.admin.getInviteCodes',      'query',     'admin',         oauth.none, getInviteCodes),
  route('com.atproto.admin.disableInviteCodes',  'procedure', 'admin',         oauth.none, disableInviteCodes),
  route('com.atproto.admin.disableAccountInvites', 'procedure', 'admin',       oauth.none, disableAccountInvites),
  route('com.atproto.admin.enableAccountInvites', 'procedure', 'admin',        oauth.none, enableAccountInvites),
  route('com.atproto.admin.sendEmail',           'procedure', 'admin',         oauth.none, sendEmail),
  route('com.atproto.admin.updateAccountEmail',  'procedure', 'admin',         oauth.none, updateAccountEmail),
  route('com.atproto.admin.updateAccountHandle', 'procedure', 'admin',         oauth.none, updateAccountHandle),
  route('com.atproto.admin.updateAccountPassword', 'procedure', 'admin',       oauth.none, updateAccountPassword),
  // sync reads: public; inactive repos still served to their owner or the operator, so credentials are read if sent
  route('com.atproto.sync.getRepo',              'query',     'optionalAccessOrAdmin', oauth.always, getRepo),
  route('com.atproto.sync.getLatestCommit',      'query',     'optionalAccessOrAdmin', oauth.always, getLatestCommit),
  route('com.atproto.sync.getRecord',            'query',     'optionalAccessOrAdmin', oauth.always, getRecordProof),
  route('com.atproto.sync.getBlocks',            'query',     'optionalAccessOrAdmin', oauth.always, getBlocks),
  route('com.atproto.sync.getBlob',              'query',     'optionalAccessOrAdmin', oauth.always, getBlob),
  route('com.atproto.sync.listBlobs',            'query',     'optionalAccessOrAdmin', oauth.always, listBlobs),
  route('com.atproto.sync.listRepos',            'query',     'none',          oauth.none, listRepos),
  route('com.atproto.sync.getRepoStatus',        'query',     'none',          oauth.none, getRepoStatus),
  route('com.atproto.sync.getHead',              'query',     'optionalAccessOrAdmin', oauth.always, getHead),
  route('com.atproto.sync.getCheckout',          'query',     'optionalAccessOrAdmin', oauth.always, getCheckout),
]
