import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from './args.ts';
import { type CliIO, type Command, UsageError } from './io.ts';
import { openBackend } from '../repository/backend/open.ts';
import type { Backend } from '../repository/backend/types.ts';
import {
  backup,
  backupEntries,
  check,
  findSnapshot,
  forget,
  initRepository,
  interruptLocks,
  listSnapshots,
  ls,
  openForBackup,
  openRepository,
  prune,
  removeLocks,
  type Repository,
  restore,
  stats,
} from '../repository/index.ts';
import { COMPRESSION_SETTINGS, type CompressionSetting } from '../repository/compress.ts';
import { resolveBudget } from '../repository/memory.ts';

const HELP = `Usage: coffer repo COMMAND [flags]

Operate a deduplicating, compressed, encrypted backup repository.

Commands:
  init                               Create a repository
  backup PATH... [--tag k=v] [--parent SNAP] [--force] [--compression auto|max|off]
                                     Back up files/directories (incremental against the parent)
  backup --stdin --stdin-filename NAME
                                     Back up standard input as one file
  snapshots [--tag k=v]              List snapshots
  ls SNAP [PATH]                     List files in a snapshot (SNAP may be "latest")
  restore SNAP TARGET [--include PATH]...
                                     Restore a snapshot, or only some paths, into TARGET
  check [--read-data]                Verify structure; --read-data authenticates every blob
  forget (SNAP... | --keep-last N --keep-hourly N --keep-daily N --keep-weekly N
          --keep-monthly N --keep-yearly N [--tag k=v]) [--prune] [--dry-run]
                                     Remove snapshots by id or by GFS retention
  prune [--dry-run]                  Remove data no snapshot references
  stats                              Sizes, dedupe and compression ratios
  key list | key add | key remove ID Manage the passwords that open the repository
  unlock [--remove-all]              Remove stale locks

Flags:
  -r, --repo URL          Repository: /path, file:///path or s3://bucket/prefix (env COFFER_REPOSITORY)
      --password-file F   Read the password from F (else env COFFER_PASSWORD or COFFER_PASSWORD_FILE)
  -o, --output FORMAT     table (default), json or yaml
  -q, --quiet             No progress line
      --memory-budget SIZE
                          Bytes backup, restore and check may spend on buffers (e.g. 128MiB; at least 96MiB).
                          Default: 160MiB, or the container's cgroup memory limit less 160MiB when that is less
                          (at least 96MiB). Peak RSS is about the budget plus 70–110 MiB of runtime
                          (repository/FORMAT.md, Performance notes)
      --compression MODE  backup: auto (default: zstd level 3, mostly random blobs level 1), max (zstd 9, small files
                          6: ~2% fewer bytes than auto at a quarter of its speed) or off (nothing compressed). Without
                          the zstd add-on: brotli q2 / q4 (repository/FORMAT.md, Compression)

Environment:
  COFFER_PROGRESS=json    Progress as JSON lines on stderr ({"progress":{…}}), at most one a second (backup: and one at
                          the end) — for logs read while it runs (Coffer's mover pods). A backup's totals are counted
                          beside the walk when it has no parent, else they start as the parent snapshot's and are
                          counted once the walk passes them
  COFFER_BACKUP_WORKERS, COFFER_RESTORE_WORKERS
                          Worker threads for backup / restore (default one per core, at most 2; 0 = main thread only)
  COFFER_ZSTD=off         Act as if no zstd were available: backups write brotli (readable by Coffer before
                          2026-12-07), and zstd blobs are refused (E_REPO_CODEC), also on Node ≥ 22.15

SIGTERM or Ctrl-C stops a command at once (exit 143 / 130) and marks its repository lock interrupted: the next backup
re-indexes what an interrupted one wrote, and prune and forget need not wait for the lock to go stale.
`;

