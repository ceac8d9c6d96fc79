// How a serving process's V8 heap is set up.
import { setFlagsFromString } from "node:v8";

/**
 * Turns off V8's allocation-site pretenuring for a serving process, unless node was started with
 * `--allocation-site-pretenuring` or its `--no-` form (node refuses V8 flags in NODE_OPTIONS).
 * V8 allocates straight into the old generation from any site most of whose objects outlived a
 * young-generation collection. The live fleet's first load reads every server a thousand at a time
 * and keeps them, so on Node 20 V8 learnt that rows live long. From then on every request's rows
 * (ours and pg's) were allocated old and died there, and the young strings they point to survived
 * every scavenge until the next full collection. With it off, the read path spends about a fifth
 * less CPU a request on Node 20 and the same on Node 24 (BENCHMARKS.md, session 17). V8 reads the
 * flag at each collection, so setting it now takes effect.
 */
export function servingHeap(): void {
  if (!process.execArgv.some((flag) => /^--(no-)?allocation[-_]site[-_]pretenuring$/.test(flag))) setFlagsFromString("--no-allocation-site-pretenuring");
}
