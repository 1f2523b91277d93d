import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from './args.ts';
import { sandboxNotReady } from './doctor/local.ts';
import git from 'isomorphic-git';
import { formatBytes } from '../reconciler/catalog/messages.ts';
import { openSource } from '../reconciler/git/source.ts';
import { KubeClient, isConflict } from '../reconciler/kube/client.ts';
import type { KubeObject } from '../reconciler/kube/types.ts';
import { reconcileOnce } from '../reconciler/reconcile.ts';
import { runRestore, type RestoreOutcome } from '../reconciler/restore/index.ts';
import { startSandbox } from '../sandbox/index.ts';
import { DEMO_NAMESPACE, demoPolicyRepo, sampleApp } from './demo-app.ts';
import { type Command, UsageError } from './io.ts';
import { eventPrinter } from './reconcile-flags.ts';

const HELP = `Run Coffer end to end on this machine, with no cluster and no cloud account: start a sandbox cluster, deploy a
sample app with a SQLite database, commit a policy repository, reconcile, and show the restore points in Git;
then delete the app's namespace and restore it, and restore it again into a second sandbox cluster.

Usage: coffer demo [--dir DIR] [--listen HOST:PORT]

Everything is kept under DIR (default: $COFFER_DEMO_DIR, else a new temporary directory). With --listen, the demo
then keeps running \`coffer run\` against its sandbox and serves the dashboard there (an operate token is printed)
until Ctrl-C.
`;

