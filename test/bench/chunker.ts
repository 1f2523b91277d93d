/**
 * `npm run bench:chunker`: the FastCDC cut loop alone, one thread, the previous loop (two bytes per iteration, one
 * load each; test/repository/chunker-previous.ts) against today's Chunker (four bytes per load) in the same process,
 * alternating round by round, on random bytes, log/manifest text and the mover's mixed 1 MiB runs. Prints JSON: MB/s
 * (10^6 bytes of input per second, the skipped 512 KiB minimum included, as a backup sees it) per round, medians,
 * new ÷ old, the level-0 variant's speed and mean chunk, and the load average (the box is shared: read ratios).
 *
 * Instruction counts, repeatable on a loaded box: `--only old|new|level0 --kinds random --rounds N` cuts only that
 * loop; the difference between two `valgrind --tool=callgrind` runs with different --rounds is the loop's steady cost.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Chunker, type ChunkerParams, gearTable } from '../../repository/chunker.ts';
import { previousCut } from '../repository/chunker-previous.ts';
import { mixedStream, textStream } from './mover-dataset.ts';

const MiB = 1024 * 1024;
const LEVEL2: ChunkerParams = { min: 512 * 1024, avg: MiB, max: 8 * MiB };
type Cut = (buf: Uint8Array, start: number, end: number, final: boolean) => number;

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '5' },
    kinds: { type: 'string', default: 'random,text,mixed' },
    only: { type: 'string' },
  },
});
const size = Number(args.size) * MiB;
const rounds = Number(args.rounds);

function cutAll(cut: Cut, data: Uint8Array): number {
  let count = 0;
  for (let at = 0; at < data.length; count++) at += cut(data, at, data.length, true);
  return count;
}

const data: Record<string, Buffer> = {};
for (const kind of args.kinds.split(',')) {
  if (kind === 'random') data[kind] = randomBytes(size);
  else if (kind === 'text') data[kind] = textStream(7)(size);
  else if (kind === 'mixed') data[kind] = mixedStream(7)(size);
  else throw new Error(`--kinds: unknown kind "${kind}" (random, text, mixed)`);
}
const gear = gearTable(randomBytes(32));
const current = new Chunker(gear, LEVEL2);
const level0 = new Chunker(gear, { ...LEVEL2, normalization: 0 });
const loops: Record<string, Cut> = {
  old: previousCut(gear, LEVEL2),
  new: (b, s, e, f) => current.cut(b, s, e, f),
  level0: (b, s, e, f) => level0.cut(b, s, e, f),
};
const names = args.only ? [args.only] : Object.keys(loops);
if (names.some((n) => !loops[n])) throw new Error(`--only: one of ${Object.keys(loops).join(', ')}`);

const load = [loadavg()[0]!];
const rates: Record<string, Record<string, number[]>> = {};
const chunksPer: Record<string, Record<string, number>> = {};
for (let r = 0; r < rounds; r++) {
  for (const [kind, buf] of Object.entries(data)) {
    // alternate the order each round so neither loop always runs first (caches, turbo, neighbours)
    for (const name of r % 2 ? [...names].reverse() : names) {
      const t0 = performance.now();
      const count = cutAll(loops[name]!, buf);
      const ms = performance.now() - t0;
      ((rates[kind] ??= {})[name] ??= []).push(Math.round(buf.length / 1e6 / (ms / 1000)));
      (chunksPer[kind] ??= {})[name] = count;
    }
  }
  load.push(loadavg()[0]!);
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const out: Record<string, unknown> = { bytes: size, rounds, loadavg1: { min: Math.min(...load), max: Math.max(...load) } };
for (const [kind, byName] of Object.entries(rates)) {
  const med = Object.fromEntries(Object.entries(byName).map(([n, a]) => [n, median(a)]));
  out[kind] = {
    mbPerS: byName,
    median: med,
    ...(med.old && med.new ? { newOverOld: Math.round((med.new / med.old) * 100) / 100 } : {}),
    meanChunkKiB: Object.fromEntries(Object.entries(chunksPer[kind]!).map(([n, c]) => [n, Math.round(size / c / 1024)])),
  };
}
for (const [kind, c] of Object.entries(chunksPer)) if (c.old !== undefined && c.new !== undefined && c.old !== c.new) throw new Error(`${kind}: the old and new loops cut differently`);
console.log(JSON.stringify(out, (_k, v: unknown) => (Array.isArray(v) ? v.join(' ') : v), 1));
