// Entry point. Node's on-disk compile cache roughly halves startup for a process that loads the @atproto libraries,
// and the cache of stripped types (src/type-strip-cache.js) spares Node 22 its type stripping of every .ts module at
// every start; both must be on before the modules are imported, hence this tiny file and a dynamic import of the
// real entry. `npm start` loads that cache with --import already, so that this file too comes from it.
import './type-strip-cache.js'

await import('./main.ts')
