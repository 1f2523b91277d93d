/**
 * The fast reader of catalog documents (reconciler/catalog/plain-yaml.ts) against both YAML libraries: whenever it
 * returns a document, js-yaml's core schema (what `parseDocument` used alone before) and the `yaml` library (Coffer's
 * writer) must read the same value from the text, key order included. Inputs: documents written by `documentText`
 * (restore points, runs and latest-run pointers as Coffer and the bench write them, plus fields holding the strings
 * that make the writer quote, fold or escape) and seeded mutants of them, ~6,000 texts.
 */
import jsyaml from 'js-yaml';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { canonical, mutate as mutateWith, random } from '../yaml-mutants.ts';
import { documentText } from '../../reconciler/catalog/document.ts';
import { plainDocument, plainListItem } from '../../reconciler/catalog/plain-yaml.ts';
import { toLastRun } from '../../reconciler/catalog/index.ts';
import { backupRun, restorePoint, slot } from '../bench/catalog-data.ts';
import { backup, failedRun } from './catalog-fixtures.ts';

const start = new Date('2026-11-20T01:00:00Z');
const { run, rp } = backup({ namespace: 'shop', policy: 'daily', start, volumes: 2, bytes: 4096 });
/** Strings the writer has to quote, escape, fold or reject as plain (error messages, labels, names). */
const AWKWARD = [
  'mover job data-0 failed: exit code 3',
  'line one\nline two',
  'trailing space ',
  ' leading space',
  '# not a comment',
  'a #b',
  "it's",
  'say "hi"',
  'tab\there',
  'x'.repeat(120),
  'word '.repeat(30).trim(),
  'true',
  'null',
  '123',
  '0x1F',
  '1e3',
  '2026-11-20',
  'é unicode ✓',
  '- dash',
  '[x]',
  '{a: 1}',
  '',
  '~',
  'yes',
  'a: b',
  'back\\slash',
  '\u2028',
  '😀',
];
const DOCS: unknown[] = [
  rp,
  run,
  failedRun({ namespace: 'shop', policy: 'daily', start, error: 'mover job data-0 failed: exit code 3\nstderr: permission denied' }),
  toLastRun(run, undefined),
  restorePoint(slot(12345, 500)),
  backupRun(slot(7, 500), restorePoint(slot(7, 500))),
  { ...rp, spec: { ...rp.spec, pinned: true, expires: '2026-12-01T00:00:00.000Z', trigger: 'manual', retentionTiers: [], volumes: [] } },
  { ...rp, metadata: { ...rp.metadata, annotations: { 'coffer.dev/note': 'weekly: keep' } } },
  ...AWKWARD.map((s, i) => ({ ...rp, metadata: { ...rp.metadata, labels: { ...rp.metadata.labels, 'example.com/x': s } }, spec: { ...rp.spec, error: s, count: i, names: [s, 'plain'] } })),
];
const TEXTS = DOCS.map((d) => documentText(d));

const TOKENS = [
  ' ', '\t', ':', ': ', '- ', '#', ' #', '"', "'", '[', ']', '{', '}', ',', '&a ', '*a', '!!str ', '!!int ', '!x ', '|', '|-', '>',
  '? ', '%YAML 1.1\n', '\n', '---\n', '...\n', '\\', '\\n', '\\u00e9', '\\x41', '~', 'null', 'Null', 'True', 'yes', '0x1F', '0o7',
  '1_000', '1e3', '.inf', '.NaN', '012', '+1', '-1', '-0', '1.', '.5', '2001-12-14', '<<: ', '\r\n', '\r', '\u00a0', '\ufeff', '\u2028',
  '\u0085', "''", '""', '__proto__: ', 'null: ', 'true: ', '1: ', 'k: v # c', '  ', '0', '9007199254740993', '1Gi', '1.5Mi', 'é',
];

const mutate = (text: string, rnd: () => number): string => mutateWith(text, rnd, TOKENS);

function references(text: string): { jsyaml?: string; yaml?: string } {
  const out: { jsyaml?: string; yaml?: string } = {};
  try {
    out.jsyaml = canonical(jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA }));
  } catch {
    /* refused */
  }
  try {
    const doc = YAML.parseDocument(text);
    if (doc.errors.length === 0 && doc.warnings.length === 0) out.yaml = canonical(doc.toJS());
  } catch {
    /* refused */
  }
  return out;
}

