import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { indexText, readIndexText, scanIndexText } from '../../repository/index-file.ts';
import type { PackEntry } from '../../repository/pack.ts';
import { openRepository } from '../../repository/repo.ts';
import { storageId } from '../../repository/crypto.ts';
import { decodeJSON, encodeJSON } from '../../repository/serialize.ts';
import { newRepo, tempDir } from './helpers.ts';

const hex = (n: number | string): string => createHash('sha256').update(String(n)).digest('hex');
const entry = (n: number, o: Partial<PackEntry> = {}): PackEntry => ({ id: hex(`b${n}`), type: n % 7 === 0 ? 'tree' : 'data', offset: n * 4099, length: 100 + (n % 900), rawLength: 200 + n, comp: n % 3, ...o });

/** `packs` packs of `per` entries each; the body as Repository.writeIndex wrote it before index-file.ts (FORMAT.md "Index"). */
function body(packs: number, per: number, supersedes: string[] = []) {
  const ps = Array.from({ length: packs }, (_, p) => ({ id: hex(`p${p}`), entries: Array.from({ length: per }, (_, k) => entry(p * per + k)) }));
  return {
    ps,
    supersedes,
    json: JSON.stringify({ version: 1, supersedes, packs: ps.map((p) => ({ id: p.id, blobs: p.entries.map((e) => [e.id, e.type === 'tree' ? 1 : 0, e.offset, e.length, e.rawLength, e.comp]) })) }),
  };
}

function text(b: ReturnType<typeof body>, piece?: number): string {
  const byId = new Map(b.ps.map((p) => [p.id, p.entries]));
  return [...indexText(1, b.supersedes, [...byId.keys()], (id) => byId.get(id)!, piece)].join('');
}

function read(json: string): { ok: boolean; packs: [string, PackEntry[]][] } {
  const packs: [string, PackEntry[]][] = [];
  const ok = readIndexText(Buffer.from(json), (pack, entries) => packs.push([pack, entries]));
  return { ok, packs };
}

describe('index file text', () => {
  it.each([
    ['no packs', 0, 0, []],
    ['an empty pack', 1, 0, []],
    ['one pack', 1, 5, []],
    ['many packs, superseding two files', 7, 40, [hex('i1'), hex('i2')]],
  ])('indexText writes JSON.stringify of the body byte for byte (%s), in any piece size', (_, packs, per, sup) => {
    const b = body(packs, per, sup);
    for (const piece of [1, 100, 64 * 1024]) expect(text(b, piece)).toBe(b.json);
  });

  it('asks for a pack’s entries only when its text is due (one pack held at a time, not the whole body)', () => {
    const b = body(50, 30);
    const asked: string[] = [];
    const byId = new Map(b.ps.map((p) => [p.id, p.entries]));
    const gen = indexText(1, [], [...byId.keys()], (id) => (asked.push(id), byId.get(id)!), 4096);
    const perPack = Math.min(...b.ps.map((p) => JSON.stringify({ id: p.id, blobs: p.entries.map((e) => [e.id, 0, e.offset, e.length, e.rawLength, e.comp]) }).length));
    let chars = 0;
    for (const piece of gen) {
      chars += piece.length;
      // the packs asked for so far are the ones whose text has been handed out, and the one being written
      expect(asked.length).toBeLessThanOrEqual(Math.floor(chars / perPack) + 1);
    }
    expect(asked).toEqual([...byId.keys()]);
  });

  it('reads back what JSON.parse reads, one pack per call', () => {
    const b = body(7, 40, [hex('old')]);
    const { ok, packs } = read(b.json);
    expect(ok).toBe(true);
    expect(packs).toEqual(b.ps.map((p) => [p.id, p.entries]));
    expect(read(body(0, 0).json)).toEqual({ ok: true, packs: [] });
    expect(read(body(2, 0).json).packs).toEqual(b.ps.slice(0, 2).map((p) => [p.id, []]));
  });

  // Valid JSON in another shape, or damage: the scanner declines (the caller falls back to JSON.parse, which
  // decides), and nothing of a declined file is handed over. Cases from RFC 8259's grammar (whitespace, escapes,
  // number forms) and from BlobIndex.addPack's own checks (hex ids, 32-bit fields).
  const good = body(3, 4).json;
  const id0 = hex('b0');
  it.each([
    ['whitespace (JSON.stringify with indent)', JSON.stringify(JSON.parse(good), null, 1)],
    ['keys in another order', good.replace('{"version":1,"supersedes":[],', '{"supersedes":[],"version":1,')],
    ['an unknown key', good.replace('"packs":', '"x":0,"packs":')],
    ['an uppercase hex id', good.replace(id0, id0.toUpperCase())],
    ['an escaped character in an id', good.replace(id0, `\\u0030${id0.slice(1)}`)],
    ['an id one character short', good.replace(id0, id0.slice(1))],
    ['a fraction', good.replace(`"${id0}",1,0,`, `"${id0}",1,0.5,`)],
    ['an exponent', good.replace(`"${id0}",1,0,`, `"${id0}",1,1e3,`)],
    ['a leading zero', good.replace(`"${id0}",1,0,`, `"${id0}",1,00,`)],
    ['a negative number', good.replace(`"${id0}",1,0,`, `"${id0}",1,-1,`)],
    ['a field past 2^32 − 1', good.replace(`"${id0}",1,0,`, `"${id0}",1,4294967296,`)],
    ['a type other than 0 or 1', good.replace(`"${id0}",1,`, `"${id0}",2,`)],
    ['a missing field', good.replace(`"${id0}",1,0,`, `"${id0}",1,`)],
    ['truncated after the first pack', good.slice(0, good.indexOf(']]}') + 3)],
    ['trailing bytes', `${good} `],
    ['not JSON', 'index'],
  ])('declines %s and hands over nothing', (_, json) => {
    expect(json).not.toBe(good);
    expect(read(json)).toEqual({ ok: false, packs: [] });
  });

  it('takes 2^32 − 1 in every numeric field (what BlobIndex stores)', () => {
    const max = 0xffffffff;
    const e = entry(1, { offset: max, length: max, rawLength: max, comp: 0 });
    const json = JSON.stringify({ version: 1, supersedes: [], packs: [{ id: hex('p'), blobs: [[e.id, 0, max, max, max, 0]] }] });
    expect(read(json)).toEqual({ ok: true, packs: [[hex('p'), [e]]] });
  });
});

