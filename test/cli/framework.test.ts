/**
 * The dispatcher's behaviour a user meets first: help, "did you mean" for verbs, types and flags (kubectl's wording,
 * cobra's suggestion layout), flag errors that name the verb, and the completion scripts (bash checked against a
 * golden file and by running bash itself on it).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { capture } from '../cli-capture.ts';


async function coffer(...argv: string[]) {
  const c = capture();
  const code = await main(argv, c.io);
  return { code, out: c.out(), err: c.err() };
}

describe('help and suggestions', () => {
  it('bare coffer prints aligned help and exits 0; aliases are not listed', async () => {
    const r = await coffer();
    expect(r.code).toBe(0);
    const lines = r.out.split('\n').filter((l) => /^ {2}\S/.test(l));
    const column = new Set(lines.map((l) => l.search(/\S/g) && l.slice(2).search(/ {2}\S/) + 4));
    expect(column.size).toBe(1); // every summary starts in the same column
    expect(r.out).toMatch(/\n {2}get +List restore points, runs, restores or policies\n/);
    expect(r.out).not.toMatch(/\n {2}restorepoints /);
  });

  it.each([
    [['--version'], /^coffer \d+\.\d+\.\d+\n$/],
    [['version'], /^coffer \d+\.\d+\.\d+\n$/],
    [['help', 'get'], /^List what Coffer knows, like kubectl get\.\n/],
    [['help'], /^Usage: coffer COMMAND \[flags\]\n/],
    [['-h'], /\n {2}help \[command\] +print a command's help\n/],
  ])('coffer %j prints to stdout and exits 0', async (argv, out) => {
    const r = await coffer(...argv);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(out);
  });

  it('hands the verb its words exactly as typed, a leading -- included', async () => {
    const r = await coffer('explain', '--', '--policy');
    expect(r.err).toContain('unknown kind "--policy"'); // after `--` it is a positional (a kind), not a flag
    expect(r.err).not.toContain('unknown flag');
  });

  it.each([
    [['--bogus'], 'error: unknown flag --bogus for "coffer"\n\nRun \'coffer --help\' for usage.\n'],
    [['valdate'], 'error: unknown command "valdate" for "coffer"\n\nDid you mean this?\n\tvalidate\n'],
    [['restorpoints'], 'Did you mean this?\n\trestorepoints\n'],
    [['xyzzy'], 'error: unknown command "xyzzy" for "coffer"\n\nRun \'coffer --help\' for usage.\n'],
    [['validate', '--quite'], 'error: unknown flag --quite for "coffer validate"; did you mean --quiet?\n'],
    [['get', 'runs', '--namspace', 'shop'], 'error: unknown flag --namspace for "coffer get"; did you mean --namespace?\n'],
    [['explain', '-x'], 'error: unknown flag -x for "coffer explain"; see coffer explain --help\n'],
    [['runs', '-n'], 'error: flag --namespace for "coffer runs" needs a value; see coffer runs --help\n'],
    [['validate', '--quiet=yes'], 'error: flag --quiet for "coffer validate" takes no value; see coffer validate --help\n'],
    [['get', 'restorpoints'], 'error: unknown type "restorpoints" for "coffer get"; did you mean restorepoints? (restorepoints, runs, restores, policies)\n'],
    [['get', 'runs', '-o', 'xml'], 'error: --output "xml": expected table, wide, json, yaml or name\n'],
    [['completion', 'powershell'], 'error: coffer completion takes one shell: bash, zsh or fish (got "powershell")\n'],
  ])('coffer %j', async (argv, message) => {
    const r = await coffer(...argv);
    expect(r.code).toBe(1);
    expect(r.err).toContain(message);
    expect(r.err).not.toMatch(/To specify a positional argument|at .*\.ts:\d+/); // never Node's parser text or a stack
  });
});

describe('coffer completion', () => {
  const golden = new URL('./golden/completion.bash', import.meta.url);

  it('bash matches the golden script (UPDATE_GOLDEN=1 rewrites it)', async () => {
    const r = await coffer('completion', 'bash');
    expect(r.code).toBe(0);
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, r.out);
    expect(r.out).toBe(readFileSync(golden, 'utf8'));
  }, 60_000);

  it('bash completes verbs, subcommands, flags and -o values when bash runs it', async () => {
    const script = readFileSync(golden, 'utf8');
    const ask = async (...words: string[]) => {
      const probe = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _coffer; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return (await promisify(execFile)('bash', ['-c', probe])).stdout.split('\n').filter(Boolean);
    };
    expect(await ask('coffer', 'val')).toEqual(['validate']);
    expect(await ask('coffer', 'get', 'r')).toEqual(['restorepoints', 'runs', 'restores']);
    expect(await ask('coffer', 'get', 'runs', '--ph')).toEqual(['--phase']);
    expect(await ask('coffer', 'get', 'runs', '-o', 'w')).toEqual(['wide']);
    expect(await ask('coffer', 'repo', 'pr')).toEqual(['prune']);
    expect(await ask('coffer', 'init', '--no')).toEqual(['--no-git']);
  });

  it('zsh wraps the bash script with bashcompinit; fish lists verbs and flags', async () => {
    const z = await coffer('completion', 'zsh');
    expect(z.out.startsWith('#compdef coffer\n')).toBe(true);
    expect(z.out).toContain('bashcompinit');
    const f = await coffer('completion', 'fish');
    expect(f.out).toContain('complete -c coffer -n __fish_use_subcommand -a validate\n');
    expect(f.out).toContain("complete -c coffer -n '__fish_seen_subcommand_from get; and __fish_seen_subcommand_from runs' -l phase\n");
    expect(f.out).toContain("-l output -xa 'table wide json yaml name'");
  }, 60_000);
});
