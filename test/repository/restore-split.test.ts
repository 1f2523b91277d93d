import { describe, expect, it } from 'vitest';
import { joinParts, splitRun } from '../../repository/restore-split.ts';
import type { RestoreBlob, WholeFile } from '../../repository/restore-workers.ts';

const file = (final: string, blobs = 1): WholeFile => ({ blobs, final, size: 1, mode: 0o644, chown: false, direct: true, uid: 0, gid: 0, mtime: 0 });
const blob = (id: string, rawLength: number, files?: [number, number][], targets: [number, number][] = []): RestoreBlob => ({ id, at: 0, length: rawLength, rawLength, comp: 0, targets, files });

/** Every file and every blob use exactly as in the unsplit job, mapped back through blobAt / fileAt. */
function uses(parts: ReturnType<typeof splitRun>): { files: number[]; blobFiles: string[]; fdTargets: string[] } {
  const files: number[] = [];
  const blobFiles: string[] = [];
  const fdTargets: string[] = [];
  for (const p of parts) {
    files.push(...p.fileAt);
    p.blobs.forEach((b, i) => {
      for (const [j, at] of b.files ?? []) blobFiles.push(`${p.blobAt[i]}:${p.fileAt[j]}@${at}`);
      for (const [fd, at] of b.targets) fdTargets.push(`${p.blobAt[i]}:fd${fd}@${at}`);
    });
  }
  return { files: files.sort((a, b) => a - b), blobFiles: blobFiles.sort(), fdTargets: fdTargets.sort() };
}

