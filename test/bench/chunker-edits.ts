/**
 * New bytes to store after the bench's large changed phase, per chunker level, without a backup: `bench:mover`'s
 * large file (mixed 1 MiB runs, seed 42) and its 64 overwrites, cut before and after with `Chunker.cut` under
 * `--seeds N` random gear seeds; prints JSON (raw MB of chunks the edited file has and the original had not, and
 * the mean chunk). `tsx test/bench/chunker-edits.ts --size 1024 --seeds 3` (MiB; ~2.2 GiB of memory at 1 GiB).
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Chunker, type ChunkerParams, gearTable } from '../../repository/chunker.ts';
import { mixedStream, planLargeFile, planLargeMutation } from './mover-dataset.ts';

const MiB = 1024 * 1024;
const { values: args } = parseArgs({ options: { size: { type: 'string', default: '1024' }, seeds: { type: 'string', default: '3' } } });
const size = Number(args.size) * MiB;
const files = planLargeFile(size, 42);
const muts = planLargeMutation(files, 42);
// as writeDataset and applyMutation write them (4 MiB at a time; each patch from its own stream)
const next = mixedStream(files[0]!.seed);
const before = Buffer.allocUnsafe(size);
for (let at = 0; at < size; at += 4 * MiB) next(Math.min(4 * MiB, size - at)).copy(before, at);
const after = Buffer.from(before);
for (const m of muts) mixedStream(m.seed)(m.length).copy(after, m.offset);

const levels: Record<string, ChunkerParams> = {
  'level 2': { min: 512 * 1024, avg: MiB, max: 8 * MiB },
  'level 0': { min: 512 * 1024, avg: MiB, max: 8 * MiB, normalization: 0 },
  "one 20-bit mask (restic's scheme)": { min: 512 * 1024, avg: 1.5 * MiB, max: 8 * MiB, normalization: 0 },
};
function chunkIds(c: Chunker, data: Buffer, each: (id: string, n: number) => void): void {
  for (let at = 0; at < data.length; ) {
    const n = c.cut(data, at, data.length, true);
    each(createHash('sha256').update(data.subarray(at, at + n)).digest('hex'), n);
    at += n;
  }
}
const out: Record<string, { newMB: number; meanChunkKiB: number }[]> = {};
for (let s = 0; s < Number(args.seeds); s++) {
  const gear = gearTable(randomBytes(32));
  for (const [name, params] of Object.entries(levels)) {
    const c = new Chunker(gear, params);
    const known = new Set<string>();
    chunkIds(c, before, (id) => known.add(id));
    let fresh = 0;
    chunkIds(c, after, (id, n) => (fresh += known.has(id) ? 0 : n));
    (out[name] ??= []).push({ newMB: Math.round(fresh / 1e5) / 10, meanChunkKiB: Math.round(size / known.size / 1024) });
  }
}
console.log(JSON.stringify({ bytes: size, overwrittenMB: muts.reduce((a, m) => a + m.length, 0) / 1e6, ...out }));
