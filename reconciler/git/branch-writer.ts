import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gitFs } from './fs.ts';
import { isoGit } from './iso.ts';
import { GitSourceError, redactUrl } from './errors.ts';
import { compareAndSwapRef, readRefValue } from './refs.ts';
import type { GitSource } from './source.ts';
import { fetchBranch, wrapRemoteError } from './source.ts';
import { commitTree, objectReader, writeObject } from './objects.ts';
import { blobAt, editTree, type TreeEdit, type TreeEdits } from './tree.ts';

export interface Identity {
  name: string;
  email: string;
}

/** One logical change: files to write and files to remove, committed together or not at all. */
export interface Changes {
  put?: ReadonlyArray<{ path: string; content: string | Uint8Array }>;
  delete?: ReadonlyArray<string>;
}

export interface CommitResult {
  /** The branch tip that contains the change (a new commit, or the existing tip when the change was already there). */
  commit: string;
  /** False when the branch already held exactly this change (a retry after a lost response, or a duplicate call). */
  changed: boolean;
  /** How many times the change was (re)applied before it landed; > 1 means it lost a race and was rebased. */
  attempts: number;
  /** Paths someone else changed concurrently; resolved by `resolve`, or ours wins. */
  conflicts: string[];
}

/**
 * Files derived from the change (an index beside the documents), computed again on every attempt against that
 * attempt's base tree, so what is derived always matches the tree it lands in. Returns extra edits to apply; a
 * subtree (`{ tree }`) or a deletion it returns for a directory stands for the change's own edits under that
 * directory, which the deriver has applied already (so the writer does not rewrite those trees a second time).
 */
export type Deriver = (ctx: DeriveContext) => Promise<DerivedEdits> | DerivedEdits;
export type DerivedEdits = Map<string, TreeEdit>;

export interface DeriveContext {
  gitdir: string;
  baseTree: string | undefined;
  edits: ReadonlyMap<string, string | null>;
  /** Makes a commit written by the deriver a further parent of this attempt's commit (so it stays reachable). */
  addParent(oid: string): void;
}

/** Decides the content of a path both we and a concurrent writer changed. Must be deterministic. */
export type ConflictResolver = (path: string, theirs: Uint8Array, ours: Uint8Array) => Uint8Array | string;

export interface CommitOptions {
  resolve?: ConflictResolver;
  derive?: Deriver;
}

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined };

