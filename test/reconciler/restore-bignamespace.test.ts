/**
 * One big namespace, backed up by the reconciler and restored into another namespace on the same sandbox: a few
 * thousand ConfigMaps, Secrets and Services, ServiceAccounts, Deployments, a custom resource, and objects owned by
 * a Deployment or by the custom resource. The order of creation is read from the API server's own store events
 * (every ADDED event, in resourceVersion order); the restored objects are compared with the originals field by field.
 * The same code restores 50,000 objects in `npm run bench:restore -- --objects 50000`.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { cleanManifest } from '../../reconciler/export/clean.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { mapLimit } from '../../reconciler/kube/wait.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { runRestore } from '../../reconciler/restore/index.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { commitFiles } from './sample-app-fixture.ts';

const NS = 'big';
const COPY = 'big-copy';
const FILLER = 2000;
const GROUP = 'acme.example';

/** The types compared (plural, apiVersion). */
const TYPES = [
  ['configmaps', 'v1'],
  ['secrets', 'v1'],
  ['services', 'v1'],
  ['serviceaccounts', 'v1'],
  ['deployments', 'apps/v1'],
  ['widgets', `${GROUP}/v1`],
] as const;

let sb: Sandbox;
let client: KubeClient;
let work: string;
/** `plural/name` of every object created in COPY, in the order the API server stored them. */
const created: string[] = [];

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'coffer-bigns-'));
  // No controllers: Deployments stay as written (no ReplicaSets, no pods), so only the restore writes into COPY.
  sb = await startSandbox({ dir: join(work, 'sandbox'), controllers: false });
  client = new KubeClient(sb.kubeConfig);
  await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } });
  await client.create('v1', 'secrets', 'coffer-system', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' }, stringData: { passphrase: randomBytes(16).toString('hex') } });
  await client.create('apiextensions.k8s.io/v1', 'customresourcedefinitions', undefined, {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `widgets.${GROUP}` },
    spec: { group: GROUP, scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }] },
  } as KubeObject);
  await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'backup.coffer.dev/enabled': 'true', team: 'big' } } });
  const owners: KubeObject[] = [];
  for (let i = 0; i < 3; i++) {
    await client.create('v1', 'serviceaccounts', NS, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `web-${i}`, namespace: NS } });
    owners.push(await client.create('apps/v1', 'deployments', NS, {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `web-${i}`, namespace: NS },
      spec: { replicas: 1, selector: { matchLabels: { app: `web-${i}` } }, template: { metadata: { labels: { app: `web-${i}` } }, spec: { serviceAccountName: `web-${i}`, containers: [{ name: 'web', image: 'busybox' }] } } },
    } as KubeObject));
  }
  // A custom resource owning Secrets (as cert-manager's Certificate owns its TLS Secret): created last by stage, its Secrets wait for it.
  owners.push(await client.create(`${GROUP}/v1`, 'widgets', NS, { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'w1', namespace: NS }, spec: { size: 3 } }));
  const seeded = await mapLimit(Array.from({ length: FILLER }, (_, i) => i), 16, async (i) => {
    const kind = i % 10 < 6 ? 'ConfigMap' : i % 10 < 9 ? 'Secret' : 'Service';
    const owner = i < 80 ? owners[i % owners.length]! : undefined;
    const metadata = {
      name: `${kind.toLowerCase()}-${i}`, namespace: NS, labels: { n: String(i) }, annotations: { note: `0b${i % 2}01` },
      // Not controllers: the policy's default `excludeControlled` leaves controller-owned objects to their controller.
      ...(owner ? { ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid!, ...(i % 2 ? { blockOwnerDeletion: true } : {}) }] } : {}),
    };
    const o: KubeObject =
      kind === 'ConfigMap' ? { apiVersion: 'v1', kind, metadata, data: { 'app.properties': `key.${i}=value-${i}\n`.repeat(5), yes: 'no', when: '2026-11-24T01:05:00Z' } }
      : kind === 'Secret' ? { apiVersion: 'v1', kind, metadata, type: 'Opaque', data: { token: randomBytes(24).toString('base64') } }
      : { apiVersion: 'v1', kind, metadata, spec: { selector: { app: 'web-0' }, ports: [{ port: 80 + (i % 5) }] } };
    await client.create('v1', `${kind.toLowerCase()}s`, NS, o);
  });
  const failed = seeded.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}, 300_000);

