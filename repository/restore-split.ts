import type { BlobOutcome, FileOutcome, RestoreBlob, WholeFile } from './restore-workers.ts';

/** One worker's share of a pack range: its blobs and the whole files it creates, with their places in the range's job. */
export interface RunPart {
  blobs: RestoreBlob[];
  files: WholeFile[];
  /** Index into the range's blobs of each of `blobs`. */
  blobAt: number[];
  /** Index into the range's files of each of `files`. */
  fileAt: number[];
}

/** Ranges are split only when every blob is smaller than this (planReads' LARGE_BLOB: ranges of larger ones are halved there). */
const SMALL_BLOB = 256 * 1024;

/** Parts are cut at a directory change when one lies within this share of the range's blobs of the even cut. */
const DIR_SLACK = 0.25;

const dirOf = (p: string) => p.slice(0, p.lastIndexOf('/'));

/**
 * Split one pack range's job into `n` parts of about equal plaintext, so every restore worker opens and writes
 * part of the same range at once (shared memory: nothing is copied). A range of small files is otherwise one
 * worker's work while the other waits for the next range's read. Parts are contiguous in pack order and cut, when
 * one is near, where the files' directory changes: creates in one directory are serialized by the kernel, so two
 * workers in two directories overlap fully. A whole file goes with the part of its first blob; a blob it shares
 * with a file of another part is opened in both (rare: duplicate content). Ranges of small blobs of whole files
 * (small files) are split so; a range only of blobs written through descriptors (larger files) by `splitBlobs`;
 * mixed ranges, or whole files of large blobs, stay whole. Pure.
 */
export function splitRun(blobs: readonly RestoreBlob[], files: readonly WholeFile[], n: number): RunPart[] {
  if (n > 1 && files.length === 0 && blobs.length > 1) return splitBlobs(blobs, n);
  // a range with large blobs of whole files, or mixing them with blobs written through descriptors, stays whole:
  // splitting all such held both workers' decoded blobs at once (512 MiB mixed, peak RSS 131–137 → 161–177 MiB;
  // with whole files of large blobs still split, 136–138 → 143–144). Ranges only of larger files' blobs split above
  // measured 137–146 → 138–147 MiB (FORMAT.md, "Restore: one large file").
  if (n <= 1 || files.length < 2 || blobs.some((b) => b.targets.length > 0 || b.rawLength >= SMALL_BLOB)) return [{ blobs: [...blobs], files: [...files], blobAt: blobs.map((_, i) => i), fileAt: files.map((_, j) => j) }];
  const total = blobs.reduce((a, b) => a + b.rawLength, 0);
  const dirAt = (i: number) => {
    const f = blobs[i]!.files?.[0];
    return f ? dirOf(files[f[0]]!.final) : undefined;
  };
  // cut[k]: first blob of part k + 1
  const cuts: number[] = [];
  let acc = 0;
  let i = 0;
  for (let k = 1; k < n; k++) {
    const goal = (total * k) / n;
    while (i < blobs.length && acc + blobs[i]!.rawLength / 2 < goal) acc += blobs[i++]!.rawLength;
    let cut = i;
    const slack = Math.floor(blobs.length * DIR_SLACK / n);
    for (let d = 0; d <= slack; d++) {
      const at = [cut - d, cut + d].find((c) => c > (cuts.at(-1) ?? 0) && c < blobs.length && dirAt(c - 1) !== dirAt(c));
      if (at !== undefined) {
        cut = at;
        break;
      }
    }
    cut = Math.min(blobs.length, Math.max(cut, (cuts.at(-1) ?? 0) + 1));
    cuts.push(cut);
  }
  const partOf = (bi: number) => {
    let k = 0;
    while (k < cuts.length && bi >= cuts[k]!) k++;
    return k;
  };
  const fileGroup = new Array<number>(files.length).fill(-1);
  blobs.forEach((b, bi) => {
    for (const [j] of b.files ?? []) if (fileGroup[j] === -1) fileGroup[j] = partOf(bi);
  });
  const parts: RunPart[] = Array.from({ length: n }, () => ({ blobs: [], files: [], blobAt: [], fileAt: [] }));
  const local = new Array<number>(files.length);
  files.forEach((f, j) => {
    const p = parts[fileGroup[j] === -1 ? 0 : fileGroup[j]!]!;
    local[j] = p.files.length;
    p.files.push(f);
    p.fileAt.push(j);
  });
  blobs.forEach((b, bi) => {
    const home = partOf(bi);
    for (let k = 0; k < n; k++) {
      const mine = (b.files ?? []).filter(([j]) => fileGroup[j] === k).map(([j, at]): [number, number] => [local[j]!, at]);
      if (k !== home && mine.length === 0) continue;
      const p = parts[k]!;
      p.blobs.push({ ...b, targets: k === home ? b.targets : [], files: mine.length ? mine : undefined });
      p.blobAt.push(bi);
    }
  });
  return parts.filter((p) => p.blobs.length > 0);
}

/**
 * A range of blobs written through descriptors only (parts of larger files: every range of one large file) cut into
 * `n` contiguous parts of about equal plaintext, so the workers open and write its blobs at once, each at its
 * offsets: a range that arrives is decoded on every core, not on one while the other waits for a slow read (a remote
 * backend). On a local disk two ranges are in flight and it measured neutral (FORMAT.md, "Restore: one large file"). Pure.
 */
function splitBlobs(blobs: readonly RestoreBlob[], n: number): RunPart[] {
  const total = blobs.reduce((a, b) => a + b.rawLength, 0);
  const parts: RunPart[] = Array.from({ length: n }, () => ({ blobs: [], files: [], blobAt: [], fileAt: [] }));
  let acc = 0;
  blobs.forEach((b, bi) => {
    const k = Math.min(n - 1, Math.floor(((acc + b.rawLength / 2) * n) / total));
    acc += b.rawLength;
    parts[k]!.blobs.push(b);
    parts[k]!.blobAt.push(bi);
  });
  return parts.filter((p) => p.blobs.length > 0);
}

/** The range's outcomes from its parts' replies: a blob refused in any part is refused. */
export function joinParts(parts: readonly RunPart[], replies: readonly { results: BlobOutcome[]; files: FileOutcome[] }[], blobs: number, files: number): { results: BlobOutcome[]; files: FileOutcome[] } {
  const results: BlobOutcome[] = new Array<BlobOutcome>(blobs).fill(null);
  const fileResults: FileOutcome[] = new Array<FileOutcome>(files).fill(null);
  parts.forEach((p, k) => {
    const r = replies[k]!;
    p.blobAt.forEach((bi, i) => (results[bi] ??= r.results[i] ?? null));
    p.fileAt.forEach((j, i) => (fileResults[j] = r.files[i] ?? null));
  });
  return { results, files: fileResults };
}
