// The whole API on one screen: each line is NSID, query|procedure, who may call it, and its handler.
import createAccount from '../api/com/atproto/server/createAccount.ts'
import createAppPassword from '../api/com/atproto/server/createAppPassword.ts'
import createInviteCode from '../api/com/atproto/server/createInviteCode.ts'
import createInviteCodes from '../api/com/atproto/server/createInviteCodes.ts'
import createSession from '../api/com/atproto/server/createSession.ts'
import deleteSession from '../api/com/atproto/server/deleteSession.ts'
import describeServer from '../api/com/atproto/server/describeServer.ts'
import getSession from '../api/com/atproto/server/getSession.ts'
import listAppPasswords from '../api/com/atproto/server/listAppPasswords.ts'
import refreshSession from '../api/com/atproto/server/refreshSession.ts'
import revokeAppPassword from '../api/com/atproto/server/revokeAppPassword.ts'
import resolveHandle from '../api/com/atproto/identity/resolveHandle.ts'
import type { AuthKind } from './auth.ts'
import type { MethodDef, MethodType } from './method.ts'

export type Route = { nsid: string; type: MethodType; auth: AuthKind; def: MethodDef<any, any> }

const route = (nsid: string, type: MethodType, auth: AuthKind, def: MethodDef<any, any>): Route => ({
  nsid,
  type,
  auth,
  def,
})

// prettier-ignore
export const routes: readonly Route[] = [
  route('com.atproto.server.describeServer',    'query',     'none',        describeServer),
  route('com.atproto.server.createAccount',     'procedure', 'none',        createAccount),
  route('com.atproto.server.createSession',     'procedure', 'none',        createSession),
  route('com.atproto.server.getSession',        'query',     'access',      getSession),
  route('com.atproto.server.refreshSession',    'procedure', 'refresh',     refreshSession),
  route('com.atproto.server.deleteSession',     'procedure', 'refresh',     deleteSession),
  route('com.atproto.server.createAppPassword', 'procedure', 'accessFull',  createAppPassword),
  route('com.atproto.server.listAppPasswords',  'query',     'accessFull',  listAppPasswords),
  route('com.atproto.server.revokeAppPassword', 'procedure', 'accessFull',  revokeAppPassword),
  route('com.atproto.server.createInviteCode',  'procedure', 'admin',       createInviteCode),
  route('com.atproto.server.createInviteCodes', 'procedure', 'admin',       createInviteCodes),
  route('com.atproto.identity.resolveHandle',   'query',     'none',        resolveHandle),
]
