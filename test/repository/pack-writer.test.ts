import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FileBackend, type Repository } from '../../repository/index.ts';
import { blobId, seal } from '../../repository/crypto.ts';
import { newRepo, prng, tempDir } from './helpers.ts';

/** Lets the test hold every pack upload (`put('data', …)`) until it says so. */
function holdUploads(backend: FileBackend): { started: string[]; releaseAll: () => void; stopHolding: () => void } {
  const started: string[] = [];
  let waiting: (() => void)[] = [];
  let holding = true;
  const put = backend.put.bind(backend);
  backend.put = async (type, name, data) => {
    if (type === 'data' && holding) {
      started.push(name);
      await new Promise<void>((r) => waiting.push(r));
    }
    return put(type, name, data);
  };
  const releaseAll = () => {
    const w = waiting;
    waiting = [];
    for (const f of w) f();
  };
  return {
    started,
    releaseAll,
    stopHolding: () => {
      holding = false;
      releaseAll();
    },
  };
}

/** Let pending callbacks run, including thread-pool work (pack hashing): a few event-loop turns, no clock. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Wait until `cond` holds (an upload reached the backend after hashing on the pool); generous bound, no timing assertion. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200_000 && !cond(); i++) await new Promise<void>((r) => setImmediate(r));
  expect(cond()).toBe(true);
}

describe('pack writer backpressure (one upload slot, as under the default memory budget)', () => {
  let cleanup = () => undefined as void;
  afterEach(() => cleanup());

  async function setup(): Promise<{ repo: Repository; backend: FileBackend }> {
    const t = tempDir('packwriter');
    cleanup = t.cleanup;
    // 64 KiB packs: four 20 KiB blobs overflow one
    return newRepo(t.dir, { packSize: 64 * 1024 });
  }

  it('keeps filling the next pack while one uploads, and waits only when that pack is full too', async () => {
    const { repo, backend } = await setup();
    // the buffered way (S3): packs are uploaded whole with `put`
    (backend as { createTemp?: unknown }).createTemp = undefined;
    const held = holdUploads(backend);
    const writer = repo.newPackWriter(1);
    const blob = (i: number) => {
      const raw = prng(20 * 1024, i + 1);
      return { id: `${String(i).padStart(2, '0')}`.padEnd(64, 'a'), sealed: seal(repo.key.encrypt, raw), raw };
    };
    const add = (i: number) => {
      const b = blob(i);
      writer.pending.add(b.id);
      return writer.add(b.id, 'data', b.sealed, b.raw.length, 0);
    };
    // first pack: blobs 0–2 fill it; blob 3 overflows it and starts its upload (held)
    for (let i = 0; i < 3; i++) await add(i);
    await add(3);
    await until(() => held.started.length === 1);
    // blobs 4 and 5 go into the filling pack although the only upload slot is taken
    await add(4);
    await add(5);
    // blob 6 overflows the filling pack: it must wait for the slot (two packs in memory at most)
    let sixth = false;
    const p6 = add(6).then(() => (sixth = true));
    await settle();
    expect(sixth).toBe(false);
    expect(held.started).toHaveLength(1);
    held.releaseAll();
    await p6;
    await until(() => held.started.length === 2);
    held.stopHolding();
    const packs = await writer.finish();
    expect(packs).toHaveLength(3);
    // every blob is in exactly one pack, in order
    const ids = packs.flatMap((p) => repo.packs.get(p)!.map((e) => e.id));
    expect(ids.map((id) => Number(id.slice(0, 2)))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(writer.pending.size).toBe(0);
    // each pack's name is the SHA-256 of its stored bytes (hashed blob by blob as they were added, then the header)
    for (const p of packs) expect(createHash('sha256').update(await backend.get('data', p)).digest('hex')).toBe(p);
  });

  it('names a pack by the SHA-256 of its bytes when one blob is larger than a pack', async () => {
    const { repo, backend } = await setup();
    const writer = repo.newPackWriter(1);
    const big = prng(100 * 1024, 9);
    const sealed = seal(repo.key.encrypt, big);
    writer.pending.add('b'.repeat(64));
    await writer.add('b'.repeat(64), 'data', sealed, big.length, 0);
    writer.pending.add('c'.repeat(64));
    await writer.add('c'.repeat(64), 'data', seal(repo.key.encrypt, prng(1000, 3)), 1000, 0);
    const packs = await writer.finish();
    expect(packs).toHaveLength(2);
    for (const p of packs) expect(createHash('sha256').update(await backend.get('data', p)).digest('hex')).toBe(p);
  });
});

describe('pack writer, streamed (a backend with createTemp: files)', () => {
  let cleanup = () => undefined as void;
  afterEach(() => cleanup());

  async function setup(): Promise<{ repo: Repository; backend: FileBackend }> {
    const t = tempDir('packwriter-stream');
    cleanup = t.cleanup;
    return newRepo(t.dir, { packSize: 64 * 1024 });
  }

  const blob = (repo: Repository, i: number) => {
    const raw = prng(20 * 1024, i + 1);
    return { id: blobId(repo.key, raw), sealed: seal(repo.key.encrypt, raw), raw };
  };

  it('writes each blob to the pack file as it comes: packs named by their SHA-256, blobs where the index says, no temporary file left', async () => {
    const { repo, backend } = await setup();
    const puts: string[] = [];
    const put = backend.put.bind(backend);
    backend.put = async (type, name, data) => (type === 'data' && puts.push(name), put(type, name, data));
    const writer = repo.newPackWriter(1);
    const blobs = Array.from({ length: 10 }, (_, i) => blob(repo, i));
    for (const b of blobs) {
      writer.pending.add(b.id);
      await writer.add(b.id, 'data', b.sealed, b.raw.length, 0);
    }
    const packs = await writer.finish();
    expect(puts).toEqual([]); // streamed, never put whole
    expect(packs.length).toBeGreaterThanOrEqual(3);
    for (const p of packs) expect(createHash('sha256').update(await backend.get('data', p)).digest('hex')).toBe(p);
    for (const b of blobs) expect((await repo.loadBlob(b.id)).equals(b.raw)).toBe(true);
    expect((await backend.list('data')).map((f) => f.name).sort()).toEqual([...packs].sort());
    expect(await backend.listTemporary()).toEqual([]);
  });

  it('writes the blobs that queue while a write is in flight together (one writev), not one syscall each', async () => {
    const { repo, backend } = await setup();
    const create = backend.createTemp.bind(backend);
    const writes: number[] = [];
    backend.createTemp = async (type) => {
      const w = await create(type);
      return { ...w, write: async (parts) => (writes.push(parts.length), w.write(parts)) };
    };
    const writer = repo.newPackWriter(1);
    // 64 small files' blobs handed over at once, as a seal worker's batch is
    const blobs = Array.from({ length: 64 }, (_, i) => {
      const raw = prng(512, i + 100);
      return { id: blobId(repo.key, raw), sealed: seal(repo.key.encrypt, raw), raw };
    });
    await Promise.all(blobs.map((b) => (writer.pending.add(b.id), writer.add(b.id, 'data', b.sealed, b.raw.length, 0))));
    const packs = await writer.finish();
    expect(packs).toHaveLength(1);
    expect(writes.reduce((a, n) => a + n, 0)).toBe(65); // 64 blobs and the header
    expect(writes.length).toBeLessThanOrEqual(3);
    for (const b of blobs) expect((await repo.loadBlob(b.id)).equals(b.raw)).toBe(true);
  });

  it('calls `written` only once a blob is on disk: memory reused from then on (a ByteRing region) never reaches a pack', async () => {
    const { repo, backend } = await setup();
    const create = backend.createTemp.bind(backend);
    // every write waits a few turns, so blobs queue behind the one in flight (where the part count once went wrong)
    backend.createTemp = async (type) => {
      const w = await create(type);
      return { ...w, write: async (parts) => (await settle(), w.write(parts)) };
    };
    const writer = repo.newPackWriter(1);
    const blobs = Array.from({ length: 12 }, (_, i) => blob(repo, i));
    for (const b of blobs) {
      // its own copy, scribbled over the moment the writer says it is written
      const mem = Buffer.from(b.sealed);
      writer.pending.add(b.id);
      await writer.add(b.id, 'data', mem, b.raw.length, 0, () => mem.fill(0xee));
      await new Promise<void>((r) => setImmediate(r));
    }
    const packs = await writer.finish();
    expect(packs.length).toBeGreaterThanOrEqual(3);
    for (const p of packs) expect(createHash('sha256').update(await backend.get('data', p)).digest('hex')).toBe(p);
    for (const b of blobs) expect((await repo.loadBlob(b.id)).equals(b.raw)).toBe(true);
  });

  it('calls `written` for blobs whose write failed or never came, so their memory is not held for good', async () => {
    const { repo, backend } = await setup();
    const create = backend.createTemp.bind(backend);
    backend.createTemp = async (type) => {
      const w = await create(type);
      return { ...w, write: async () => (await settle(), Promise.reject(Object.assign(new Error('no space left'), { code: 'ENOSPC' }))) };
    };
    const writer = repo.newPackWriter(1);
    let calls = 0;
    const tries = Array.from({ length: 3 }, (_, i) => {
      const b = blob(repo, i);
      writer.pending.add(b.id);
      return writer.add(b.id, 'data', b.sealed, b.raw.length, 0, () => calls++).then(() => true, () => false);
    });
    const added = await Promise.all(tries);
    await until(() => calls === added.filter(Boolean).length);
    await expect(writer.finish()).rejects.toThrow('no space left');
    writer.discard();
  });

  it('a failed write fails the writer, and no pack is committed after it: their files are removed', async () => {
    const { repo, backend } = await setup();
    const create = backend.createTemp.bind(backend);
    let writes = 0;
    backend.createTemp = async (type) => {
      const w = await create(type);
      return { ...w, write: async (d) => (++writes === 1 ? Promise.reject(Object.assign(new Error('no space left'), { code: 'ENOSPC' })) : w.write(d)) };
    };
    const writer = repo.newPackWriter(1);
    const run = (async () => {
      for (let i = 0; i < 6; i++) {
        const b = blob(repo, i);
        writer.pending.add(b.id);
        await writer.add(b.id, 'data', b.sealed, b.raw.length, 0);
      }
      return writer.finish();
    })();
    await expect(run).rejects.toThrow('no space left');
    writer.discard();
    await until(() => writes >= 1);
    for (let i = 0; i < 1000 && (await backend.listTemporary()).length; i++) await settle();
    expect(await backend.listTemporary()).toEqual([]);
    expect(await backend.list('data')).toEqual([]);
  });
});