export interface BranchWriterOptions {
  source: GitSource;
  branch: string;
  author: Identity;
  clock?: () => Date;
  log?: Logger;
  /** Attempts before giving up on a contended branch (default 30). */
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Commits logical changes to one branch without a working tree or an index: blobs, the trees on the changed paths and
 * the commit are written directly. Local repositories are updated with a compare-and-swap on the ref (git's lock file
 * protocol); remotes are pushed. A lost race (the ref moved, or a non-fast-forward push) re-applies the same change on
 * the new tip and retries with jittered backoff, so a change is never lost; a change the tip already contains is not
 * committed again, so it is never duplicated.
 */
/** Per-branch commit queues of this process. */
const queues = new Map<string, Promise<void>>();

export class BranchWriter {
  readonly ref: string;
  private knownRemoteTip: string | undefined | null = null; // null: not fetched yet
  private networkFailures = 0;
  private readonly clock: () => Date;
  private readonly log: Logger;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: BranchWriterOptions) {
    this.ref = `refs/heads/${opts.branch}`;
    this.clock = opts.clock ?? (() => new Date());
    this.log = opts.log ?? silentLogger;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get gitdir(): string {
    return this.opts.source.gitdir;
  }

  /** The branch tip as the authority sees it now (fetching from the remote), or undefined when the branch does not exist. */
  async tip(): Promise<string | undefined> {
    if (this.opts.source.kind === 'local') return readRefValue(this.gitdir, this.ref);
    return this.fetchRemoteTip();
  }

  /**
   * After a lost race the remote's tip moved, so it has to be fetched: fetch at once (its ref discovery names the tip)
   * instead of asking for the refs first — one request less per retry, which is most of what ten writers racing for
   * one branch cost. Falls back to `tip()` when the branch is gone.
   */
  private async tipAfterLostRace(): Promise<string | undefined> {
    const remote = this.opts.source.remote;
    if (this.opts.source.kind === 'local' || !remote) return this.tip();
    try {
      const res = await fetchBranch(this.gitdir, remote, this.opts.branch, this.opts.source.cache);
      if (res.fetchHead && objectReader(this.gitdir).has(res.fetchHead)) {
        this.knownRemoteTip = res.fetchHead;
        return res.fetchHead;
      }
    } catch (e) {
      // A missing branch, or a connection reset: the slower path below asks again (and retries resets).
      const wrapped = wrapRemoteError(e, remote.url);
      if ((e as { code?: string }).code !== 'NotFoundError' && (wrapped as { code?: string }).code !== 'E_GIT_UNREACHABLE') throw wrapped;
    }
    return this.tip();
  }

  /** The last tip seen, without a network round trip (remote) — used for optimistic first attempts. */
  private async cheapTip(): Promise<string | undefined> {
    if (this.opts.source.kind === 'local') return readRefValue(this.gitdir, this.ref);
    if (this.knownRemoteTip === null) return this.fetchRemoteTip();
    return this.knownRemoteTip;
  }

  /**
   * Reads are idempotent, so a connection reset (a server closing an idle keep-alive socket just as it is reused,
   * seen under load with git http-backend) is retried twice before it fails the commit.
   */
  private async fetchRemoteTip(): Promise<string | undefined> {
    for (let i = 0; ; i++) {
      try {
        return await this.fetchRemoteTipOnce();
      } catch (e) {
        if (i >= 2 || (e as { code?: string }).code !== 'E_GIT_UNREACHABLE') throw e;
        this.log.warn('catalog fetch interrupted; retrying', { branch: this.opts.branch, error: (e as Error).message });
      }
    }
  }

  private async fetchRemoteTipOnce(): Promise<string | undefined> {
    const remote = this.opts.source.remote!;
    const cache = this.opts.source.cache;
    const git = await isoGit();
    try {
      const refs = await git.listServerRefs({
        http: remote.http,
        url: remote.url,
        headers: remote.headers,
        onAuth: remote.onAuth,
        onAuthFailure: remote.onAuthFailure,
        prefix: this.ref,
        protocolVersion: 1,
      });
      const tip = refs.find((r) => r.ref === this.ref)?.oid;
      if (tip && !objectReader(this.gitdir).has(tip)) {
        await fetchBranch(this.gitdir, remote, this.opts.branch, cache);
      }
      this.knownRemoteTip = tip;
      return tip;
    } catch (e) {
      throw wrapRemoteError(e, remote.url);
    }
  }

  /**
   * Applies `changes` on the current tip and publishes it; see the class comment for the race semantics. Commits from
   * one process to the same branch are queued (nine concurrent backups finishing together do not fight over the ref);
   * other processes and replicas are handled by compare-and-swap and retry.
   */
  commit(changes: Changes, message: string, opts: CommitOptions = {}): Promise<CommitResult> {
    const key = `${this.gitdir}\u0000${this.opts.source.remote?.url ?? ''}\u0000${this.ref}`;
    const previous = queues.get(key) ?? Promise.resolve();
    const mine = previous.then(() => this.commitNow(changes, message, opts));
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    queues.set(key, tail);
    void tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return mine;
  }

  private async commitNow(changes: Changes, message: string, opts: CommitOptions): Promise<CommitResult> {
    const objects = objectReader(this.opts.source.gitdir);
    objects.startStaging();
    try {
      return await this.stagedCommit(changes, message, opts);
    } finally {
      objects.stopStaging();
    }
  }

  /** commitNow's body: every object it writes is staged and written (one pack when many) before the ref moves. */
  private async stagedCommit(changes: Changes, message: string, opts: CommitOptions): Promise<CommitResult> {
    const { gitdir } = this.opts.source;
    const objects = objectReader(gitdir);
    const ours = new Map<string, string | null>();
    for (const p of changes.put ?? []) {
      const content = typeof p.content === 'string' ? Buffer.from(p.content, 'utf8') : p.content;
      ours.set(normalise(p.path), writeObject(gitdir, 'blob', content, objects));
    }
    for (const d of changes.delete ?? []) {
      const key = normalise(d);
      if (ours.has(key)) throw new Error(`commit: "${d}" is both written and deleted in one change`);
      ours.set(key, null);
    }
    const maxAttempts = this.opts.maxAttempts ?? 30;
    const firstSeen = new Map<string, string | undefined>();
    const madeHere = new Set<string>();
    const conflicts = new Set<string>();
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const base = attempt === 1 ? await this.cheapTip() : await this.tipAfterLostRace();
      const baseTree = base ? commitTree(objects.read(base).data) : undefined;
      const edits: TreeEdits = new Map();
      for (const [path, oid] of ours) {
        if (oid === null) {
          edits.set(path, null); // a deletion never conflicts: nothing of ours to keep (2,400 expiries need no lookups)
          continue;
        }
        const theirs = await blobAt(gitdir, baseTree, path);
        if (!firstSeen.has(path)) firstSeen.set(path, theirs);
        let mine = oid;
        if (attempt > 1 && oid !== null && theirs !== undefined && theirs !== oid && theirs !== firstSeen.get(path)) {
          conflicts.add(path);
          if (opts.resolve) {
            const merged = opts.resolve(path, objects.read(theirs).data, objects.read(oid).data);
            mine = writeObject(gitdir, 'blob', typeof merged === 'string' ? Buffer.from(merged) : merged, objects);
          }
          this.log.warn('catalog path changed concurrently', { path, branch: this.opts.branch, resolution: opts.resolve ? 'resolver' : 'ours' });
        }
        edits.set(path, mine);
      }
      const parents = base ? [base] : [];
      const all = new Map<string, TreeEdit>(edits);
      if (opts.derive) {
        const derived = await opts.derive({ gitdir, baseTree, edits, addParent: (c) => void (parents.includes(c) || parents.push(c)) });
        const done = new Set([...derived].filter(([, e]) => e === null || typeof e === 'object').map(([p]) => p));
        if (done.size) for (const p of edits.keys()) if (under(p, done)) all.delete(p);
        for (const [p, e] of derived) all.set(p, e);
      }
      const tree = await editTree(gitdir, baseTree, all);
      if (base && tree === baseTree) {
        // Already there: a duplicate call (changed: false), or our own earlier attempt whose response was lost.
        return { commit: base, changed: madeHere.has(base), attempts: attempt, conflicts: [...conflicts] };
      }
      const now = this.clock();
      const who = { ...this.opts.author, timestamp: Math.floor(now.getTime() / 1000), timezoneOffset: 0 };
      const oid = writeObject(gitdir, 'commit', commitBytes(tree, parents, who, message), objects);
      madeHere.add(oid);
      objects.flush();
      if (await this.publish(oid, base, who, message)) {
        if (attempt > 1) this.log.info('catalog commit rebased after a lost race', { branch: this.opts.branch, attempts: attempt, commit: oid });
        return { commit: oid, changed: true, attempts: attempt, conflicts: [...conflicts] };
      }
      const backoff = Math.min(25 * 2 ** Math.min(attempt - 1, 6), 1_600) * (0.5 + Math.random());
      await this.sleep(backoff);
    }
    throw new GitSourceError(
      'E_GIT_CONTENDED',
      `branch ${this.opts.branch} of ${this.opts.source.location}: gave up after ${maxAttempts} attempts, the branch keeps moving under us`,
    );
  }