const OPTIONS = {
  repo: { type: 'string', short: 'r' },
  'password-file': { type: 'string' },
  'new-password-file': { type: 'string' },
  output: { type: 'string', short: 'o' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  tag: { type: 'string', multiple: true },
  parent: { type: 'string' },
  force: { type: 'boolean' },
  host: { type: 'string' },
  stdin: { type: 'boolean' },
  'stdin-filename': { type: 'string' },
  include: { type: 'string', multiple: true },
  'read-data': { type: 'boolean' },
  'keep-last': { type: 'string' },
  'keep-hourly': { type: 'string' },
  'keep-daily': { type: 'string' },
  'keep-weekly': { type: 'string' },
  'keep-monthly': { type: 'string' },
  'keep-yearly': { type: 'string' },
  timezone: { type: 'string' },
  prune: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'remove-all': { type: 'boolean' },
  'memory-budget': { type: 'string' },
  compression: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];
type Format = 'table' | 'json' | 'yaml';

interface Ctx {
  io: CliIO;
  v: Values;
  args: string[];
  format: Format;
  progress: boolean;
  backend: Backend;
  /** Bytes the data commands may spend on buffers (`--memory-budget`, the cgroup limit, or the default). */
  budget: number;
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readSecretFile(file: string, cwd: string, what: string): string {
  try {
    return readFileSync(path.resolve(cwd, file), 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new UsageError(`${what} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** The password never comes from a flag value (it would show in `ps` and shell history). */
function password(ctx: Ctx): string {
  const { v, io } = ctx;
  if (v['password-file']) return readSecretFile(v['password-file'], io.cwd, '--password-file');
  if (io.env.COFFER_PASSWORD !== undefined) return io.env.COFFER_PASSWORD;
  if (io.env.COFFER_PASSWORD_FILE) return readSecretFile(io.env.COFFER_PASSWORD_FILE, io.cwd, 'COFFER_PASSWORD_FILE');
  throw new UsageError('no repository password: set COFFER_PASSWORD, COFFER_PASSWORD_FILE or pass --password-file FILE');
}

function newPassword(ctx: Ctx): string {
  const { v, io } = ctx;
  if (v['new-password-file']) return readSecretFile(v['new-password-file'], io.cwd, '--new-password-file');
  if (io.env.COFFER_NEW_PASSWORD !== undefined) return io.env.COFFER_NEW_PASSWORD;
  throw new UsageError('no new password: set COFFER_NEW_PASSWORD or pass --new-password-file FILE');
}

function parseTags(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of list ?? []) {
    const i = t.indexOf('=');
    if (i <= 0) throw new UsageError(`--tag "${t}": expected key=value (e.g. --tag namespace=shop)`);
    out[t.slice(0, i)] = t.slice(i + 1);
  }
  return out;
}

function count(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} "${v}": expected a non-negative integer`);
  return Number(v);
}

export function humanBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(n < 10 ? 2 : 1) : n} ${u[i]}`;
}

function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

type ProgressFigures = { files: number; totalFiles: number; bytes: number; totalBytes: number; elapsedMs: number };

/** With COFFER_PROGRESS=json: one JSON line on stderr per second at most (the first at once), whatever the terminal. */
function jsonProgress(ctx: Ctx) {
  let last = -Infinity;
  const line = (p: ProgressFigures) => ctx.io.stderr.write(`${JSON.stringify({ progress: { files: p.files, totalFiles: p.totalFiles, bytes: p.bytes, totalBytes: p.totalBytes } })}\n`);
  return {
    update(p: ProgressFigures) {
      const now = Date.now();
      if (now - last < 1000) return;
      last = now;
      line(p);
    },
  };
}

/** One progress line on a TTY: rewritten in place, cleared when done (and JSON lines with COFFER_PROGRESS=json). */
function progressLine(ctx: Ctx) {
  let shown = false;
  const json = ctx.io.env.COFFER_PROGRESS === 'json' ? jsonProgress(ctx) : undefined;
  return {
    update(p: { files: number; totalFiles: number; bytes: number; totalBytes: number; elapsedMs: number }) {
      json?.update(p);
      if (!ctx.progress) return;
      const rate = p.elapsedMs > 0 ? (p.bytes / p.elapsedMs) * 1000 : 0;
      const pct = p.totalBytes ? Math.min(100, (p.bytes / p.totalBytes) * 100) : 0;
      const eta = rate > 0 && p.totalBytes ? (p.totalBytes - p.bytes) / rate : NaN;
      const line = `[${duration(p.elapsedMs / 1000)}] ${pct.toFixed(1)}%  ${p.files}/${p.totalFiles} files  ${humanBytes(p.bytes)}/${humanBytes(p.totalBytes)}  ${humanBytes(rate)}/s  ETA ${duration(eta)}`;
      ctx.io.stderr.write(`\r\x1b[K${line}`);
      shown = true;
    },
    done() {
      if (shown) ctx.io.stderr.write('\r\x1b[K');
    },
  };
}

/** yaml is loaded only for --output yaml: it is most of what every `coffer repo` start would compile. */
async function emit(ctx: Ctx, value: unknown, table: () => string): Promise<void> {
  if (ctx.format === 'json') ctx.io.stdout.write(JSON.stringify(value) + '\n');
  else if (ctx.format === 'yaml') ctx.io.stdout.write((await import('yaml')).stringify(value));
  else ctx.io.stdout.write(table());
}

function columns(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

function modeString(type: string, mode: number): string {
  const t = type === 'dir' ? 'd' : type === 'symlink' ? 'l' : '-';
  const rwx = (m: number) => `${m & 4 ? 'r' : '-'}${m & 2 ? 'w' : '-'}${m & 1 ? 'x' : '-'}`;
  return t + rwx(mode >> 6) + rwx(mode >> 3) + rwx(mode);
}

async function open(ctx: Ctx): Promise<Repository> {
  return openRepository(ctx.backend, password(ctx));
}

function need(ctx: Ctx, n: number, usage: string): void {
  if (ctx.args.length < n) throw new UsageError(`missing argument: coffer repo ${usage}`);
}

const SUB: Record<string, (ctx: Ctx) => Promise<number>> = {
  async init(ctx) {
    const repo = await initRepository(ctx.backend, password(ctx));
    await emit(ctx, { repository: ctx.backend.location, id: repo.config.id, keyId: repo.keyId, version: repo.config.version }, () => `created repository ${repo.config.id.slice(0, 10)} at ${ctx.backend.location}\n\nKeep the password safe: without it the data cannot be recovered.\n`);
    return 0;
  },

  async backup(ctx) {
    const { v, io } = ctx;
    const tags = parseTags(v.tag);
    if (v.parent && v.force) throw new UsageError('--parent and --force contradict each other');
    const compression = v.compression ?? 'auto';
    if (!(COMPRESSION_SETTINGS as readonly string[]).includes(compression)) throw new UsageError(`--compression "${compression}": expected auto, max or off`);
    const parent = v.force ? null : v.parent;
    // a backup of files: its seal workers start while the key derives (a first backup reads every file)
    const { repo, sealWorkers } = v.stdin ? { repo: await open(ctx), sealWorkers: undefined } : await openForBackup(ctx.backend, password(ctx), { parent, memoryBudget: ctx.budget, compression: compression as CompressionSetting });
    const bar = progressLine(ctx);
    // No progress shown, no totals counted beside the walk (a second walk's lstats).
    const shown = ctx.progress || io.env.COFFER_PROGRESS === 'json';
    const opts = { tags, parent, hostname: v.host, memoryBudget: ctx.budget, compression: compression as CompressionSetting, sealWorkers, onProgress: shown ? (p: Parameters<typeof bar.update>[0]) => bar.update(p) : undefined };
    let res;
    try {
      if (v.stdin) {
        const name = v['stdin-filename'] ?? 'stdin';
        if (ctx.args.length) throw new UsageError('--stdin takes no PATH arguments');
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        res = await backupEntries(repo, [{ path: name, data: Buffer.concat(chunks), mode: 0o644 }], { ...opts, paths: [`/${name}`] });
      } else {
        need(ctx, 1, 'backup PATH...');
        res = await backup(repo, ctx.args.map((p) => path.resolve(io.cwd, p)), opts);
      }
    } finally {
      bar.done();
      // closed by the backup however it ends; here too when it never ran (a missing PATH argument)
      await sealWorkers?.close();
    }
    const s = res.stats;
    // The last progress line says the total, however fast the backup was.
    if (io.env.COFFER_PROGRESS === 'json') jsonProgress(ctx).update({ files: s.filesNew + s.filesChanged + s.filesUnmodified, totalFiles: s.filesNew + s.filesChanged + s.filesUnmodified, bytes: s.bytesProcessed, totalBytes: s.bytesProcessed, elapsedMs: s.seconds * 1000 });
    // like restic: the snapshot is saved, and each path it does not hold exactly is named on stderr
    for (const x of res.warnings) ctx.io.stderr.write(`warning: ${x.path}: ${x.code === 'CHANGED_WHILE_READ' ? x.message : `not backed up: ${x.message}`}\n`);
    await emit(ctx, { snapshotId: res.snapshotId, parent: res.snapshot.parent ?? null, tags: res.snapshot.tags, paths: res.snapshot.paths, stats: s, warnings: res.warnings }, () =>
      [
        `Files:       ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unmodified`,
        `Dirs:        ${s.dirs}`,
        `Added:       ${humanBytes(s.bytesAddedRaw)} (${humanBytes(s.bytesStored)} stored)`,
        `Processed:   ${humanBytes(s.bytesProcessed)} in ${s.seconds.toFixed(2)} s`,
        `snapshot ${res.snapshotId.slice(0, 8)} saved`,
        '',
      ].join('\n'),
    );
    return 0;
  },

  async snapshots(ctx) {
    const repo = await open(ctx);
    const want = parseTags(ctx.v.tag);
    const snaps = (await listSnapshots(repo)).filter((s) => Object.entries(want).every(([k, v]) => s.tags[k] === v));
    await emit(ctx, snaps, () => {
      const rows = [['ID', 'TIME', 'HOST', 'TAGS', 'PATHS', 'SIZE']];
      for (const s of snaps) rows.push([s.id.slice(0, 8), s.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), s.hostname, Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(','), s.paths.join(','), humanBytes(s.summary?.bytesProcessed ?? 0)]);
      return columns(rows) + `${snaps.length} snapshot(s)\n`;
    });
    return 0;
  },

  async ls(ctx) {
    need(ctx, 1, 'ls SNAP [PATH]');
    const repo = await open(ctx);
    const entries = await ls(repo, ctx.args[0]!, ctx.args[1] ?? '');
    await emit(ctx, entries, () => columns(entries.map((e) => [modeString(e.type, e.mode), `${e.uid}:${e.gid}`, String(e.size), e.mtime, e.target !== undefined ? `${e.path} -> ${e.target}` : e.path])));
    return 0;
  },

  async restore(ctx) {
    need(ctx, 2, 'restore SNAP TARGET [--include PATH]');
    const repo = await open(ctx);
    const bar = progressLine(ctx);
    let s;
    try {
      s = await restore(repo, ctx.args[0]!, path.resolve(ctx.io.cwd, ctx.args[1]!), { include: ctx.v.include, memoryBudget: ctx.budget, onProgress: (p) => bar.update(p) });
    } finally {
      bar.done();
    }
    for (const w of s.warnings) ctx.io.stderr.write(`warning: ${w}\n`);
    await emit(ctx, s, () => `restored ${s.files} file(s), ${s.dirs} dir(s), ${s.symlinks} symlink(s)${s.hardlinks ? `, ${s.hardlinks} hard link(s)` : ''}${s.specials ? `, ${s.specials} FIFO/device node(s)` : ''}, ${humanBytes(s.bytes)} in ${s.seconds.toFixed(2)} s\n`);
    return 0;
  },

  async check(ctx) {
    const repo = await open(ctx);
    const bar = progressLine(ctx);
    const started = Date.now();
    let r;
    try {
      r = await check(repo, { readData: ctx.v['read-data'], memoryBudget: ctx.budget, onProgress: (p) => bar.update({ files: p.packs, totalFiles: p.totalPacks, bytes: p.packs, totalBytes: p.totalPacks, elapsedMs: Date.now() - started }) });
    } finally {
      bar.done();
    }
    await emit(ctx, r, () => {
      const lines = [`checked ${r.snapshots} snapshot(s), ${r.packs} pack(s), ${r.blobs} blob(s)${ctx.v['read-data'] ? `, read ${r.packsRead} pack(s)` : ''}`];
      if (r.unindexedPacks.length) lines.push(`${r.unindexedPacks.length} pack(s) not in any index (left by an interrupted backup; reused by the next backup or removed by prune)`);
      if (r.staleTemporaryFiles.length) lines.push(`${r.staleTemporaryFiles.length} stale temporary file(s) of interrupted writes (removed by the next prune): ${r.staleTemporaryFiles.slice(0, 5).join(', ')}${r.staleTemporaryFiles.length > 5 ? ', …' : ''}`);
      for (const e of r.errors) lines.push(`error: ${e}`);
      lines.push(r.ok ? 'no errors were found' : `${r.errors.length} error(s) found`);
      return lines.join('\n') + '\n';
    });
    return r.ok ? 0 : 1;
  },

  async forget(ctx) {
    const { v } = ctx;
    const keep = {
      last: count(v['keep-last'], 'keep-last'),
      hourly: count(v['keep-hourly'], 'keep-hourly'),
      daily: count(v['keep-daily'], 'keep-daily'),
      weekly: count(v['keep-weekly'], 'keep-weekly'),
      monthly: count(v['keep-monthly'], 'keep-monthly'),
      yearly: count(v['keep-yearly'], 'keep-yearly'),
    };
    const anyKeep = Object.values(keep).some((n) => n !== undefined && n > 0);
    if (ctx.args.length && anyKeep) throw new UsageError('give snapshot ids or --keep-* counts, not both');
    if (!ctx.args.length && !anyKeep) throw new UsageError('forget needs snapshot ids or at least one positive --keep-last/--keep-hourly/--keep-daily/--keep-weekly/--keep-monthly/--keep-yearly');
    const repo = await open(ctx);
    const r = await forget(repo, { ids: ctx.args, keep: anyKeep ? keep : undefined, tags: parseTags(v.tag), timezone: v.timezone, dryRun: v['dry-run'] });
    const pr = v.prune && !v['dry-run'] ? await prune(repo) : undefined;
    await emit(ctx, { ...r, dryRun: !!v['dry-run'], ...(pr ? { prune: pr } : {}) }, () => {
      const lines: string[] = [];
      for (const g of r.groups) {
        if (g.keep.length) lines.push(`keep ${g.keep.length} snapshot(s):`, ...g.keep.map((k) => `  ${k.id.slice(0, 8)}  ${k.time}  ${k.reasons.join(', ')}`));
        if (g.remove.length) lines.push(`${v['dry-run'] ? 'would remove' : 'removed'} ${g.remove.length} snapshot(s):`, ...g.remove.map((k) => `  ${k.id.slice(0, 8)}  ${k.time}`));
      }
      if (pr) lines.push(`prune: deleted ${pr.packsDeleted} pack(s), repacked ${pr.packsRepacked}, freed ${humanBytes(pr.bytesFreed)}`);
      return lines.join('\n') + '\n';
    });
    return 0;
  },

  async prune(ctx) {
    const repo = await open(ctx);
    const r = await prune(repo, { dryRun: ctx.v['dry-run'] });
    await emit(ctx, r, () => `${r.dryRun ? 'would delete' : 'deleted'} ${r.packsDeleted} pack(s), ${r.dryRun ? 'would repack' : 'repacked'} ${r.packsRepacked}, kept ${r.packsKept}; ${r.blobsRemoved} unused blob(s); ${humanBytes(r.bytesBefore)} → ${humanBytes(r.bytesAfter)}\n`);
    return 0;
  },

  async stats(ctx) {
    const repo = await open(ctx);
    const s = await stats(repo);
    await emit(ctx, s, () =>
      columns([
        ['snapshots', String(s.snapshots)],
        ['stored', humanBytes(s.storedBytes)],
        ['unique data', humanBytes(s.uniqueRawBytes)],
        ['all snapshots', humanBytes(s.totalRestoreBytes)],
        ['dedupe ratio', `${s.dedupRatio}x`],
        ['compression ratio', `${s.compressionRatio}x`],
        ['packs / blobs', `${s.packs} / ${s.blobs}`],
        ['keys', String(s.keys)],
      ]),
    );
    return 0;
  },

  async key(ctx) {
    const [op, id] = ctx.args;
    const repo = await open(ctx);
    if (op === 'list') {
      const keys = await repo.listKeys();
      await emit(ctx, keys, () => columns([['', 'ID', 'USER', 'HOST', 'CREATED', 'KDF'], ...keys.map((k) => [k.current ? '*' : '', k.id.slice(0, 8), k.username, k.hostname, k.created, `scrypt N=${k.N} r=${k.r} p=${k.p}`])]));
      return 0;
    }
    if (op === 'add') {
      const newId = await repo.addKey(newPassword(ctx));
      await emit(ctx, { id: newId }, () => `added key ${newId.slice(0, 8)}\n`);
      return 0;
    }
    if (op === 'remove') {
      if (!id) throw new UsageError('missing argument: coffer repo key remove ID');
      const removed = await repo.removeKey(id);
      await emit(ctx, { removed }, () => `removed key ${removed.slice(0, 8)}\n`);
      return 0;
    }
    throw new UsageError(`unknown "coffer repo key ${op ?? ''}": use list, add or remove`);
  },

  async unlock(ctx) {
    const repo = await open(ctx);
    const n = await removeLocks(repo, ctx.v['remove-all']);
    await emit(ctx, { removed: n }, () => `removed ${n} ${ctx.v['remove-all'] ? '' : 'stale '}lock(s)\n`);
    return 0;
  },
};

export const run: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(HELP);
    return sub ? 0 : 1;
  }
  const handler = SUB[sub];
  if (!handler) throw new UsageError(`unknown command "coffer repo ${sub}" (run "coffer repo --help")`);
  const { values: v, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const format = (v.output ?? 'table') as Format;
  if (!['table', 'json', 'yaml'].includes(format)) throw new UsageError(`--output "${v.output}": expected table, json or yaml`);
  const url = v.repo ?? io.env.COFFER_REPOSITORY;
  if (!url) throw new UsageError('no repository: pass --repo URL or set COFFER_REPOSITORY');
  const { budget } = resolveBudget(v['memory-budget'], readIfPresent);
  const backend = openBackend(url, io.env, { cwd: io.cwd });
  const ctx: Ctx = { io, v, args: positionals, format, progress: !!io.stderr.isTTY && format === 'table' && !v.quiet, backend, budget };
  const onSignal = (signal: NodeJS.Signals) => void interrupted(io, sub, signal);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    return await handler(ctx);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await backend.close?.();
  }
};

/** How long an interrupted command may spend marking its locks (an unreachable S3 endpoint) before it exits anyway. */
const INTERRUPT_MARK_MS = 10_000;

/**
 * A signal ends the command now, its lock marked interrupted (lock.ts `interruptLocks`). Without a handler the process
 * would die with its lock live — and as a container's PID 1 (the mover Pod: `node` is the entrypoint) it would not
 * die at all: the kernel drops SIGTERM to a PID 1 without a handler, so a cancelled run's mover wrote on for the whole
 * grace period, then was SIGKILLed leaving a lock from a Pod that is gone, which held up prune for 30 minutes.
 */
async function interrupted(io: CliIO, sub: string, signal: NodeJS.Signals): Promise<never> {
  io.stderr.write(`coffer repo ${sub}: interrupted by ${signal}; the repository lock is marked interrupted (a backup's data so far is re-indexed by the next backup)\n`);
  await Promise.race([interruptLocks(signal), new Promise((r) => setTimeout(r, INTERRUPT_MARK_MS).unref())]);
  process.exit(128 + (osConstants.signals[signal] ?? 15));
}