const PLURALS: Record<string, string> = { Namespace: 'namespaces', ConfigMap: 'configmaps', Secret: 'secrets', Service: 'services', StatefulSet: 'statefulsets', Deployment: 'deployments' };

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { dir: { type: 'string' }, listen: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const notReady = await sandboxNotReady(io.env);
  if (notReady) {
    io.stderr.write(`error: the demo runs Pods in a sandbox cluster and ${notReady}\n`);
    return 1;
  }
  const dir = resolve(io.cwd, v.dir ?? io.env.COFFER_DEMO_DIR ?? mkdtempSync(join(tmpdir(), 'coffer-demo-')));
  fs.mkdirSync(dir, { recursive: true });
  const say = (s: string) => io.stdout.write(`${s}\n`);
  const step = (s: string) => io.stdout.write(`\n== ${s}\n`);
  const t0 = performance.now();
  say(`Coffer demo — everything lives under ${dir}`);

  step('1. Starting a sandbox Kubernetes cluster');
  const sandbox = await startSandbox({ dir: join(dir, 'sandbox') });
  try {
    const client = new KubeClient(sandbox.kubeConfig);
    say(`   API server ${sandbox.url}; kubectl works too: export KUBECONFIG=${sandbox.kubeconfigPath}`);

    step(`2. Deploying the sample app into namespace "${DEMO_NAMESPACE}" (StatefulSet + SQLite volume, Deployment, Service, ConfigMap, Secret)`);
    for (const obj of sampleApp()) await applyObject(client, obj);
    await waitReady(client, 'statefulsets', 'db', 120_000);
    await waitReady(client, 'deployments', 'web', 120_000);
    // A row the app's own seed never writes, so the restore below cannot pass by re-seeding an empty volume.
    await sqlite(client, "INSERT INTO orders (item, qty) VALUES ('order placed after deploy', 5)");
    say('   db (StatefulSet) and web (Deployment) are ready; one more order was placed');

    step('3. Committing a policy repository (profile, policy, SQLite blueprint) to a local Git repo');
    const repositoryPath = join(dir, 'repository');
    fs.mkdirSync(repositoryPath, { recursive: true });
    await applyObject(client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } });
    await applyObject(client, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' },
      type: 'Opaque',
      stringData: { passphrase: randomBytes(24).toString('base64url') },
    });
    const repoDir = join(dir, 'policy-repo');
    await writePolicyRepo(repoDir, repositoryPath);
    say(`   ${repoDir} (branch main); repository ${repositoryPath}`);

    step('4. Reconciling: hooks, volume snapshots, data export, catalog commit');
    const source = await openSource({ source: repoDir, env: io.env });
    const summary = await reconcileOnce({ source, client, log: eventPrinter(io, false), env: io.env });
    const failed = summary.runs.filter((r) => r.run.status.phase !== 'Succeeded');

    step('5. Restore points (coffer restorepoints)');
    for (const { doc } of await summary.catalog.readRestorePoints()) {
      const vols = (doc.spec.volumes ?? []).map((x) => `${x.pvc} ${formatBytes(x.sizeBytes ?? 0)} → snapshot ${x.snapshotId?.slice(0, 8)}`).join(', ');
      const kinds = (doc.spec.resources ?? []).map((r) => `${r.count} ${r.kind}`).join(', ');
      say(`   ${doc.spec.namespace}/${doc.spec.policy}/${doc.metadata.name}: ${doc.spec.phase}; ${kinds}; volumes: ${vols || 'none'}`);
    }

    step('6. The catalog branch in Git (git log coffer-catalog)');
    for (const c of await git.log({ fs, dir: repoDir, ref: 'coffer-catalog', depth: 10 })) {
      say(`   ${c.oid.slice(0, 7)} ${c.commit.message.split('\n')[0]}`);
    }

    if (failed.length) {
      say(`\n   the backup failed, so there is nothing to restore: ${failed.map((r) => r.run.status.error).join('; ')}`);
      return 1;
    }

    step('7. Disaster: deleting namespace "shop" — its data before:');
    const passphrase = Buffer.from(((await client.get('v1', 'secrets', 'coffer-system', 'coffer-repository-key')) as { data?: Record<string, string> }).data!.passphrase!, 'base64').toString();
    say(indent(await orders(client)));
    await client.delete('v1', 'namespaces', undefined, DEMO_NAMESPACE);
    while (await client.find('v1', 'namespaces', undefined, DEMO_NAMESPACE)) await new Promise((r) => setTimeout(r, 250));
    say('   namespace shop is gone');

    step('8. coffer restore latest -n shop --wait');
    const restored = await runRestore({ source, client, restorePoint: { ref: 'latest', namespace: DEMO_NAMESPACE }, wait: true, env: io.env });
    say(describeRestore(restored));
    say('   its data after:');
    say(indent(await orders(client)));

    step('9. Mobility: restoring into a second sandbox cluster with only the Git repo and the repository');
    const second = await startSandbox({ dir: join(dir, 'sandbox-b') });
    let restoredB: RestoreOutcome;
    let ordersB: string;
    try {
      const clientB = new KubeClient(second.kubeConfig);
      await applyObject(clientB, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } });
      await applyObject(clientB, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' }, type: 'Opaque', stringData: { passphrase } });
      restoredB = await runRestore({ source, client: clientB, restorePoint: { ref: 'latest', namespace: DEMO_NAMESPACE }, sourceCluster: 'demo', targetCluster: 'demo-b', wait: true, env: io.env });
      ordersB = await orders(clientB);
      say(`   cluster B: ${second.url}`);
      say(describeRestore(restoredB));
      say(indent(ordersB));
    } finally {
      await second.stop();
    }

    step('Done');
    const ok = restored.result.spec.phase === 'Succeeded' && restoredB.result.spec.phase === 'Succeeded';
    say(`   backup, restore and cross-cluster restore ${ok ? 'succeeded' : 'did not all succeed'} in ${Math.round(performance.now() - t0) / 1000}s.`);
    say(`   Try next:
     npx coffer sandbox up --dir ${join(dir, 'sandbox')} --detach && export KUBECONFIG=${sandbox.kubeconfigPath}
     npx coffer restorepoints --source ${repoDir}
     git -C ${repoDir} log --stat coffer-catalog
     npx coffer restore latest -n shop --namespace-mapping shop=shop-copy --dry-run --source ${repoDir}
     npx coffer plan ${repoDir}
     COFFER_PASSWORD=$(kubectl -n coffer-system get secret coffer-repository-key -o jsonpath='{.data.passphrase}' | base64 -d) npx coffer repo snapshots --repo ${repositoryPath}`);
    if (!v.listen || !ok) return ok ? 0 : 1;
    step(`coffer run --listen ${v.listen} (Ctrl-C to stop)`);
    const token = randomBytes(16).toString('hex');
    const tokensFile = join(dir, 'api-tokens.csv');
    fs.writeFileSync(tokensFile, `${token},demo,operate\n`, { mode: 0o600 });
    say(`   dashboard: http://${v.listen}/  (API token: ${token})`);
    // In this process: the sandbox is served from here too.
    const { run: cofferRun } = await import('./run.ts');
    return await cofferRun(['--source', repoDir, '--kubeconfig', sandbox.kubeconfigPath, '--listen', v.listen, '--api-tokens-file', tokensFile, '--interval', '30s', '--shutdown-timeout', '30s'], io);
  } finally {
    await sandbox.stop();
  }
};

