import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlobIndex } from '../../repository/blob-index.ts';
import type { PackEntry } from '../../repository/pack.ts';

const id = (n: number | string): string => createHash('sha256').update(String(n)).digest('hex');
const entry = (n: number, o: Partial<PackEntry> = {}): PackEntry => ({ id: id(n), type: 'data', offset: n * 10, length: 10, rawLength: 20, comp: 1, ...o });

/** Ids whose first four bytes agree in their low bits probe the same buckets: the collision paths of the hash table. */
function colliding(count: number): string[] {
  const out: string[] = [];
  for (let n = 0; out.length < count; n++) {
    const h = id(`c${n}`);
    if ((Buffer.from(h, 'hex').readUInt32LE(0) & 0xfff) === 0x123) out.push(h);
  }
  return out;
}

describe('BlobIndex', () => {
  it('finds every blob at its first pack, keeps each pack record whole, and round-trips every field', () => {
    const ix = new BlobIndex();
    ix.addPack('p1', [entry(1), entry(2, { type: 'tree', comp: 0, offset: 2 ** 32 - 11, rawLength: 2 ** 32 - 1 })]);
    ix.addPack('p2', [entry(2, { offset: 0 }), entry(3)]);
    expect(ix.size).toBe(3);
    expect(ix.packCount).toBe(2);
    expect(ix.get(id(2))).toEqual({ ...entry(2, { type: 'tree', comp: 0, offset: 2 ** 32 - 11, rawLength: 2 ** 32 - 1 }), pack: 'p1' });
    expect(ix.get(id(3))).toEqual({ ...entry(3), pack: 'p2' });
    expect(ix.packEntries('p2')).toEqual([entry(2, { offset: 0 }), entry(3)]);
    expect(ix.packEntries('p3')).toBeUndefined();
    expect(ix.has(id(4))).toBe(false);
    expect(new Map(ix).size).toBe(3);
    expect([...ix.values()].map((l) => l.pack).sort()).toEqual(['p1', 'p1', 'p2']);
  });

  it.each([
    ['too short', 'abc'],
    ['not hex', 'z'.repeat(64)],
    ['empty', ''],
  ])('a malformed id (%s) is never found, and refused in a pack', (_, bad) => {
    const ix = new BlobIndex();
    ix.addPack('p', [entry(1)]);
    expect(ix.has(bad)).toBe(false);
    expect(ix.get(bad)).toBeUndefined();
    expect(ix.delete(bad)).toBe(false);
    expect(() => ix.addPack('q', [entry(2), { ...entry(3), id: bad }])).toThrow(/not 64 hex digits/);
    // nothing of the refused pack is recorded
    expect(ix.has(id(2))).toBe(false);
    expect(ix.hasPack('q')).toBe(false);
  });

  it('a refused pack leaves no trace in the slots it was decoded into: the next pack takes them, every record intact', () => {
    // addPack decodes each id straight into the slot it would take (one hex decode per id); a refusal must undo nothing
    const ix = new BlobIndex();
    ix.addPack('p', [entry(1), entry(2)]);
    expect(() => ix.addPack('q', [entry(3), entry(4), { ...entry(5), id: 'f'.repeat(63) + 'z' }])).toThrow(/not 64 hex digits/);
    expect(() => ix.addPack('q', [entry(3), entry(4, { comp: 128 })])).toThrow(/out of range/);
    ix.addPack('r', [entry(6), entry(6, { offset: 1 }), entry(1, { offset: 2 })]);
    for (const n of [3, 4, 5]) expect(ix.has(id(n))).toBe(false);
    expect(ix.get(id(6))).toEqual({ ...entry(6), pack: 'r' }); // an id twice in one pack stays at its first entry
    expect(ix.get(id(1))?.pack).toBe('p');
    expect(ix.packEntries('p')).toEqual([entry(1), entry(2)]);
    expect(ix.packEntries('r')).toEqual([entry(6), entry(6, { offset: 1 }), entry(1, { offset: 2 })]);
    expect(ix.size).toBe(3);
    expect(ix.hasPack('q')).toBe(false);
  });

  it('refuses an entry out of range (the index file is damaged) and keeps nothing of its pack', () => {
    const ix = new BlobIndex();
    expect(() => ix.addPack('q', [entry(1), entry(2, { offset: 2 ** 32 })])).toThrow(/out of range/);
    expect(() => ix.addPack('q', [entry(1, { length: Number.NaN })])).toThrow(/out of range/);
    expect(() => ix.addPack('q', [entry(1, { rawLength: -1 })])).toThrow(/out of range/);
    expect(ix.size).toBe(0);
    expect(ix.packCount).toBe(0);
  });

  it('delete within a run of colliding ids leaves every other id findable; re-adding finds the new pack', () => {
    const ids = colliding(40);
    const ix = new BlobIndex();
    ix.addPack('old', ids.map((h, i) => ({ ...entry(i), id: h })));
    for (const h of ids.filter((_, i) => i % 3 === 0)) expect(ix.delete(h)).toBe(true);
    for (const [i, h] of ids.entries()) expect(ix.has(h)).toBe(i % 3 !== 0);
    expect(ix.delete(ids[0]!)).toBe(false);
    expect(ix.size).toBe(ids.length - 14);
    ix.addPack('new', [{ ...entry(0), id: ids[0]! }]);
    expect(ix.get(ids[0]!)?.pack).toBe('new');
    expect(ix.get(ids[1]!)?.pack).toBe('old');
    expect(ix.packEntries('old')).toHaveLength(40);
  });

  it('grows past its first capacity and clears', () => {
    const ix = new BlobIndex();
    for (let p = 0; p < 30; p++) ix.addPack(`p${p}`, Array.from({ length: 100 }, (_, i) => entry(p * 100 + i)));
    expect(ix.size).toBe(3000);
    for (let n = 0; n < 3000; n += 7) expect(ix.get(id(n))?.pack).toBe(`p${Math.floor(n / 100)}`);
    ix.clear();
    expect(ix.size).toBe(0);
    expect(ix.has(id(1))).toBe(false);
  });
});
