// Every `npm run admin` command, in the order --help lists them. One line per command, one file each under commands/.
import type { Command } from './command.ts'
import { accountCreate } from './commands/account-create.ts'
import { accountDelete } from './commands/account-delete.ts'
import { accountInfo } from './commands/account-info.ts'
import { accountList } from './commands/account-list.ts'
import { accountResetPassword } from './commands/account-reset-password.ts'
import { accountTakedown } from './commands/account-takedown.ts'
import { accountUntakedown } from './commands/account-untakedown.ts'
import { inviteCreate } from './commands/invite-create.ts'
import { requestCrawl } from './commands/request-crawl.ts'
import { backup } from './commands/backup.ts'
import { restore } from './commands/restore.ts'
import { blobsMigrateToS3 } from './commands/blobs-migrate-to-s3.ts'

export const commands: readonly Command[] = [
  accountList,
  accountInfo,
  accountCreate,
  accountDelete,
  accountTakedown,
  accountUntakedown,
  accountResetPassword,
  inviteCreate,
  requestCrawl,
  backup,
  restore,
  blobsMigrateToS3,
]
