// Entry point. Node's on-disk compile cache roughly halves startup for a process that loads the @atproto libraries;
// it must be on before they are imported, hence this tiny file and a dynamic import of the real entry.
import { enableCompileCache } from 'node:module'

enableCompileCache()
await import('./main.ts')
