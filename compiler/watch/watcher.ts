import type { Stats } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { isPolicySourcePath } from '../load/source.ts';
import type { Change } from './debounce.ts';

/** Top-level folders Coffer writes or tools own: never watched (a node_modules can hold 100,000 files). */
const SKIPPED_TOP = new Set(['catalog', 'reports', 'runs', 'node_modules']);

export interface WatchOptions {
  /** Poll instead of using inotify/FSEvents (network filesystems, some containers). */
  usePolling?: boolean;
  /** Polling interval when usePolling (default 100 ms). */
  intervalMs?: number;
}

export interface WatchedDir {
  path: string;
  /** Prefix for reported paths, matching the compiler's diagnostics ('' for paths relative to the directory). */
  display: string;
}

export interface PolicyWatcher {
  /** Resolves when the initial scan is done: changes after this are reported. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Classifies a path under a watched directory: 'skip' for what is never watched (.git, dot folders, node_modules,
 * Coffer's own catalog/reports/runs, files that are not policy YAML), 'source' for a policy file, 'dir' for a folder
 * that may hold some. Pure, shared by the chokidar filter and the event filter so they cannot disagree.
 */
export function classifyPath(rel: string, isDir: boolean | undefined): 'skip' | 'source' | 'dir' {
  if (rel === '') return 'dir';
  const parts = rel.split('/');
  if (parts.some((p) => p.startsWith('.') || p === 'node_modules') || SKIPPED_TOP.has(parts[0]!)) {
    // A dot *file* inside a folder is an editor artefact (.swp, .#lock); a dot *folder* is .git, .github, .idea.
    return 'skip';
  }
  if (isDir === true) return 'dir';
  if (isPolicySourcePath(rel)) return 'source';
  // Unknown kind (chokidar asks before stat): keep folders reachable, the event filter drops non-YAML files.
  return isDir === undefined ? 'dir' : 'skip';
}

/**
 * Watches the policy sources under `dirs` with chokidar and reports each relevant change. Each directory is watched
 * through its parent (limited to the directory itself), so deleting the whole directory and creating it again —
 * `git stash`, a branch switch, `rm -rf` and a fresh clone — keeps being seen. Atomic saves (write a temporary file,
 * rename it over the original) arrive as one `change`, thanks to chokidar's atomic mode.
 */
export function watchPolicyDirs(dirs: WatchedDir[], onChange: (c: Change) => void, onError: (e: unknown) => void, opts: WatchOptions = {}): PolicyWatcher {
  const roots = dirs.map((d) => resolve(d.path));
  const display = new Map(dirs.map((d) => [resolve(d.path), d.display]));
  const parents = [...new Set(roots.map((r) => dirname(r)))];
  const locate = (abs: string): { root: string; rel: string } | undefined => {
    for (const root of roots) {
      if (abs === root) return { root, rel: '' };
      if (abs.startsWith(root + sep)) return { root, rel: relative(root, abs).split(sep).join('/') };
    }
    return undefined;
  };
  const ignored = (abs: string, stats?: Stats): boolean => {
    if (parents.includes(abs)) return false;
    const at = locate(abs);
    if (!at) return true;
    return classifyPath(at.rel, stats ? stats.isDirectory() : undefined) === 'skip';
  };
  const watcher: FSWatcher = watch(parents, {
    ignoreInitial: true,
    ignored,
    atomic: true,
    ...(opts.usePolling ? { usePolling: true, interval: opts.intervalMs ?? 100 } : {}),
  });
  watcher.on('all', (event, abs) => {
    const at = locate(abs);
    if (!at) return;
    const isDir = event === 'addDir' || event === 'unlinkDir';
    if (classifyPath(at.rel, isDir) === 'skip') return;
    // A new empty folder changes nothing; its files arrive as their own `add` events.
    if (event === 'addDir' && at.rel !== '') return;
    const path = [display.get(at.root) ?? '', at.rel].filter(Boolean).join('/') || '.';
    if (event === 'add' || event === 'change' || event === 'unlink' || event === 'addDir' || event === 'unlinkDir') onChange({ event, path });
  });
  watcher.on('error', onError);
  const ready = new Promise<void>((res) => watcher.once('ready', () => res()));
  return { ready, close: () => watcher.close() };
}
