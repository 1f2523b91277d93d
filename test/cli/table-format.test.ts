import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatTable } from '../../reconciler/catalog/open.ts';
import { formatBytes } from '../../reconciler/catalog/messages.ts';
import { short } from '../../cli/output/resources.ts';
import { writeTable } from '../../cli/output/printer.ts';
import { RowStore } from '../../cli/output/row-store.ts';
import type { CliIO } from '../../cli/io.ts';
import { mulberry32 } from '../prng.ts';

// The table's fast paths against what they replace: Number#toFixed, the regular expression `short` used, and the
// table as one string. Cases: the shapes Coffer writes, their edges, and
// seeded random ones.

const rand = mulberry32(16);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

describe('formatBytes prints what toFixed(1) printed', () => {
  const reference = (n: number): string => {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
  };
  const edges: number[] = [0, 1, 1023, 1024, 1075, 1076, 1126, 1127, 1024 * 1024 - 1, 1024 * 1024, 1024 ** 3, 1024 ** 4 - 1, 1024 ** 5, 1024 ** 6 * 3, 2 ** 53 - 1, 2 ** 53, 1.5, -5, 0.5 * 1024 ** 2 + 51 * 1024 ** 2 / 1024];
  for (let u = 1; u <= 5; u++) for (let t = 0; t < 10; t++) edges.push(Math.round((t + 0.5) * 1024 ** u / 10), Math.round((t + 0.5) * 1024 ** u / 10) - 1);
  it.each(edges)('%d', (n) => expect(formatBytes(n)).toBe(reference(n)));

  it('on 50,000 random sizes of every magnitude', () => {
    for (let k = 0; k < 50_000; k++) {
      const n = Math.floor(rand() * 1024 ** (1 + (k % 5)) * 1.5);
      expect(formatBytes(n), String(n)).toBe(reference(n));
    }
  });
});

describe('short cuts what /\\.\\d+Z$/ cut', () => {
  const cases = ['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00.Z', '.5Z', '5Z', 'Z', '.Z', 'a.123Z', '2026-01-01T00:00:00.123', '1.2.3Z', '', 'x'];
  it.each(cases)('%j', (t) => expect(short(t)).toBe(t ? t.replace(/\.\d+Z$/, 'Z') : '-'));
  it('undefined is "-"', () => expect(short(undefined)).toBe('-'));
});

describe('writeTable prints formatTable\'s table a chunk at a time', () => {
  async function written(headers: string[], rows: string[][]): Promise<string> {
    const stdout = new PassThrough({ highWaterMark: 1024 });
    let out = '';
    // A slow reader: the writer must wait for 'drain', and still print every line once, in order.
    stdout.on('data', (d: Buffer) => {
      stdout.pause();
      out += d.toString();
      setImmediate(() => stdout.resume());
    });
    const io = { stdout, stderr: new PassThrough(), env: {}, cwd: '/' } as CliIO;
    await writeTable(io, headers, rows, (r) => r);
    await new Promise<void>((r) => setImmediate(r));
    stdout.end();
    await new Promise<void>((r) => stdout.on('end', () => r()));
    return out;
  }

  it('with empty, blank-ended and non-ASCII last cells (trailing blanks cut as trimEnd cuts them)', async () => {
    const headers = ['NAME', 'SIZE', 'RESULT'];
    const rows = [['a', '1', ''], ['bbb', '', ''], ['c', '22', 'ok '], ['d', '3', 'tab\t'], ['é', '4', 'nbsp\u00a0'], ['f', '5', 'ideographic\u3000'], ['g', '6', 'ünï'], ['', '', '']];
    expect(await written(headers, rows)).toBe(formatTable(headers, rows));
    expect(formatTable(headers, rows).split('\n')).toEqual([
      'NAME   SIZE   RESULT', 'a      1', 'bbb', 'c      22     ok', 'd      3      tab', 'é      4      nbsp', 'f      5      ideographic', 'g      6      ünï', '', '',
    ]);
  });

  it('on 20,000 random rows (several chunks, back-pressure)', async () => {
    const words = ['', ' ', 'x', 'shop', 'policy-0-20260101-000000', '1.0 GiB', 'Succeeded', 'trailing ', '\u00a0', 'ünï'];
    const rows = Array.from({ length: 20_000 }, () => Array.from({ length: 5 }, () => pick(words)));
    const headers = ['A', 'B', 'C', 'D', 'E'];
    expect(await written(headers, rows)).toBe(formatTable(headers, rows));
  });
});

describe('RowStore gives back the rows it was given', () => {
  it('on 10,000 random rows past its first growth (empty, long and non-ASCII cells)', () => {
    const words = ['', 'x', 'policy-0-20260101-000000', 'ünï', '\u0000', 'a much longer cell than the others, to be sure'];
    const rows = Array.from({ length: 10_000 }, () => Array.from({ length: 12 }, () => pick(words)));
    const store = new RowStore(12);
    for (const r of rows) store.push(r);
    expect(store.size).toBe(rows.length);
    expect([...store.rows()]).toEqual(rows);
  });

  it('refuses a row of another width', () => {
    expect(() => new RowStore(3).push(['a', 'b'])).toThrow(/2 cells, want 3/);
  });
});
