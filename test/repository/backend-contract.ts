/**
 * The behaviour every Backend must have, as a reusable vitest suite:
 *
 *   describeBackendContract('s3 (s3rver)', async () => ({ backend, cleanup }));
 *
 * Each test gets a fresh, empty backend from `make`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, FileType } from '../../repository/backend/types.ts';

export interface ContractSubject {
  backend: Backend;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** Size of the "large object" case (default 20 MiB); pick one above the backend's multipart threshold. */
  largeSize?: number;
}

function hexId(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code ?? 'no-code';
  }
}

export function describeBackendContract(label: string, make: () => Promise<ContractSubject>, opts: ContractOptions = {}): void {
  describe(`Backend contract: ${label}`, () => {
    let subject: ContractSubject | undefined;
    const fresh = async () => {
      subject = await make();
      return subject.backend;
    };
    afterEach(async () => {
      await subject?.backend.close?.();
      await subject?.cleanup();
      subject = undefined;
    });

    it('puts and gets whole objects of every type, byte for byte', async () => {
      const b = await fresh();
      const types: FileType[] = ['keys', 'data', 'index', 'snapshots', 'locks'];
      for (const t of types) {
        const data = randomBytes(1000 + t.length);
        const id = hexId(t);
        await b.put(t, id, data);
        expect((await b.get(t, id)).equals(data)).toBe(true);
      }
      await b.put('config', 'config', Buffer.from('cfg'));
      expect((await b.get('config', 'config')).toString()).toBe('cfg');
    });

    it('ignores the name for config', async () => {
      const b = await fresh();
      await b.put('config', 'config', Buffer.from('one'));
      expect((await b.get('config', 'anything')).toString()).toBe('one');
      expect((await b.list('config')).map((f) => f.size)).toEqual([3]);
    });

    it('stores empty objects', async () => {
      const b = await fresh();
      const id = hexId('empty');
      await b.put('index', id, Buffer.alloc(0));
      expect((await b.get('index', id)).length).toBe(0);
      expect(await b.stat('index', id)).toEqual({ name: id, size: 0 });
    });

    it('replaces an object on a second put', async () => {
      const b = await fresh();
      const id = hexId('replace');
      await b.put('snapshots', id, Buffer.from('first version'));
      await b.put('snapshots', id, Buffer.from('second'));
      expect((await b.get('snapshots', id)).toString()).toBe('second');
      expect((await b.stat('snapshots', id))?.size).toBe(6);
    });

    it('reports a missing object as E_REPO_NOT_FOUND on get and getRange, undefined on stat', async () => {
      const b = await fresh();
      const id = hexId('missing');
      expect(await code(b.get('data', id))).toBe('E_REPO_NOT_FOUND');
      expect(await code(b.getRange('data', id, 0, 10))).toBe('E_REPO_NOT_FOUND');
      expect(await b.stat('data', id)).toBeUndefined();
    });

    it('reads byte ranges at the start, middle and end, and refuses ranges past the end', async () => {
      const b = await fresh();
      const data = randomBytes(100_000);
      const id = hexId('range');
      await b.put('data', id, data);
      for (const [off, len] of [
        [0, 1],
        [0, 100_000],
        [12_345, 5_000],
        [99_999, 1],
        [50_000, 0],
      ] as const) {
        const got = await b.getRange('data', id, off, len);
        expect(got.equals(data.subarray(off, off + len)), `range ${off}+${len}`).toBe(true);
      }
      expect(await code(b.getRange('data', id, 99_990, 20))).toMatch(/^E_REPO_/);
    });

    it('lists each type sorted by name with sizes, data across its two-character directories', async () => {
      const b = await fresh();
      const ids = Array.from({ length: 40 }, (_, i) => hexId(`list-${i}`));
      await Promise.all(ids.map((id, i) => b.put('data', id, Buffer.alloc(i + 1, 1))));
      await b.put('index', hexId('idx'), Buffer.from('ix'));
      const listed = await b.list('data');
      const expected = ids.map((id, i) => ({ name: id, size: i + 1 })).sort((x, y) => (x.name < y.name ? -1 : 1));
      expect(listed).toEqual(expected);
      expect(await b.list('index')).toEqual([{ name: hexId('idx'), size: 2 }]);
      expect(await b.list('snapshots')).toEqual([]);
      expect(await b.list('locks')).toEqual([]);
    });

    it('deletes idempotently', async () => {
      const b = await fresh();
      const id = hexId('del');
      await b.put('locks', id, Buffer.from('lock'));
      await b.delete('locks', id);
      expect(await b.stat('locks', id)).toBeUndefined();
      expect(await b.list('locks')).toEqual([]);
      await b.delete('locks', id);
      await b.delete('data', hexId('never-existed'));
    });

    it('refuses object names that could escape their directory', async () => {
      const b = await fresh();
      for (const bad of ['../x', 'a/b', '', '..', 'x y']) {
        expect(await code(b.put('data', bad, Buffer.from('x'))), JSON.stringify(bad)).toBe('E_REPO_BACKEND');
      }
    });

    it('round-trips a large object (multipart where the backend has it)', async () => {
      const b = await fresh();
      const size = opts.largeSize ?? 20 * 1024 * 1024;
      const data = randomBytes(size);
      const id = hexId('large');
      await b.put('data', id, data);
      expect(await b.stat('data', id)).toEqual({ name: id, size });
      const back = await b.get('data', id);
      expect(back.length).toBe(size);
      expect(back.equals(data)).toBe(true);
      const mid = Math.floor(size / 2) - 7;
      expect((await b.getRange('data', id, mid, 4096)).equals(data.subarray(mid, mid + 4096))).toBe(true);
    });
  });
}
