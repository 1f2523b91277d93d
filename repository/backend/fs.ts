import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type Backend, BackendError, type FileInfo, type FileType, type TempWriter, type TemporaryFile } from './types.ts';

const TYPES: readonly FileType[] = ['config', 'keys', 'data', 'index', 'snapshots', 'locks'];
const NAME_RE = /^[A-Za-z0-9._-]+$/;

/**
 * A repository on a local (or network-mounted) filesystem, laid out like
 * restic's: `config`, `keys/<id>`, `data/<2 hex>/<id>`, `index/<id>`,
 * `snapshots/<id>`, `locks/<id>`. Writes go to a temporary file in the target
 * directory, are fsynced, renamed into place and the directory is fsynced, so
 * a crash leaves either the old state or the complete new object, never half.
 */
export class FileBackend implements Backend {
  readonly location: string;
  private readonly madeDirs = new Set<string>();

  /** `root` is the repository directory; it is created on the first write if missing. */
  constructor(readonly root: string) {
    this.root = path.resolve(root);
    this.location = `file://${this.root}`;
  }

  private dirOf(type: FileType, name: string): string {
    if (!TYPES.includes(type)) throw new BackendError('E_REPO_BACKEND', `unknown file type "${type}"`);
    if (type === 'config') return this.root;
    if (type === 'data') return path.join(this.root, 'data', name.slice(0, 2));
    return path.join(this.root, type);
  }

  private pathOf(type: FileType, name: string): string {
    if (type === 'config') return path.join(this.root, 'config');
    if (!NAME_RE.test(name) || name === '.' || name === '..') {
      throw new BackendError('E_REPO_BACKEND', `invalid object name "${name}"`);
    }
    return path.join(this.dirOf(type, name), name);
  }