/** When the emitter answers, it printed what `yaml.stringify([doc])` prints; returns whether it answered. */
function checkItem(label: string, doc: unknown): boolean {
  const fast = plainListItem(doc);
  if (fast === undefined) return false;
  expect({ label, got: fast }).toEqual({ label, got: YAML.stringify([doc]) });
  return true;
}

/** When the fast reader answers, both libraries read exactly that (and the emitter prints it as `yaml` does). */
function check(label: string, text: string): boolean {
  const fast = plainDocument(text);
  if (fast === undefined) return false;
  checkItem(label, fast);
  const ref = references(text);
  expect({ label, text, got: canonical(fast) }).toEqual({ label, text, got: ref.jsyaml });
  expect({ label, text, got: canonical(fast) }).toEqual({ label, text, got: ref.yaml });
  return true;
}

describe('the fast reader of catalog documents', () => {
  it('reads what Coffer writes for restore points, runs and pointers, as both YAML libraries do', () => {
    // Every document of the shapes the catalog holds in bulk takes the fast path; a multi-line error (a block scalar,
    // doc 2) and awkward strings may go to js-yaml.
    for (const [i, t] of TEXTS.entries()) {
      const answered = check(`doc ${i}`, t);
      if (i < 8 && i !== 2) expect({ i, answered }).toEqual({ i, answered: true });
    }
    expect(TEXTS.filter((t) => plainDocument(t) !== undefined).length).toBeGreaterThan(20);
  });

  it('prints a list item as the yaml library does, for the documents it takes (-o yaml)', () => {
    let answered = 0;
    for (const [i, d] of DOCS.entries()) if (checkItem(`doc ${i}`, d)) answered++;
    // The bulk shapes (restore points, runs, pointers) take the fast path; quoted (doc 7), folded or odd strings do not.
    for (const i of [0, 1, 3, 4, 5, 6]) expect({ i, answered: plainListItem(DOCS[i]) !== undefined }).toEqual({ i, answered: true });
    expect(answered).toBeGreaterThanOrEqual(7);
    // Values the writer would quote, fold, anchor or nest in ways the emitter does not print: left to the library.
    const rp0 = DOCS[0] as Record<string, unknown>;
    for (const odd of ['', ' x', 'x ', 'a: b', '123', 'true', 'yes', '0x1F', '- x', 'it\'s "q"', 'long '.repeat(20), 1.5, -0, 2 ** 60, [[1]], undefined]) {
      const doc = { ...rp0, odd };
      const got = plainListItem(doc);
      if (got !== undefined) expect({ odd, got }).toEqual({ odd, got: YAML.stringify([doc]) });
    }
    for (const odd of ['', 'a: b', '123', 'true', 1.5, [[1]]]) expect({ odd, got: plainListItem({ odd }) }).toEqual({ odd, got: undefined });
  });

  it('answers a mutant only with what both libraries read from it (6,000 seeded mutants)', () => {
    const rnd = random(16);
    let answered = 0;
    let total = 0;
    for (let n = 0; n < 6000; n++) {
      let text = TEXTS[n % TEXTS.length]!;
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) text = mutate(text, rnd);
      total++;
      if (check(`mutant ${n}`, text)) answered++;
    }
    // Most mutants leave the shape (the libraries read them); enough stay inside for the comparison to mean something.
    expect(answered).toBeGreaterThan(total / 10);
  });

  it('leaves every text outside the shape to js-yaml', () => {
    for (const t of ['', 'a: 1\n\nb: 2\n', '# c\na: 1\n', 'a: &x 1\nb: *x\n', 'a: |\n  x\n', 'a:\n- 1\n', 'a: 1\na: 2\n', 'a: [1, 2]\n', 'a: "x\n  y"\n', '- 1\n', 'a: 0x1F\n', 'a: 1.5\n', 'a: -1\n', 'null: 1\n', 'a:\n']) {
      expect({ t, got: plainDocument(t) }).toEqual({ t, got: undefined });
    }
    expect(plainDocument('a: "q\\"\\u00e9\\n"\nb: \'it\'\'s\'\nc: []\nd: {}\ne: null\nf: true\ng: 42\nh: 1Gi\n')).toStrictEqual({ a: 'q"é\n', b: "it's", c: [], d: {}, e: null, f: true, g: 42, h: '1Gi' });
  });
});
