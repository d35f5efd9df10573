// The whole API on one screen: each line is NSID, query|procedure, who may call it, its handler, and the rate limits
// it counts against besides the global per-IP one (src/api/limits.ts; their windows are configuration). A method not
// listed here is forwarded to another service by src/proxy (AppView, chat, moderation, or the atproto-proxy header's).
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
import { applyWritesPoints, deleteAttempts, emailRequests, loginAttempts, perAccount, perIp, repoWrite } from './limits.ts'

const route = (
  nsid: string,
  type: MethodType,
  auth: AuthKind,
  def: MethodDef<any, any>,
  limits: readonly RouteLimit[] = [],
): Route => ({ nsid, type, auth, def, limits })

// prettier-ignore
export const routes: readonly Route[] = [
  route('com.atproto.server.describeServer',     'query',     'none',          describeServer),
  // A migrating account's old PDS speaks for it with a service JWT (createAccount with `did`).
  route('com.atproto.server.createAccount',      'procedure', 'optionalServiceAuth', createAccount, [perIp('createAccount')]),
  route('com.atproto.server.createSession',      'procedure', 'none',          createSession, [loginAttempts, perIp('loginIp')]),
  route('com.atproto.server.getSession',         'query',     'access',        getSession),
  route('com.atproto.server.refreshSession',     'procedure', 'refresh',       refreshSession),
  route('com.atproto.server.deleteSession',      'procedure', 'refresh',       deleteSession),
  route('com.atproto.server.createAppPassword',  'procedure', 'accessFull',    createAppPassword),
  route('com.atproto.server.listAppPasswords',   'query',     'accessFull',    listAppPasswords),
  route('com.atproto.server.revokeAppPassword',  'procedure', 'accessFull',    revokeAppPassword),
  route('com.atproto.server.getServiceAuth',     'query',     'access',        getServiceAuth),
  route('com.atproto.server.checkAccountStatus', 'query',     'access',        checkAccountStatus),
  route('com.atproto.server.getAccountInviteCodes', 'query', 'accessFull',    getAccountInviteCodes),
  route('com.atproto.server.createInviteCode',   'procedure', 'admin',         createInviteCode),
  route('com.atproto.server.createInviteCodes',  'procedure', 'admin',         createInviteCodes),
  // account self-service with a mailed code (src/account/self-service.ts); app passwords may not change the address
  // or ask to delete the account; the methods without a login are limited per IP
  route('com.atproto.server.requestEmailConfirmation', 'procedure', 'access', requestEmailConfirmation, [emailRequests]),
  route('com.atproto.server.confirmEmail',       'procedure', 'access',        confirmEmail),
  route('com.atproto.server.requestEmailUpdate', 'procedure', 'access',        requestEmailUpdate, [emailRequests]),
  route('com.atproto.server.updateEmail',        'procedure', 'accessFull',    updateEmail),
  route('com.atproto.server.requestPasswordReset', 'procedure', 'none',        requestPasswordReset, [perIp('passwordResetRequest')]),
  route('com.atproto.server.resetPassword',      'procedure', 'none',          resetPassword, [perIp('passwordReset')]),
  route('com.atproto.server.requestAccountDelete', 'procedure', 'accessFull',  requestAccountDelete, [emailRequests]),
  route('com.atproto.server.deleteAccount',      'procedure', 'none',          deleteAccount, [perIp('accountDelete'), deleteAttempts]),
  route('com.atproto.temp.checkSignupQueue',     'query',     'access',        checkSignupQueue),
  route('com.atproto.identity.resolveHandle',    'query',     'none',          resolveHandle),
  route('com.atproto.identity.updateHandle',     'procedure', 'access',        updateHandle,  [perAccount('handleUpdate')]),
  // The reference forwards these three to its AppView, for logged-in users only (app passwords included).
  route('com.atproto.identity.resolveDid',       'query',     'access',        resolveDid,      [perAccount('identityLookup')]),
  route('com.atproto.identity.resolveIdentity',  'query',     'access',        resolveIdentity, [perAccount('identityLookup')]),
  route('com.atproto.identity.refreshIdentity',  'procedure', 'access',        refreshIdentity, [perAccount('identityLookup')]),
  // PLC operations (src/account/plc-operations.ts), with the reference's auth: the mailed code and the signature by
  // our rotation key need a real login; reading the recommendation and submitting an op already signed do not. The
  // code's mail counts as the other mails do (the reference does not limit this one).
  route('com.atproto.identity.getRecommendedDidCredentials', 'query', 'access', getRecommendedDidCredentials),
  route('com.atproto.identity.requestPlcOperationSignature', 'procedure', 'accessFull', requestPlcOperationSignature, [emailRequests]),
  route('com.atproto.identity.signPlcOperation', 'procedure', 'accessFull',    signPlcOperation),
  route('com.atproto.identity.submitPlcOperation', 'procedure', 'access',      submitPlcOperation),
  route('com.atproto.repo.createRecord',         'procedure', 'access',        createRecord,  [repoWrite(3)]),
  route('com.atproto.repo.putRecord',            'procedure', 'access',        putRecord,     [repoWrite(2)]),
  route('com.atproto.repo.deleteRecord',         'procedure', 'access',        deleteRecord,  [repoWrite(1)]),
  route('com.atproto.repo.applyWrites',          'procedure', 'access',        applyWrites,   [repoWrite(applyWritesPoints)]),
  route('com.atproto.repo.uploadBlob',           'procedure', 'access',        uploadBlob,    [perAccount('blobUpload')]),
  route('com.atproto.repo.getRecord',            'query',     'none',          getRecord),
  route('com.atproto.repo.listRecords',          'query',     'none',          listRecords),
  route('com.atproto.repo.describeRepo',         'query',     'none',          describeRepo),
  route('com.atproto.repo.listMissingBlobs',     'query',     'access',        listMissingBlobs),
  // Migration in: only for an account not yet activated here; a real login, as the reference (ACCESS_FULL).
  route('com.atproto.repo.importRepo',           'procedure', 'accessFull',    importRepo),
  route('com.atproto.server.deactivateAccount',  'procedure', 'accessFull',    deactivateAccount),
  route('com.atproto.server.activateAccount',    'procedure', 'accessFull',    activateAccount),
  route('com.atproto.admin.updateSubjectStatus', 'procedure', 'admin',         updateSubjectStatus),
  route('com.atproto.admin.getSubjectStatus',    'query',     'admin',         getSubjectStatus),
  route('app.bsky.actor.getPreferences',         'query',     'access',        getPreferences),
  route('app.bsky.actor.putPreferences',         'procedure', 'access',        putPreferences),
  // forwarded to the notification service named in the body, signed for the user (src/proxy)
  route('app.bsky.notification.registerPush',    'procedure', 'access',        registerPush),
  route('app.bsky.notification.unregisterPush',  'procedure', 'access',        unregisterPush),
  route('com.atproto.admin.deleteAccount',       'procedure', 'admin',         deleteAccountAdmin),
  // The operator's account administration (src/account/account-admin.ts), for `npm run admin` and other tools.
  route('com.atproto.admin.getAccountInfo',      'query',     'admin',         getAccountInfo),
  route('com.atproto.admin.getAccountInfos',     'query',     'admin',         getAccountInfos),
  route('com.atproto.admin.getInviteCodes',      'query',     'admin',         getInviteCodes),
  route('com.atproto.admin.disableInviteCodes',  'procedure', 'admin',         disableInviteCodes),
  route('com.atproto.admin.disableAccountInvites', 'procedure', 'admin',       disableAccountInvites),
  route('com.atproto.admin.enableAccountInvites', 'procedure', 'admin',        enableAccountInvites),
  route('com.atproto.admin.sendEmail',           'procedure', 'admin',         sendEmail),
  route('com.atproto.admin.updateAccountEmail',  'procedure', 'admin',         updateAccountEmail),
  route('com.atproto.admin.updateAccountHandle', 'procedure', 'admin',         updateAccountHandle),
  route('com.atproto.admin.updateAccountPassword', 'procedure', 'admin',       updateAccountPassword),
  // sync reads: public; inactive repos still served to their owner or the operator, so credentials are read if sent
  route('com.atproto.sync.getRepo',              'query',     'optionalAccessOrAdmin', getRepo),
  route('com.atproto.sync.getLatestCommit',      'query',     'optionalAccessOrAdmin', getLatestCommit),
  route('com.atproto.sync.getRecord',            'query',     'optionalAccessOrAdmin', getRecordProof),
  route('com.atproto.sync.getBlocks',            'query',     'optionalAccessOrAdmin', getBlocks),
  route('com.atproto.sync.getBlob',              'query',     'optionalAccessOrAdmin', getBlob),
  route('com.atproto.sync.listBlobs',            'query',     'optionalAccessOrAdmin', listBlobs),
  route('com.atproto.sync.listRepos',            'query',     'none',          listRepos),
  route('com.atproto.sync.getRepoStatus',        'query',     'none',          getRepoStatus),
  route('com.atproto.sync.getHead',              'query',     'optionalAccessOrAdmin', getHead),
  route('com.atproto.sync.getCheckout',          'query',     'optionalAccessOrAdmin', getCheckout),
]
