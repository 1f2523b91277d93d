import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRingBytes, planRuns } from '../../repository/check.ts';
import { DEFAULT_CHUNKER } from '../../repository/chunker.ts';
import { DEFAULT_BUDGET, planMemory } from '../../repository/memory.ts';
import { DEFAULT_PACK_SIZE } from '../../repository/repo.ts';
import { backup, check, type Repository } from '../../repository/index.ts';
import type { PackEntry } from '../../repository/pack.ts';
import { newRepo, prng, tempDir } from './helpers.ts';

const blob = (offset: number, length: number): PackEntry => ({ id: `b${offset}`, type: 'data', offset, length, rawLength: length, comp: 0 });
const shape = (runs: ReturnType<typeof planRuns>) => runs.map((r) => [r.start, r.end, r.readEnd, r.blobs.map((b) => b.offset)]);

// Pack layout from repository/FORMAT.md "Packs": blobs back to back from offset 0, then the sealed header and its length.
describe('planRuns: a pack cut into runs of whole blobs, every byte hashed once in order', () => {
  it.each([
    ['no indexed blob: the whole pack is one run', [], 100, 20, [[0, 100, 100, []]]],
    ['blobs fill runs up to runBytes; the last run takes the header', [blob(0, 10), blob(10, 10), blob(20, 10)], 40, 20, [[0, 20, 20, [0, 10]], [20, 40, 40, [20]]]],
    ['a blob larger than runBytes is read alone', [blob(0, 50), blob(50, 5)], 60, 20, [[0, 50, 50, [0]], [50, 60, 60, [50]]]],
    ['index order does not matter', [blob(20, 10), blob(0, 10), blob(10, 10)], 40, 20, [[0, 20, 20, [0, 10]], [20, 40, 40, [20]]]],
    ['overlapping entries (damage): the run reads past its hashed end', [blob(0, 30), blob(20, 30)], 60, 25, [[0, 20, 30, [0]], [20, 60, 60, [20]]]],
    ['bytes before the first indexed blob are hashed in the first run', [blob(100, 10)], 200, 50, [[0, 200, 200, [100]]]],
    ['two blobs at one offset stay together', [blob(0, 30), blob(0, 30)], 40, 10, [[0, 40, 40, [0, 0]]]],
  ] as const)('%s', (_name, entries, size, runBytes, want) => {
    expect(shape(planRuns(entries as readonly PackEntry[], size, runBytes))).toEqual(want);
  });
});

const MiB = 1024 * 1024;
// The ring's size (check.ts checkRingBytes) under memory.ts planMemory's cap: a sixteenth of DEFAULT_BUDGET (160 MiB);
// the default chunker's largest chunk is chunker.ts DEFAULT_CHUNKER.max (8 MiB), stored with a 28-byte seal.
describe('checkRingBytes: four runs, or the largest blob and a run, within the plan', () => {
  const cap = planMemory(DEFAULT_BUDGET, DEFAULT_CHUNKER, DEFAULT_PACK_SIZE, 0).checkBytesInFlight;
  it.each([
    ['small files (largest blob a 200 KiB tree)', cap, 0.5 * MiB, 200 * 1024, 2 * MiB],
    ['8 MiB chunks', cap, 0.5 * MiB, 8 * MiB + 28, 8.5 * MiB + 28],
    ['a 12 MiB tree: capped at 10 MiB, read alone', cap, 0.5 * MiB, 12 * MiB, 10 * MiB],
    ['the smallest budget (memory.ts MIN_BUDGET 96 MiB: cap 6 MiB) still holds four runs', planMemory(0, DEFAULT_CHUNKER, DEFAULT_PACK_SIZE, 0).checkBytesInFlight, 2 * MiB, 8 * MiB, 8 * MiB],
  ])('%s', (_name, max, run, largest, want) => {
    expect(checkRingBytes(max, run, largest)).toBe(want);
  });
});

describe('check --read-data in runs: damage anywhere in a pack is found', () => {
  const t = tempDir('check-runs');
  let dir: string;
  let repo: Repository;
  let pack: string;
  let entries: PackEntry[];
  const RUN = 64 * 1024;

  beforeAll(async () => {
    dir = path.join(t.dir, 'repo');
    ({ repo } = await newRepo(dir, { packSize: 1024 * 1024 }));
    const src = path.join(t.dir, 'src');
    mkdirSync(src);
    // 240 files of 2–6 KiB, incompressible: one blob each, ~15 per 64 KiB run
    for (let i = 0; i < 240; i++) writeFileSync(path.join(src, `f${i}`), prng(2048 + ((i * 997) % 4096), i + 1));
    await backup(repo, [src]);
    [pack, entries] = [...repo.packs].sort((a, b) => b[1].length - a[1].length)[0]!;
  });
  afterAll(() => t.cleanup());

  const packFile = () => path.join(dir, 'data', pack.slice(0, 2), pack);
  const flip = (at: number) => {
    const bytes = readFileSync(packFile());
    bytes[at] ^= 0x01;
    writeFileSync(packFile(), bytes);
  };

  it('a clean repository checks clean in small runs, with and without workers', async () => {
    for (const workers of [2, 0]) expect((await check(repo, { readData: true, workers, runBytes: RUN })).errors).toEqual([]);
  });

  it('a flipped byte in a blob in the middle of a run in the middle of the pack: one blob fails and the pack hash', async () => {
    const size = readFileSync(packFile()).length;
    const runs = planRuns(entries, size, RUN);
    expect(runs.length).toBeGreaterThanOrEqual(3);
    const run = runs[Math.floor(runs.length / 2)]!;
    expect(run.blobs.length).toBeGreaterThanOrEqual(3);
    const victim = run.blobs[Math.floor(run.blobs.length / 2)]!;
    flip(victim.offset + 40);
    try {
      for (const [workers, runBytes] of [[2, RUN], [0, RUN], [2, undefined]] as const) {
        const r = await check(repo, { readData: true, workers, runBytes });
        expect(r.damaged.map((d) => d.pack)).toEqual([pack]);
        expect(r.damaged[0]!.reason).toBe(`content hash does not match the pack name; 1 of ${entries.length} blob(s) fail authentication`);
      }
    } finally {
      flip(victim.offset + 40);
    }
    expect((await check(repo, { readData: true, runBytes: RUN })).ok).toBe(true);
  });

  it('a flipped byte in the header is named as header damage, the blobs still verified', async () => {
    const size = readFileSync(packFile()).length;
    flip(size - 10);
    try {
      const r = await check(repo, { readData: true, runBytes: RUN });
      expect(r.damaged.map((d) => d.pack)).toEqual([pack]);
      expect(r.damaged[0]!.reason).toMatch(/^content hash does not match the pack name; header: .*authentication failed/);
    } finally {
      flip(size - 10);
    }
  });

  it('a truncated pack is damaged (its last blob is past the end, its header length garbage)', async () => {
    const bytes = readFileSync(packFile());
    truncateSync(packFile(), bytes.length - 100);
    try {
      const r = await check(repo, { readData: true, runBytes: RUN });
      expect(r.damaged.map((d) => d.pack)).toEqual([pack]);
      expect(r.damaged[0]!.reason).toContain('content hash does not match the pack name; header: ');
    } finally {
      writeFileSync(packFile(), bytes);
    }
    expect((await check(repo, { readData: true })).ok).toBe(true);
  });
});
