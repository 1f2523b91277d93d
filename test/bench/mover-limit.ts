/**
 * The physical limit line of `bench:mover`: each stage of a backup measured alone on one core of this machine
 * (cold sequential read, FastCDC, HMAC-SHA256, the writer's codec on the mixed data, AES-256-GCM), and what they imply
 * for two cores — so the gap between Coffer's figures and what the hardware allows is printed beside them.
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { Chunker, DEFAULT_CHUNKER, gearTable } from '../../repository/chunker.ts';
import { Compression, maybeCompressSync, zstdAddon } from '../../repository/compress.ts';
import { planLargeFile, writeDataset } from './mover-dataset.ts';

const MiB = 1024 * 1024;

export interface Stages {
  /** Sequential 4 MiB reads of a 256 MiB file, page cache dropped first ("warm" when it could not be). */
  read: number;
  readCache: 'cold' | 'warm';
  fastcdc: number;
  hmacSha256: number;
  /** The writer's codec (zstd 3, or brotli q2 without the add-on) per 1 MiB chunk of the mixed data, high-entropy chunks skipped as the mover does: MB/s of input. (The name is from when it was brotli.) */
  compressMixed: number;
  decompressMixed: number;
  aes256gcm: number;
}

/** MB/s (10^6 bytes per second) of `fn` over `bytes`, best of three runs (the box is shared). */
function rate(bytes: number, fn: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return Math.round(bytes / 1e6 / (best / 1000));
}

export async function measureStages(dir: string): Promise<Stages> {
  await rm(dir, { recursive: true, force: true });
  // 64 MiB of the large workload's mixed content (1 MiB runs, 60% random, 40% logs and manifests)
  await writeDataset(dir, planLargeFile(64 * MiB, 99));
  const fh = await open(path.join(dir, 'large/volume.img'), 'r');
  const mixed = Buffer.alloc(64 * MiB);
  await fh.read(mixed, 0, mixed.length, 0);
  await fh.close();
  const random = randomBytes(64 * MiB);

  const chunker = new Chunker(gearTable(randomBytes(32)), DEFAULT_CHUNKER);
  const fastcdc = rate(random.length, () => {
    for (let at = 0; at < random.length; ) at += chunker.cut(random, at, random.length, true);
  });
  const key = randomBytes(32);
  const hmacSha256 = rate(random.length, () => {
    for (let at = 0; at < random.length; at += MiB) createHmac('sha256', key).update(random.subarray(at, at + MiB)).digest();
  });
  const aes256gcm = rate(random.length, () => {
    for (let at = 0; at < random.length; at += MiB) {
      const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
      c.update(random.subarray(at, at + MiB));
      c.final();
      c.getAuthTag();
    }
  });
  const compressed: { data: Buffer; comp: Compression }[] = [];
  const compressMixed = rate(mixed.length, () => {
    compressed.length = 0;
    for (let at = 0; at < mixed.length; at += MiB) {
      const chunk = mixed.subarray(at, at + MiB);
      const c = maybeCompressSync(chunk);
      if (c.comp !== Compression.None) compressed.push(c);
    }
  });
  const zstd = zstdAddon() && new (zstdAddon()!.mod.Decoder)();
  const decompressMixed = rate(mixed.length, () => {
    for (const c of compressed) (c.comp === Compression.Zstd ? zstd!.decodeSync(c.data) : brotliDecompressSync(c.data));
  });

  // cold read: 256 MiB written, flushed and dropped from the page cache
  const file = path.join(dir, 'read-sample');
  writeFileSync(file, Buffer.concat([random, random, random, random]));
  spawnSync('sync', [], { stdio: 'ignore' });
  let readCache: 'cold' | 'warm' = 'cold';
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
  } catch {
    readCache = 'warm';
  }
  const buf = Buffer.alloc(4 * MiB);
  const rfh = await open(file, 'r');
  const t0 = performance.now();
  let total = 0;
  for (;;) {
    const { bytesRead } = await rfh.read(buf, 0, buf.length, null);
    if (!bytesRead) break;
    total += bytesRead;
  }
  const read = Math.round(total / 1e6 / ((performance.now() - t0) / 1000));
  await rfh.close();
  await rm(dir, { recursive: true, force: true });
  return { read, readCache, fastcdc, hmacSha256, compressMixed, decompressMixed, aes256gcm };
}

/**
 * What the stages allow for `bytes` of this workload: a first backup must read every byte once, cut it,
 * hash it, compress what compresses (`compressMixed` already skips what does not) and encrypt it. One core
 * does them one after the other; two cores at best split the CPU work evenly while the disk reads.
 * A restore decrypts, decompresses and re-hashes (the write is not counted). Coffer's median beside it, and
 * where the bench ran one, the plain tool's time for the same file-system work (`plainTool`: a cold `cat` of
 * every file beside a first backup, a `cp -a` from memory into a fresh filesystem beside a restore) — one
 * serial process, so a yardstick of what the kernel's part costs here, not a bound.
 */
export function physicalLimit(
  s: Stages,
  bytes: number,
  compressibleShare: number,
  phases: { phase: string; seconds: Partial<Record<'restic' | 'coffer', number>>; plainTool?: { tool: string; seconds: number } }[],
) {
  const mb = bytes / 1e6;
  const readSeconds = mb / s.read;
  const backupCpu = mb / s.fastcdc + mb / s.hmacSha256 + mb / s.compressMixed + mb / s.aes256gcm;
  const restoreCpu = mb / s.aes256gcm + (mb * compressibleShare) / s.decompressMixed + mb / s.hmacSha256;
  const r3 = (n: number) => Math.round(n * 1000) / 1000;
  const side = (cpuOne: number, limit: number, phase: (typeof phases)[number] | undefined) => {
    const { coffer, restic } = phase?.seconds ?? {};
    const plain = phase?.plainTool;
    return {
      cpuSecondsOneCore: r3(cpuOne),
      limitSecondsTwoCores: r3(limit),
      coffer,
      restic,
      cofferOverLimit: coffer ? r3(coffer / limit) : undefined,
      ...(plain
        ? { plainTool: plain.tool, plainToolSeconds: plain.seconds, cofferOverPlainTool: coffer ? r3(coffer / plain.seconds) : undefined, resticOverPlainTool: restic ? r3(restic / plain.seconds) : undefined }
        : {}),
    };
  };
  return {
    firstBackup: { readSeconds: r3(readSeconds), ...side(backupCpu, Math.max(readSeconds, backupCpu / 2), phases.find((p) => p.phase === 'first-backup')) },
    restore: side(restoreCpu, Math.max(readSeconds, restoreCpu / 2), phases.find((p) => p.phase === 'restore')),
  };
}