  /** Committing to the branch a working copy has checked out leaves that copy looking modified; say so once. */
  private async warnIfCheckedOut(): Promise<void> {
    const key = `${this.gitdir}\u0000${this.ref}`;
    if (warnedCheckedOut.has(key) || this.opts.source.gitdir.endsWith('.git') === false) return;
    warnedCheckedOut.add(key);
    const head = await readFile(`${this.gitdir}/HEAD`, 'utf8').catch(() => '');
    const bare = (await readFile(`${this.gitdir}/config`, 'utf8').catch(() => '')).match(/^\s*bare\s*=\s*true/m);
    if (!bare && head.trim() === `ref: ${this.ref}`) {
      this.log.warn('catalog branch is checked out in a working copy; it will show Coffer\'s commits as local changes until you pull/reset', {
        branch: this.opts.branch,
        repository: this.opts.source.location,
      });
    }
  }

  private async publish(oid: string, base: string | undefined, who: Identity & { timestamp: number; timezoneOffset: number }, message: string): Promise<boolean> {
    const source = this.opts.source;
    if (source.kind === 'local') {
      await this.warnIfCheckedOut();
      return compareAndSwapRef({ gitdir: source.gitdir, ref: this.ref, newOid: oid, expectedOld: base, committer: who, message: `coffer: ${message}` });
    }
    const remote = source.remote!;
    // A per-attempt ref to push from: processes sharing one cache never push each other's commits.
    const tmp = `refs/coffer/push/${randomBytes(8).toString('hex')}`;
    const git = await isoGit();
    await git.writeRef({ fs: gitFs, gitdir: source.gitdir, ref: tmp, value: oid, force: true });
    try {
      const res = await git.push({
        fs: gitFs,
        http: remote.http,
        gitdir: source.gitdir,
        url: remote.url,
        ref: tmp,
        remoteRef: this.ref,
        headers: remote.headers,
        onAuth: remote.onAuth,
        onAuthFailure: remote.onAuthFailure,
        cache: source.cache,
      });
      const status = res.refs[this.ref];
      if (res.ok && (!status || status.ok)) {
        this.knownRemoteTip = oid;
        this.networkFailures = 0;
        return true;
      }
      this.log.info('catalog push rejected', { branch: this.opts.branch, reason: status?.error ?? res.error });
      return false;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'PushRejectedError' || code === 'GitPushError') {
        this.log.info('catalog push rejected', { branch: this.opts.branch, reason: (e as Error).message, remote: redactUrl(remote.url) });
        return false;
      }
      const wrapped = wrapRemoteError(e, remote.url);
      // A reset connection, or a report-status cut short (isomorphic-git's ParseError on an empty response, seen with
      // git http-backend under heavy load): the push may or may not have landed.
      const lost = (wrapped as { code?: string }).code === 'E_GIT_UNREACHABLE' || (code === 'ParseError' && /received ""/.test((e as Error).message));
      if (lost && ++this.networkFailures <= 3) {
        // Re-read the tip and re-apply; if the push landed, the change is found already there and nothing is
        // committed twice.
        this.log.warn('catalog push interrupted; checking the remote and retrying', { branch: this.opts.branch, error: (e as Error).message });
        this.knownRemoteTip = null;
        return false;
      }
      throw wrapped;
    } finally {
      await git.deleteRef({ fs: gitFs, gitdir: source.gitdir, ref: tmp }).catch(() => undefined);
    }
  }
}

const warnedCheckedOut = new Set<string>();

/** Whether `path` lies strictly below one of `dirs`. */
function under(path: string, dirs: ReadonlySet<string>): boolean {
  for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) if (dirs.has(path.slice(0, i))) return true;
  return false;
}

function normalise(p: string): string {
  return p.replace(/^\/+/, '').replace(/\/+/g, '/');
}

/** A commit object as git writes it (author = committer, UTC). */
export function commitBytes(tree: string, parents: readonly string[], who: Identity & { timestamp: number }, message: string): Buffer {
  const sig = `${who.name} <${who.email}> ${who.timestamp} +0000`;
  return Buffer.from(`tree ${tree}\n${parents.map((p) => `parent ${p}\n`).join('')}author ${sig}\ncommitter ${sig}\n\n${message.endsWith('\n') ? message : `${message}\n`}`, 'utf8');
}