  private wrap(e: unknown, type: FileType, name: string): Error {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      return new BackendError('E_REPO_NOT_FOUND', `${this.location}: ${type}/${name} does not exist`);
    }
    if (err instanceof BackendError) return err;
    return new BackendError('E_REPO_BACKEND', `${this.location}: ${type}/${name}: ${err.message}`);
  }

  async get(type: FileType, name: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.pathOf(type, name));
    } catch (e) {
      throw this.wrap(e, type, name);
    }
  }

  async getRange(type: FileType, name: string, offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    await this.getRangeInto(type, name, offset, buf);
    return buf;
  }

  async getRangeInto(type: FileType, name: string, offset: number, buf: Uint8Array): Promise<void> {
    const length = buf.length;
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(this.pathOf(type, name), 'r');
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      if (done !== length) {
        throw new BackendError('E_REPO_BACKEND', `${this.location}: ${type}/${name}: short read at ${offset}+${length} (got ${done})`);
      }
    } catch (e) {
      throw this.wrap(e, type, name);
    } finally {
      await fh?.close();
    }
  }

  async putIfAbsent(type: FileType, name: string, data: Buffer): Promise<boolean> {
    const final = this.pathOf(type, name);
    const dir = path.dirname(final);
    const tmp = path.join(dir, `.tmp-${name}-${randomBytes(6).toString('hex')}`);
    try {
      await fsp.mkdir(dir, { recursive: true });
      await fsp.writeFile(tmp, data, { flag: 'wx', mode: 0o600 });
      // link(2) fails with EEXIST when the name is taken: the create-if-absent that rename(2) cannot give.
      await fsp.link(tmp, final);
      await syncDir(dir);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw this.wrap(e, type, name);
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async put(type: FileType, name: string, data: Buffer): Promise<void> {
    const final = this.pathOf(type, name);
    const dir = path.dirname(final);
    const tmp = path.join(dir, `.tmp-${name}-${randomBytes(6).toString('hex')}`);
    try {
      if (!this.madeDirs.has(dir)) {
        await fsp.mkdir(dir, { recursive: true });
        this.madeDirs.add(dir);
      }
      const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, final);
      await syncDir(dir);
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw this.wrap(e, type, name);
    }
  }

  /**
   * A temporary file, appended to by each write; `commit` fsyncs it, renames it to its final path and fsyncs that
   * directory, as `put` does. A pack's name is not known until its last byte, so its temporary file goes to a random
   * `data/<2 hex>/` folder (the layout keeps only those under `data/`; `listTemporary` finds it there). A rename
   * between two directories of one filesystem is one journal transaction (ext4, XFS), and the fsync of the target
   * directory commits it, so the old entry is gone once the new one is durable.
   */
  async createTemp(type: FileType): Promise<TempWriter> {
    if (type === 'config') throw new BackendError('E_REPO_BACKEND', 'the config is written whole');
    const rand = randomBytes(8).toString('hex');
    const dir = this.dirOf(type, rand);
    const tmp = path.join(dir, `.tmp-${rand}`);
    let fh: fsp.FileHandle;
    try {
      if (!this.madeDirs.has(dir)) {
        await fsp.mkdir(dir, { recursive: true });
        this.madeDirs.add(dir);
      }
      fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (e) {
      throw this.wrap(e, type, path.basename(tmp));
    }
    let closed = false;
    const close = async () => {
      if (!closed) {
        closed = true;
        await fh.close();
      }
    };
    return {
      write: async (parts) => {
        try {
          let total = 0;
          for (const p of parts) total += p.length;
          // libuv writes all of it (it loops on short writes and on more than IOV_MAX parts) or fails
          const { bytesWritten } = await fh.writev(parts);
          if (bytesWritten !== total) throw new Error(`short write: ${bytesWritten} of ${total} bytes`);
        } catch (e) {
          throw this.wrap(e, type, path.basename(tmp));
        }
      },
      commit: async (name) => {
        const final = this.pathOf(type, name);
        const finalDir = path.dirname(final);
        try {
          await fh.sync();
          await close();
          if (!this.madeDirs.has(finalDir)) {
            await fsp.mkdir(finalDir, { recursive: true });
            this.madeDirs.add(finalDir);
          }
          await fsp.rename(tmp, final);
          await syncDir(finalDir);
        } catch (e) {
          await close().catch(() => undefined);
          await fsp.rm(tmp, { force: true }).catch(() => undefined);
          throw this.wrap(e, type, name);
        }
      },
      abort: async () => {
        await close().catch(() => undefined);
        await fsp.rm(tmp, { force: true }).catch(() => undefined);
      },
    };
  }

  async delete(type: FileType, name: string): Promise<void> {
    try {
      await fsp.rm(this.pathOf(type, name), { force: true });
    } catch (e) {
      throw this.wrap(e, type, name);
    }
  }

  async list(type: FileType): Promise<FileInfo[]> {
    if (type === 'config') {
      const s = await this.stat('config', 'config');
      return s ? [s] : [];
    }
    const base = path.join(this.root, type);
    const dirs = type === 'data' ? (await readdirSafe(base)).filter((d) => /^[0-9a-f]{2}$/.test(d)).map((d) => path.join(base, d)) : [base];
    const out: FileInfo[] = [];
    for (const dir of dirs) {
      for (const name of await readdirSafe(dir)) {
        if (name.startsWith('.tmp-') || !NAME_RE.test(name)) continue;
        try {
          const st = await fsp.stat(path.join(dir, name));
          if (st.isFile()) out.push({ name, size: st.size });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    }
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  async stat(type: FileType, name: string): Promise<FileInfo | undefined> {
    try {
      const st = await fsp.stat(this.pathOf(type, name));
      return { name, size: st.size };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.wrap(e, type, name);
    }
  }

  async listTemporary(): Promise<TemporaryFile[]> {
    const dirs = [this.root, ...TYPES.filter((t) => t !== 'config' && t !== 'data').map((t) => path.join(this.root, t))];
    const data = path.join(this.root, 'data');
    dirs.push(...(await readdirSafe(data)).filter((d) => /^[0-9a-f]{2}$/.test(d)).map((d) => path.join(data, d)));
    const out: TemporaryFile[] = [];
    for (const dir of dirs) {
      for (const name of await readdirSafe(dir)) {
        if (!name.startsWith('.tmp-')) continue;
        try {
          const st = await fsp.lstat(path.join(dir, name));
          if (st.isFile()) out.push({ path: path.relative(this.root, path.join(dir, name)).split(path.sep).join('/'), size: st.size, mtime: st.mtime });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  /** Removes a temporary file `listTemporary` returned; refuses any other path. */
  async deleteTemporary(rel: string): Promise<void> {
    const full = path.resolve(this.root, rel);
    if (path.relative(this.root, full).startsWith('..') || !path.basename(full).startsWith('.tmp-')) {
      throw new BackendError('E_REPO_BACKEND', `${this.location}: "${rel}" is not a temporary file of this repository`);
    }
    await fsp.rm(full, { force: true });
  }

  async close(): Promise<void> {}
}

async function readdirSafe(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Make a rename durable: without fsync of the directory the new entry may vanish on power loss. */
async function syncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories (EINVAL); the rename is still atomic.
  } finally {
    await fh?.close();
  }
}
