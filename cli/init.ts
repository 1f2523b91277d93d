import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from './args.ts';
import { compileTarget } from '../compiler/load/target.ts';
import { formatDiagnostic } from '../compiler/diagnostics.ts';
import { scaffold } from '../compiler/init/scaffold.ts';
import { type Command, UsageError } from './io.ts';

const HELP = `Scaffold a Coffer GitOps repository that validates.

Usage:
  coffer init [DIR] [--cluster NAME] [--storage filesystem|s3] [--bucket NAME] [--no-git]

Writes coffer.yaml, profiles/default.yaml, policies/daily.yaml and
blueprints/quiesce.yaml. Never overwrites: if any of them exists, nothing is written.
Then makes DIR a Git repository (branch main) with the files as its first commit, since
Coffer reads policies from Git; --no-git skips that, and so does a DIR that is already
inside a Git repository (commit the files there yourself).
`;

/** Thrown when init would overwrite a file; nothing has been written. */
export class InitConflict extends Error {
  readonly code = 'E_EXISTS';
}

export const run: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      cluster: { type: 'string', default: 'my-cluster' },
      storage: { type: 'string', default: 'filesystem' },
      bucket: { type: 'string' },
      'no-git': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError('coffer init takes at most one DIR');
  if (values.storage !== 'filesystem' && values.storage !== 's3') throw new UsageError(`--storage must be filesystem or s3, got "${values.storage}"`);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.cluster) || values.cluster.length > 63) throw new UsageError(`--cluster must be a DNS label (lower-case letters, digits, '-'), got "${values.cluster}"`);
  if (values.bucket !== undefined && values.storage !== 's3') throw new UsageError('--bucket needs --storage s3');
  const dirArg = positionals[0] ?? '.';
  const dir = resolve(io.cwd, dirArg);
  const files = scaffold({ cluster: values.cluster, storage: values.storage, bucket: values.bucket });
  const existing = Object.keys(files).filter((p) => existsSync(join(dir, p)));
  if (existing.length) throw new InitConflict(`refusing to overwrite existing file(s) in ${dirArg}: ${existing.join(', ')} (nothing was written)`);
  for (const [p, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), content, { flag: 'wx' });
    io.stdout.write(`created ${join(dirArg, p)}\n`);
  }
  const check = await compileTarget([dir], undefined, io.cwd);
  const errors = check.diagnostics.filter((d) => d.severity === 'error');
  for (const e of errors) io.stderr.write(`${formatDiagnostic(e)}\n`);
  if (errors.length) return 1;
  if (!values['no-git']) io.stdout.write(await commitFirst(dir, dirArg, Object.keys(files), io.env));
  io.stdout.write(`\nThe repository validates. Next:\n  coffer validate ${dirArg}\n  coffer plan ${dirArg}\n  coffer explain policy.spec\n`);
  return 0;
};

/** `git init -b main` + the scaffold as the first commit, unless DIR already belongs to a Git repository. */
async function commitFirst(dir: string, dirArg: string, paths: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const fs = await import('node:fs');
  const { default: git } = await import('isomorphic-git');
  const root = await git.findRoot({ fs, filepath: dir }).catch(() => undefined);
  if (root) return `${dirArg} is inside the Git repository ${root}: commit the new files there (git add ${dirArg} && git commit)\n`;
  await git.init({ fs, dir, defaultBranch: 'main' });
  for (const p of paths) await git.add({ fs, dir, filepath: p });
  // isomorphic-git does not read ~/.gitconfig; Git's own variables are honoured, else an author that says what made it.
  const author = { name: env.GIT_AUTHOR_NAME || 'coffer init', email: env.GIT_AUTHOR_EMAIL || 'coffer-init@localhost' };
  const oid = await git.commit({ fs, dir, message: 'Coffer repository scaffold (coffer init)\n', author });
  return `initialized Git repository in ${join(dirArg, '.git')} (branch main, commit ${oid.slice(0, 12)})\n`;
}
