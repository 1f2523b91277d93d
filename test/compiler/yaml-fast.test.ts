/**
 * The fast path of policy parsing (compiler/load/yaml-fast.ts, js-yaml) against the `yaml` library alone: whenever the
 * fast path takes a file, the `yaml` library must read the same documents from it, in the same order and key order,
 * with no diagnostic at all, and the document positions looked up later must be the ones the `yaml` parse gives.
 * Inputs: every YAML file of the repository and seeded mutants of them (a character or a YAML token inserted,
 * characters deleted, a line duplicated or re-indented), ~5,000 texts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canonical, mutate as mutateWith, random } from '../yaml-mutants.ts';
import { locate, parseSourceFile } from '../../compiler/load/yaml.ts';
import { fastDocuments } from '../../compiler/load/yaml-fast.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FILES = execFileSync('git', ['ls-files', '*.yaml', '*.yml'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
const TOKENS = [
  ' ', '\t', ':', ': ', '- ', '#', ' #', '"', "'", '[', ']', '{', '}', ',', '&a ', '*a', '&a\n', '*a\n', '!!str ', '!!int ',
  '!!float ', '!!null ', '!!bool ', '!!binary ', '!!timestamp ', '!x ', '! ', '|', '|-', '|+', '>', '>-', '?', '? ', '%YAML 1.1\n',
  '%TAG ! tag:x,2000:\n', '@', '`', '\n', '---\n', '--- ', '...\n', '\\', '\\n', '~', 'null', 'Null: ', '~: ', '0x1F', '0o7', '0b1',
  '1_000', '1e3', '.inf', '-.Inf', '.NaN', 'True', 'yes', 'on', '<<: ', '\r\n', '\r', '\u00a0', '\ufeff', '"\\u00e9"', "''", '""',
  '0', '-', '.', 'a: b: c', '{a: 1}: ', '[x]: ', '[x, y]', '{a: 1, a: 2}', '__proto__: ', '012', '+1', '1.', '.5', '2001-12-14',
  '"\\x41"', '"\\/"', '"\\ "', '"\\q"', "'it''s'", '"a\n  b"', "'a\n\n  b'", '|2', '>-\n', '|+\n', '  # c\n', 'k: v # c\n',
  'a\n  b', '[a,\n  b]', '{a: 1,\n  b: 2}', '- [', 'k: |\n', 'k: >\n  x\n\n  y\n', '\n\n', '   ', 'é', '\u2028', '\u0085',
];

const mutate = (text: string, rnd: () => number): string => mutateWith(text, rnd, TOKENS);

function check(path: string, text: string): boolean {
  const fast = fastDocuments(text);
  if (!fast) return false;
  const bytes = new TextEncoder().encode(text);
  const slow = parseSourceFile({ path, bytes }, { fast: false });
  expect(slow.diagnostics, `${path}: the yaml library reports what the fast path took\n${text}`).toEqual([]);
  expect(canonical(slow.documents.map((d) => d.value)), `${path}: values differ\n${text}`).toBe(canonical(fast));
  const taken = parseSourceFile({ path, bytes });
  expect(taken.documents.map((d) => [d.index, locate(d, [])]), `${path}: positions differ\n${text}`).toEqual(slow.documents.map((d) => [d.index, locate(d, [])]));
  return true;
}

describe('the fast YAML path reads what the yaml library reads', () => {
  it('on every YAML file of the repository', () => {
    let taken = 0;
    for (const f of FILES) if (check(f, readFileSync(`${ROOT}/${f}`, 'utf8'))) taken++;
    // The example repository and the sandbox manifests are plain YAML: nearly all must take the fast path.
    expect(taken).toBeGreaterThan(FILES.length * 0.8);
  });

  it('on seeded mutants of them', () => {
    const rnd = random(15);
    let taken = 0;
    let total = 0;
    for (const f of FILES) {
      const original = readFileSync(`${ROOT}/${f}`, 'utf8');
      for (let i = 0; i < 40; i++) {
        let text = original;
        for (let k = 1 + Math.floor(rnd() * 2); k > 0; k--) text = mutate(text, rnd);
        total++;
        if (check(`${f}#${i}`, text)) taken++;
      }
    }
    // Most mutants stay valid YAML: the comparison must have exercised the fast path, not only its refusals.
    expect(taken).toBeGreaterThan(total * 0.3);
  }, 120_000);

  it('refuses what only the yaml library reads right', () => {
    const table: [text: string, why: string][] = [
      ['%YAML 1.1\n---\na: yes\n', 'a directive (YAML 1.1 reads yes as true)'],
      ['a: &x [1]\nb: *x\n', 'an alias (yaml limits alias expansion)'],
      ['a: &x\n  k: 1\n', 'an anchor on a block mapping'],
      ['~: 1\n', 'a null key ("" in yaml)'],
      ['? [a, b]\n: 1\n', 'an explicit collection key'],
      ['[a, b]: 1\n', 'a flow collection as a key'],
      ['a: [\n  1\n]\n', 'a flow collection closed at the start of a line (yaml warns)'],
      [`${'k'.repeat(1100)}: 1\n`, 'a key over 1,024 characters (an error in yaml)'],
      ['a: !!binary aGk=\n', 'a tag outside the core schema'],
      ['a: !local x\n', 'a local tag'],
      ['a: 1\na: 2\n', 'a duplicate key'],
      ['a: 1\n---   b: 2\n', 'a mapping on the --- line (an error in yaml)'],
      ['x:\n    - #c\n-  a: 1\n', 'an empty sequence entry followed by a less indented one (an error in yaml)'],
      ["a: 'x'#c\n", 'a comment glued to a quoted scalar (an error in yaml)'],
      ['a: |\n  x\n\t\n', 'a tab on a block scalar line (an error in yaml)'],
      ['a: 1\n---\n', 'an empty document'],
      ['- a\n', 'a document that is not a mapping'],
      ['# only a comment\n', 'no document'],
    ];
    for (const [text, why] of table) expect(fastDocuments(text), why).toBeUndefined();
  });

  it('reads scalars as the YAML 1.2 core schema does', () => {
    // https://yaml.org/spec/1.2.2/#1032-tag-resolution
    const text = 'a: 0o17\nb: 0x1F\nc: 1e3\nd: .inf\ne: -.Inf\nf: .NaN\ng: 1_000\nh: 0b1\ni: True\nj: yes\nk: ~\nl:\nm: 012\nn: +12\no: 1.\np: .5\nq: !!str 12\nr: ! 12\ns: !!int "7"\n';
    expect(canonical(fastDocuments(text))).toBe(canonical([{ a: 15, b: 31, c: 1000, d: Infinity, e: -Infinity, f: NaN, g: '1_000', h: '0b1', i: true, j: 'yes', k: null, l: null, m: 12, n: 12, o: 1, p: 0.5, q: '12', r: '12', s: 7 }]));
    check('scalars.yaml', text);
  });
});
