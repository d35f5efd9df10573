// How deeply a JSON input may nest. JSON.parse takes any depth, but the code after it walks values recursively
// (validation, DAG-CBOR encoding, JSON.stringify) and runs out of stack somewhere past a few thousand levels: a 500
// for one small request. Real atproto data nests a dozen levels (a post's embed of a record with media and facets);
// this leaves room for any lexicon and none for that failure.

/** The deepest JSON input accepted: objects and arrays within each other. */
export const MAX_JSON_DEPTH = 128

/** Whether `value` nests objects/arrays more than `max` levels deep. Iterative: any depth is measured safely. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (depth > max) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1])
    }
  }
  return false
}