async function applyObject(client: KubeClient, obj: KubeObject): Promise<void> {
  try {
    await client.create(obj.apiVersion, PLURALS[obj.kind]!, obj.metadata.namespace, obj);
  } catch (e) {
    // A re-run against the same DIR finds the app already deployed.
    if (!isConflict(e)) throw e;
  }
}

function indent(text: string): string {
  return text.split('\n').map((l) => `   ${l}`).join('\n');
}

function describeRestore(r: RestoreOutcome): string {
  const s = r.result.spec;
  const volumes = (s.volumes ?? []).map((v) => `${v.pvc} ${v.phase}`).join(', ') || 'none';
  const hooks = (s.hooks ?? []).map((h) => `${String(h.blueprint)}.${String(h.phase)} ${String(h.phaseResult)}`).join(', ') || 'none';
  return `   ${s.phase}: ${s.summary.created} created, ${s.summary.skipped} skipped, ${s.summary.failed} failed; volumes: ${volumes}; hooks: ${hooks}; ${s.durationSeconds}s (RTO); recorded in ${r.commit?.path ?? 'the catalog'}`;
}

/** Runs SQL on the app's database through its volume's directory on this machine (sandbox volumes are host directories). */
async function sqlite(client: KubeClient, sql: string): Promise<string> {
  const pvc = (await client.get('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, 'data-db-0')) as unknown as { spec: { volumeName: string } };
  const pv = (await client.get('v1', 'persistentvolumes', undefined, pvc.spec.volumeName)) as unknown as { spec: { csi: { volumeAttributes: { path: string } } } };
  return execFileSync('sqlite3', ['-cmd', '.timeout 20000', join(pv.spec.csi.volumeAttributes.path, 'app.db'), sql], { encoding: 'utf8' }).trim();
}

function orders(client: KubeClient): Promise<string> {
  return sqlite(client, 'SELECT id, item, qty FROM orders ORDER BY id');
}

async function waitReady(client: KubeClient, plural: 'statefulsets' | 'deployments', name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const o = (await client.get('apps/v1', plural, DEMO_NAMESPACE, name)) as KubeObject & { spec?: { replicas?: number }; status?: { readyReplicas?: number } };
    if ((o.status?.readyReplicas ?? 0) >= (o.spec?.replicas ?? 1)) return;
    if (Date.now() > deadline) throw new Error(`${plural}/${name} in ${DEMO_NAMESPACE} not ready after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function writePolicyRepo(repoDir: string, repositoryPath: string): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const files = demoPolicyRepo(repositoryPath, fs.readFileSync(join(here, '..', 'blueprints', 'sqlite.yaml'), 'utf8'));
  if (!fs.existsSync(join(repoDir, '.git'))) await git.init({ fs, dir: repoDir, defaultBranch: 'main' });
  for (const [path, content] of Object.entries(files)) {
    fs.mkdirSync(dirname(join(repoDir, path)), { recursive: true });
    fs.writeFileSync(join(repoDir, path), content);
    await git.add({ fs, dir: repoDir, filepath: path });
  }
  const status = await git.statusMatrix({ fs, dir: repoDir });
  if (status.some(([, head, workdir, stage]) => head !== workdir || head !== stage) || !(await git.resolveRef({ fs, dir: repoDir, ref: 'HEAD' }).catch(() => undefined))) {
    await git.commit({ fs, dir: repoDir, message: 'Protect the shop namespace hourly', author: { name: 'Demo User', email: 'demo@example.com' } });
  }
}