describe('Repository index files', () => {
  let cleanup: () => void = () => undefined;
  afterEach(() => cleanup());

  it.each([
    ['small (raw or q4, as encodeJSON)', 3, 5],
    ['past 256 KiB (streamed through brotli)', 40, 100],
  ])('writeIndex → loadIndex keeps every entry, and the file is the same JSON to a JSON.parse reader (%s)', async (_, packs, per) => {
    const t = tempDir('coffer-index-file-');
    cleanup = t.cleanup;
    const { repo, backend } = await newRepo(t.dir);
    const b = body(packs, per);
    for (const p of b.ps) repo.addPack(p.id, p.entries);
    const name = await repo.writeIndex(b.ps.map((p) => p.id));
    expect(decodeJSON(repo.key.encrypt, await backend.get('index', name), 'index')).toEqual(JSON.parse(b.json));
    const again = await openRepository(backend, 'test-password');
    await again.loadIndex();
    expect(again.indexFiles.get(name)).toEqual(b.ps.map((p) => p.id));
    for (const p of b.ps) expect(again.packs.get(p.id)).toEqual(p.entries);
    expect(again.index.size).toBe(packs * per);
  });

  it('loads an index file in another JSON shape through JSON.parse, as before', async () => {
    const t = tempDir('coffer-index-file-');
    cleanup = t.cleanup;
    const { repo, backend } = await newRepo(t.dir);
    const b = body(3, 20);
    // valid, the same body, keys in another order: the scanner declines it
    const bytes = encodeJSON(repo.key.encrypt, { packs: JSON.parse(b.json).packs, version: 1 });
    await backend.put('index', storageId(bytes), bytes);
    await repo.loadIndex();
    expect(repo.indexFiles.get(storageId(bytes))).toEqual(b.ps.map((p) => p.id));
    for (const p of b.ps) expect(repo.packs.get(p.id)).toEqual(p.entries);
  });

  it('never holds the whole body as one JSON value: the largest JSON.parse/stringify is far below one pack, and packs come one at a time', async () => {
    const t = tempDir('coffer-index-file-');
    cleanup = t.cleanup;
    const { repo, backend } = await newRepo(t.dir);
    const b = body(30, 200);
    for (const p of b.ps) repo.addPack(p.id, p.entries);
    const onePack = b.json.length / 30;
    const parse = vi.spyOn(JSON, 'parse');
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      await repo.writeIndex(b.ps.map((p) => p.id));
      const again = await openRepository(backend, 'test-password');
      parse.mockClear();
      const added = vi.spyOn(again, 'addPack');
      await again.loadIndex();
      expect(added.mock.calls.map(([, entries]) => entries.length)).toEqual(b.ps.map(() => 200));
      expect(Math.max(0, ...parse.mock.calls.map(([text]) => String(text).length))).toBeLessThan(onePack / 10);
      expect(Math.max(0, ...stringify.mock.results.map((r) => (typeof r.value === 'string' ? r.value.length : 0)))).toBeLessThan(onePack / 10);
      expect(again.index.size).toBe(30 * 200);
    } finally {
      parse.mockRestore();
      stringify.mockRestore();
    }
  });
});