afterAll(async () => {
  await sb?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Objects of one type in a namespace, as the export cleans them, namespace removed, by name. */
async function snapshot(ns: string, plural: string, apiVersion: string): Promise<Map<string, KubeObject>> {
  const out = new Map<string, KubeObject>();
  for (const o of await client.list(apiVersion, plural, ns)) {
    const c = cleanManifest(o);
    delete c.metadata.namespace;
    out.set(c.metadata.name, c);
  }
  return out;
}

describe('one big namespace', () => {
  it(`backs up ${FILLER}+ objects and restores them identical, owners before dependents, config before workloads`, async () => {
    const repositoryPath = join(work, 'repository');
    fs.mkdirSync(repositoryPath);
    const repoDir = join(work, 'policy-repo');
    fs.mkdirSync(repoDir);
    await commitFiles(repoDir, demoPolicyRepo(repositoryPath, fs.readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
    const backup = await reconcileOnce({ source: await openSource({ source: repoDir, env: {} }), client, now: () => new Date('2026-11-24T01:05:00Z'), env: {}, only: { policy: 'hourly', namespace: NS } });
    expect(backup.runs[0]?.run.status.phase, backup.runs[0]?.run.status.error).toBe('Succeeded');

    // The API server's own objects of a new namespace (the default ServiceAccount, kube-root-ca.crt) are not the restore's.
    const own = new Set(['serviceaccounts/default', 'configmaps/kube-root-ca.crt']);
    const unsubscribe = sb.server.store.subscribe((e) => {
      const ref = `${e.gr.split('.')[0]}/${e.obj.metadata.name}`;
      if (e.type === 'ADDED' && !own.has(ref) && (e.obj.metadata.namespace === COPY || (e.gr === 'namespaces' && e.obj.metadata.name === COPY))) created.push(ref);
    });
    const out = await runRestore({ source: await openSource({ source: repoDir, env: {} }), client, restorePoint: { ref: 'latest', namespace: NS }, namespaceMapping: { [NS]: COPY }, env: {} });
    unsubscribe();
    expect(out.result.spec.errors ?? []).toEqual([]);
    expect(out.result.spec.phase).toBe('Succeeded');

    // Identical: every object of every compared type, field by field (owner references by kind and name: their
    // uids are new). Only the default ServiceAccount and kube-root-ca.crt are the new namespace's own.
    let compared = 0;
    for (const [plural, apiVersion] of TYPES) {
      const [a, b] = [await snapshot(NS, plural, apiVersion), await snapshot(COPY, plural, apiVersion)];
      expect([...b.keys()].sort(), plural).toEqual([...a.keys()].sort());
      for (const [name, o] of a) expect(b.get(name), `${plural}/${name}`).toEqual(o);
      compared += a.size;
    }
    expect(compared).toBeGreaterThan(FILLER);
    // What a new namespace has of its own (the default ServiceAccount, kube-root-ca.crt) is reported, not replaced.
    const existed = out.result.spec.resources.filter((r) => r.action === 'skipped' && r.reason === 'already exists (--existing skip)');
    expect(existed.length).toBeLessThanOrEqual(2);
    expect(out.result.spec.summary.created + existed.length).toBe(compared);

    // Order, from the store's ADDED events.
    const at = (ref: string) => {
      const i = created.indexOf(ref);
      expect(i, `${ref} was created`).toBeGreaterThanOrEqual(0);
      return i;
    };
    expect(created[0]).toBe(`namespaces/${COPY}`);
    const where = (prefix: string) => created.flatMap((r, i) => (r.startsWith(prefix) ? [i] : []));
    const owned = new Set<string>();
    for (const [plural, apiVersion] of TYPES) {
      for (const o of (await snapshot(COPY, plural, apiVersion)).values()) {
        const refs = JSON.parse(o.metadata.annotations?.['coffer.dev/owner-references'] ?? '[]') as { kind: string; name: string }[];
        for (const r of refs) {
          owned.add(`${plural}/${o.metadata.name}`);
          expect(at(`${plural}/${o.metadata.name}`), `${plural}/${o.metadata.name} after its owner ${r.kind}/${r.name}`).toBeGreaterThan(at(`${r.kind.toLowerCase()}s/${r.name}`));
        }
      }
    }
    expect(owned.size).toBe(80);
    const free = (prefix: string) => where(prefix).filter((i) => !owned.has(created[i]!));
    const lastOf = (xs: number[]) => Math.max(...xs);
    const firstOf = (xs: number[]) => Math.min(...xs);
    expect(lastOf(where('serviceaccounts/'))).toBeLessThan(firstOf([...free('secrets/'), ...free('configmaps/')]));
    expect(lastOf([...free('secrets/'), ...free('configmaps/')])).toBeLessThan(firstOf(where('services/')));
    expect(lastOf(free('services/'))).toBeLessThan(firstOf(where('deployments/')));
    expect(lastOf(where('deployments/'))).toBeLessThan(firstOf(where('widgets/')));
  }, 600_000);
});
