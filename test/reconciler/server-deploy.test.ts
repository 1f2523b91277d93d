/**
 * deploy/: the Kustomize base and overlays render, pass the API server's validation (`kubectl apply -k
 * --dry-run=server` against the sandbox), and the monitoring component alerts only on metrics Coffer exports.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { CofferMetrics } from '../../reconciler/metrics/index.ts';
import { parsePrometheusText } from '../../reconciler/metrics/text-format.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { cleanup, tempDir } from './git-helpers.ts';

const run = promisify(execFile);
const deployDir = new URL('../../deploy/', import.meta.url).pathname;
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
type Obj = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };

let sb: Sandbox;
let work: string;

beforeAll(async () => {
  work = tempDir('deploy');
  sb = await startSandbox({ dir: join(work, 'sandbox') });
}, 120_000);
afterAll(async () => {
  await sb?.stop();
  if (work) cleanup(work);
});

async function render(dir: string): Promise<Obj[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir]);
  return YAML.parseAllDocuments(stdout).map((d) => d.toJSON() as Obj);
}

/** A user's overlay in a temporary folder: kustomize takes only relative paths to other kustomizations. */
function overlay(body: (rel: (p: string) => string) => string): string {
  const dir = mkdtempSync(join(work, 'kustomize-'));
  writeFileSync(join(dir, 'kustomization.yaml'), body((p) => relative(dir, join(deployDir, p))));
  return dir;
}

const names = (docs: Obj[]) => docs.map((d) => `${d.kind}/${d.metadata.name}`).sort();
const BASE = ['ClusterRole/coffer-api', 'ClusterRole/coffer-backup', 'ClusterRole/coffer-operator', 'ClusterRole/coffer-mover', 'ClusterRole/coffer-restore', 'ClusterRole/coffer-restore-rbac', 'ClusterRole/coffer-viewer', 'ClusterRoleBinding/coffer-api', 'ClusterRoleBinding/coffer-backup', 'ClusterRoleBinding/coffer-mover', 'ClusterRoleBinding/coffer-restore', 'Deployment/coffer', 'Namespace/coffer-system', 'Role/coffer', 'RoleBinding/coffer', 'Service/coffer', 'ServiceAccount/coffer', 'PodDisruptionBudget/coffer', 'NetworkPolicy/coffer'];

describe('deploy/ manifests', () => {
  it.each(['base', 'overlays/sandbox', 'overlays/production'])('%s renders exactly the objects Coffer needs, in coffer-system', async (dir) => {
    const docs = await render(join(deployDir, dir));
    const cm = docs.find((d) => d.kind === 'ConfigMap')!;
    expect(names(docs)).toEqual([...BASE, `ConfigMap/${cm.metadata.name}`].sort());
    expect(cm.metadata.name).toMatch(/^coffer-[a-z0-9]{10}$/);
    for (const d of docs) if (!d.kind.startsWith('Cluster') && d.kind !== 'Namespace') expect(d.metadata.namespace, d.kind).toBe('coffer-system');
    const dep = docs.find((d) => d.kind === 'Deployment')!;
    const env = dep.spec.template.spec.containers[0].env as Array<{ name: string; valueFrom?: any }>;
    expect(env.find((e) => e.name === 'COFFER_SOURCE')!.valueFrom.configMapKeyRef).toEqual({ name: cm.metadata.name, key: 'source' });
  });

  it('overlays: the sandbox runs one replica (pods share the host network there); production pins the image to this version', async () => {
    const [sandbox, production] = await Promise.all([render(join(deployDir, 'overlays/sandbox')), render(join(deployDir, 'overlays/production'))]);
    const dep = (docs: Obj[]) => docs.find((d) => d.kind === 'Deployment')!;
    expect(dep(sandbox).spec.replicas).toBe(1);
    expect(sandbox.find((d) => d.kind === 'ConfigMap')!.data!.source).toMatch(/^http:\/\/127\.0\.0\.1:/);
    expect(dep(production).spec.replicas).toBe(2);
    expect(dep(production).spec.template.spec.containers[0].image).toBe(`ghcr.io/coffer-dev/coffer:${version}`);
    expect(dep(production).spec.template.spec.topologySpreadConstraints[0].topologyKey).toBe('kubernetes.io/hostname');
  });

  it('the monitoring component scrapes the Service and alerts only on metrics /metrics exports', async () => {
    const docs = await render(overlay((rel) => `resources:\n  - ${rel('overlays/production')}\ncomponents:\n  - ${rel('components/monitoring')}\n`));
    const svc = docs.find((d) => d.kind === 'Service')!;
    const sm = docs.find((d) => d.kind === 'ServiceMonitor')!;
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>)) expect(svc.metadata.labels?.[k], k).toBe(v);
    expect((svc.spec.ports as Array<{ name: string }>).map((p) => p.name)).toContain(sm.spec.endpoints[0].port);

    const exported = new Set<string>();
    for (const fam of parsePrometheusText(await new CofferMetrics().metrics()).values()) exported.add(fam.name);
    const rules = docs.find((d) => d.kind === 'PrometheusRule')!.spec.groups.flatMap((g: { rules: Array<{ alert: string; expr: string }> }) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(4);
    for (const r of rules) {
      const used = [...r.expr.matchAll(/\bcoffer_[a-z0-9_]+\b/g)].map((m) => m[0]);
      expect(used.length, r.alert).toBeGreaterThan(0);
      for (const n of used) expect(exported, `${r.alert} uses ${n}`).toContain(n);
    }
  });

  it('pass kubectl apply -k --dry-run=server against the sandbox, creating nothing', async () => {
    const env = { ...process.env, KUBECONFIG: sb.kubeconfigPath };
    // Like a real API server, a dry run cannot place objects in a namespace that does not exist yet.
    await run('kubectl', ['create', 'namespace', 'coffer-system'], { env });
    for (const dir of ['overlays/sandbox', 'overlays/production']) {
      const { stdout } = await run('kubectl', ['apply', '-k', join(deployDir, dir), '--dry-run=server'], { env });
      const lines = stdout.trim().split('\n');
      expect(lines, dir).toHaveLength(BASE.length + 1);
      for (const l of lines) expect(l, dir).toMatch(/ (created|configured|unchanged) \(server dry run\)$/);
      expect(stdout).toContain('deployment.apps/coffer created (server dry run)');
      expect(stdout).toContain('poddisruptionbudget.policy/coffer created (server dry run)');
      expect(stdout).toContain('networkpolicy.networking.k8s.io/coffer created (server dry run)');
    }
    await expect(run('kubectl', ['get', '-n', 'coffer-system', 'deployment', 'coffer'], { env })).rejects.toThrow(/NotFound|not found/);
  });
});