describe('splitRun: one pack range shared by the restore workers', () => {
  it('cuts at the directory change nearest the even cut, every use kept once', () => {
    // 10 one-blob files: 4 in /a, 6 in /b; the even cut (5) moves to the /a → /b change (4), one blob away
    const files = [...Array(4).fill('a'), ...Array(6).fill('b')].map((d, i) => file(`/t/${d}/f${i}`));
    const blobs = files.map((_, i) => blob(`b${i}`, 100, [[i, 0]]));
    const parts = splitRun(blobs, files, 2);
    expect(parts.map((p) => p.fileAt)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7, 8, 9]]);
    expect(parts.map((p) => p.blobAt)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7, 8, 9]]);
    // two blobs away is beyond a quarter of a part: the even cut stays
    const far = [...Array(3).fill('a'), ...Array(7).fill('b')].map((d, i) => file(`/t/${d}/f${i}`));
    expect(splitRun(blobs, far, 2).map((p) => p.fileAt.length)).toEqual([5, 5]);
    expect(uses(parts)).toEqual(uses([{ blobs, files, blobAt: blobs.map((_, i) => i), fileAt: files.map((_, j) => j) }]));
  });

  it('cuts evenly by plaintext when no directory change is near', () => {
    const files = Array.from({ length: 20 }, (_, i) => file(`/t/one/f${i}`));
    const blobs = files.map((_, i) => blob(`b${i}`, i < 10 ? 300 : 100, [[i, 0]]));
    const parts = splitRun(blobs, files, 2);
    // 3000 + 1000 bytes: half is 2000, reached after 7 blobs of 300 (rounded at the blob's middle)
    expect(parts.map((p) => p.blobAt.length)).toEqual([7, 13]);
  });

  it('keeps a file whose blobs straddle the cut in one part, opening the shared blob in both', () => {
    const files = [file('/t/a/x', 2), file('/t/b/y'), file('/t/b/z')];
    // blob 1 belongs to x (offset 100) and to y (a duplicate): x goes with its first blob, y with its own part
    const blobs = [blob('b0', 100, [[0, 0]]), blob('b1', 100, [[0, 100], [1, 0]]), blob('b2', 100, [[2, 0]])];
    const parts = splitRun(blobs, files, 2);
    expect(parts.map((p) => p.fileAt)).toEqual([[0], [1, 2]]);
    expect(parts.map((p) => p.blobAt)).toEqual([[0, 1], [1, 2]]);
    expect(uses(parts)).toEqual(uses([{ blobs, files, blobAt: [0, 1, 2], fileAt: [0, 1, 2] }]));
    // a file's blob count is unchanged wherever it goes (the worker creates one-blob files under their final name)
    expect(parts[0]!.files[0]!.blobs).toBe(2);
  });

  it('does not split a range with blobs written through descriptors (larger files) or blobs of 256 KiB or more', () => {
    const blobs = [blob('b0', 1000, undefined, [[7, 0]]), blob('b2', 10, [[0, 0]]), blob('b3', 10, [[1, 0]])];
    expect(splitRun(blobs, [file('/t/a/x'), file('/t/b/y')], 2)).toHaveLength(1);
    const large = [blob('b0', 256 * 1024, [[0, 0]]), blob('b1', 10, [[1, 0]])];
    expect(splitRun(large, [file('/t/a/x'), file('/t/b/y')], 2)).toHaveLength(1);
    expect(splitRun([blob('b0', 256 * 1024 - 1, [[0, 0]]), large[1]!], [file('/t/a/x'), file('/t/b/y')], 2)).toHaveLength(2);
  });

  it('cuts a range of one larger file\'s blobs (written through descriptors) into contiguous parts of equal plaintext', () => {
    // one large file: every blob goes to fd 7 at its offset; no file is created by the workers
    const sizes = [1000, 1000, 1000, 500, 500, 2000];
    const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const blobs = sizes.map((n, i) => blob(`b${i}`, n, undefined, [[7, offsets[i]!]]));
    const parts = splitRun(blobs, [], 2);
    // 6000 bytes: the cut at 3000, taken at each blob's middle (b3 ends at 3500, its middle 3250 is past the cut)
    expect(parts.map((p) => p.blobAt)).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(parts.map((p) => p.files)).toEqual([[], []]);
    expect(uses(parts)).toEqual(uses([{ blobs, files: [], blobAt: blobs.map((_, i) => i), fileAt: [] }]));
    // a blob that appears twice in the file (zeros of a sparse file) keeps both targets in its part
    const twice = [blob('z', 4000, undefined, [[7, 0], [7, 8000]]), blob('d', 4000, undefined, [[7, 4000]])];
    expect(splitRun(twice, [], 2).map((p) => p.blobs.map((b) => b.targets))).toEqual([[[[7, 0], [7, 8000]]], [[[7, 4000]]]]);
    // more workers than blobs: one blob each, no empty part
    expect(splitRun(blobs.slice(0, 2), [], 4).map((p) => p.blobAt)).toEqual([[0], [1]]);
    expect(splitRun([blobs[0]!], [], 2)).toHaveLength(1);
  });

  it('does not split for one worker or one blob', () => {
    const files = [file('/t/a/x'), file('/t/b/y')];
    const blobs = [blob('b0', 10, [[0, 0]]), blob('b1', 10, [[1, 0]])];
    expect(splitRun(blobs, files, 1)).toHaveLength(1);
    expect(splitRun([blobs[0]!], [files[0]!], 2)).toHaveLength(1);
  });

  it('joins the parts\' replies: a blob refused in any part is refused, files keep their outcomes', () => {
    const files = [file('/t/a/x', 2), file('/t/b/y'), file('/t/b/z')];
    const blobs = [blob('b0', 100, [[0, 0]]), blob('b1', 100, [[0, 100], [1, 0]]), blob('b2', 100, [[2, 0]])];
    const parts = splitRun(blobs, files, 2);
    const joined = joinParts(parts, [{ results: [null, null], files: [null] }, { results: [{ message: 'bad' }, null], files: ['bad', null] }], 3, 3);
    expect(joined).toEqual({ results: [null, { message: 'bad' }, null], files: [null, 'bad', null] });
  });
});
