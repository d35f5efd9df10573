// Step 4: the account's private preferences (saved feeds, muted words, content filters…), which live on the PDS
// and are not in the repo: app.bsky.actor.getPreferences on the old, putPreferences on the new, whole.
// Preferences are worth a warning, not a stranded account: a PDS that refuses them (some serve them only with an
// AppView configured) leaves them behind with a ⚠ line, and the move goes on. Unreachable or failing servers stop it.
import { ask, MigrateError } from './errors.ts'
import type { Migration } from './context.ts'

/** Figures kept in the state file: how many preference entries were copied (0 with `refused` when one side would not). */
export async function copyPreferences(m: Migration): Promise<{ count: number; refused?: boolean }> {
  try {
    const prefs = await ask(m.old.side, 'export preferences (app.bsky.actor.getPreferences)', () =>
      m.old.agent.app.bsky.actor.getPreferences(),
    )
    const { preferences } = prefs.data
    await ask(m.new.side, 'accept preferences (app.bsky.actor.putPreferences)', () =>
      m.new.agent.app.bsky.actor.putPreferences({ preferences }),
    )
    m.out.ok(`preferences copied: ${preferences.length} ${preferences.length === 1 ? 'entry' : 'entries'}`)
    return { count: preferences.length }
  } catch (err) {
    if (!(err instanceof MigrateError && err.refused)) throw err
    m.out.warn(`preferences not copied (set them again in your app): ${err.message}`)
    return { count: 0, refused: true }
  }
}
