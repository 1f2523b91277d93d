import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { PromiseFsClient } from 'isomorphic-git';

/**
 * Writes through a temporary file and a rename, so a concurrent reader (the git CLI, another Coffer process sharing
 * the repository) never sees a half-written object. isomorphic-git writes loose objects with a plain writeFile after
 * an existence check; two writers producing the same tree at the same moment could otherwise publish a truncated one.
 */
async function atomicWriteFile(path: string, data: Uint8Array | string, options?: Parameters<typeof fsp.writeFile>[2]): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.writeFile(tmp, data, options);
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** The file system client every isomorphic-git call in the reconciler uses. */
export const gitFs: PromiseFsClient = {
  promises: {
    readFile: fsp.readFile.bind(fsp),
    writeFile: atomicWriteFile,
    mkdir: fsp.mkdir.bind(fsp),
    rmdir: fsp.rmdir.bind(fsp),
    unlink: fsp.unlink.bind(fsp),
    stat: fsp.stat.bind(fsp),
    lstat: fsp.lstat.bind(fsp),
    readdir: fsp.readdir.bind(fsp),
    readlink: fsp.readlink.bind(fsp),
    symlink: fsp.symlink.bind(fsp),
    rm: fsp.rm.bind(fsp),
  } as unknown as PromiseFsClient['promises'],
};
