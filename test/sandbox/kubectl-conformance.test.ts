/**
 * Conformance of the sandbox API server, checked with the real kubectl: the
 * commands a user runs against a real cluster, with the same outputs and the
 * same error messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { kubectlFor } from './kubectl.ts';

const FIX = join(import.meta.dirname, 'fixtures');
let sb: Sandbox;
let k: ReturnType<typeof kubectlFor>;

beforeAll(async () => {
  sb = await startSandbox({ controllers: false });
  k = kubectlFor(sb.kubeconfigPath);
});
afterAll(async () => {
  await sb?.stop();
});

function ok(r: { code: number; stderr: string }) {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

describe('kubectl against the sandbox', () => {
  it('applies a realistic app (StatefulSet with volumeClaimTemplates, Deployment, Services, ConfigMap, Secret, CRD) and a custom resource', async () => {
    const r = await k.run(['apply', '-f', join(FIX, 'app.yaml')]);
    ok(r);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      'namespace/shop created',
      'configmap/shop-config created',
      'secret/shop-db created',
      'service/shop-db created',
      'statefulset.apps/shop-db created',
      'deployment.apps/shop-web created',
      'service/shop-web created',
      'customresourcedefinition.apiextensions.k8s.io/carts.shop.example.com created',
    ]);
    const w = await k.run(['wait', '--for=condition=Established', 'crd/carts.shop.example.com', '--timeout=20s']);
    ok(w);
    expect(w.stdout).toContain('condition met');
    const cr = await k.run(['apply', '-f', join(FIX, 'cart.yaml')]);
    ok(cr);
    expect(cr.stdout.trim()).toBe('cart.shop.example.com/alice created');
  });

  it('re-applying unchanged manifests reports unchanged', async () => {
    const r = await k.run(['apply', '-f', join(FIX, 'cart.yaml')]);
    ok(r);
    expect(r.stdout.trim()).toBe('cart.shop.example.com/alice unchanged');
    const d = await k.run(['apply', '-f', '-'], readFileSync(join(FIX, 'app.yaml'), 'utf8').split('---').slice(5, 6).join(''));
    ok(d);
    expect(d.stdout.trim()).toBe('deployment.apps/shop-web unchanged');
  });

  it('get -o json returns server-populated objects (uid, resourceVersion, defaults, ClusterIP, decoded stringData)', async () => {
    const r = await k.run(['get', 'deploy,svc,secret,statefulset', '-n', 'shop', '-o', 'json']);
    ok(r);
    const list = JSON.parse(r.stdout) as { kind: string; items: any[] };
    expect(list.kind).toBe('List');
    const byName = (kind: string, name: string) => list.items.find((i) => i.kind === kind && i.metadata.name === name);
    const dep = byName('Deployment', 'shop-web');
    expect(dep.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(dep.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(dep.metadata.generation).toBe(1);
    expect(dep.spec.strategy.type).toBe('RollingUpdate');
    expect(dep.spec.template.spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
    const web = byName('Service', 'shop-web');
    expect(web.spec.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(web.spec.ports[0].protocol).toBe('TCP');
    expect(byName('Service', 'shop-db').spec.clusterIP).toBe('None');
    const secret = byName('Secret', 'shop-db');
    expect(Buffer.from(secret.data.password, 'base64').toString()).toBe('s3cr3t');
    expect(secret.stringData).toBeUndefined();
    const sts = byName('StatefulSet', 'shop-db');
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('1Gi');
    const cart = JSON.parse((await k.run(['get', 'cart', 'alice', '-n', 'shop', '-o', 'json'])).stdout);
    expect(cart.spec).toEqual({ owner: 'alice', items: 3, tags: ['gift'] });
  });

  it('get prints server-side tables, including CRD printer columns', async () => {
    const r = await k.run(['get', 'deploy', '-n', 'shop']);
    ok(r);
    expect(r.stdout.split('\n')[0].split(/\s{2,}/)).toEqual(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
    expect(r.stdout).toMatch(/shop-web\s+0\/2\s+0\s+0\s+\d+s/);
    const c = await k.run(['get', 'carts', '-n', 'shop']);
    ok(c);
    expect(c.stdout.split('\n')[0].split(/\s{2,}/)).toEqual(['NAME', 'OWNER', 'ITEMS', 'AGE']);
    expect(c.stdout).toMatch(/alice\s+alice\s+3\s+\d+s/);
    const s = await k.run(['get', 'ct', '-n', 'shop', '-o', 'name']);
    expect(s.stdout.trim()).toBe('cart.shop.example.com/alice');
  });

  it('get -l filters with equality, set and existence selectors', async () => {
    const all = await k.run(['get', 'svc,deploy,sts,cm', '-n', 'shop', '-l', 'app=shop', '-o', 'name']);
    ok(all);
    expect(all.stdout.trim().split('\n').sort()).toEqual(['configmap/shop-config', 'deployment.apps/shop-web', 'service/shop-db', 'service/shop-web', 'statefulset.apps/shop-db']);
    const inSel = await k.run(['get', 'svc', '-n', 'shop', '-l', 'tier in (db)', '-o', 'name']);
    expect(inSel.stdout.trim()).toBe('service/shop-db');
    const neq = await k.run(['get', 'svc', '-n', 'shop', '-l', 'tier!=db', '-o', 'name']);
    expect(neq.stdout.trim()).toBe('service/shop-web');
    const notExists = await k.run(['get', 'cm', '-n', 'shop', '-l', '!tier', '-o', 'name']);
    // kube-root-ca.crt has no labels either: the root-CA publisher puts it in every namespace, as on a real cluster.
    expect(notExists.stdout.trim().split('\n').sort()).toEqual(['configmap/kube-root-ca.crt', 'configmap/shop-config']);
    const field = await k.run(['get', 'svc', '-A', '--field-selector', 'metadata.name=shop-web', '-o', 'name']);
    expect(field.stdout.trim()).toBe('service/shop-web');
  });

  it('patches with strategic merge (containers by name), merge and JSON patch; generation follows spec changes', async () => {
    const s = await k.run(['patch', 'deploy', 'shop-web', '-n', 'shop', '--type', 'strategic', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37","env":[{"name":"EXTRA","value":"1"}]}]}}}}']);
    ok(s);
    expect(s.stdout.trim()).toBe('deployment.apps/shop-web patched');
    let dep = JSON.parse((await k.run(['get', 'deploy', 'shop-web', '-n', 'shop', '-o', 'json'])).stdout);
    const c = dep.spec.template.spec.containers;
    expect(c).toHaveLength(1);
    expect(c[0].image).toBe('busybox:1.37');
    expect(c[0].command).toEqual(['sh', '-c', 'while true; do sleep 3600; done']);
    expect(c[0].env.map((e: any) => e.name)).toEqual(['LOG_LEVEL', 'EXTRA']);
    expect(dep.metadata.generation).toBe(2);

    ok(await k.run(['patch', 'deploy', 'shop-web', '-n', 'shop', '--type', 'merge', '-p', '{"metadata":{"labels":{"patched":"yes"}}}']));
    ok(await k.run(['patch', 'deploy', 'shop-web', '-n', 'shop', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/replicas","value":4}]']));
    dep = JSON.parse((await k.run(['get', 'deploy', 'shop-web', '-n', 'shop', '-o', 'json'])).stdout);
    expect(dep.metadata.labels.patched).toBe('yes');
    expect(dep.spec.replicas).toBe(4);
    expect(dep.metadata.generation).toBe(3);
    const nop = await k.run(['patch', 'deploy', 'shop-web', '-n', 'shop', '--type', 'merge', '-p', '{"spec":{"replicas":4}}']);
    expect(nop.stdout.trim()).toBe('deployment.apps/shop-web patched (no change)');
    const crd = await k.run(['patch', 'cart', 'alice', '-n', 'shop', '--type', 'merge', '-p', '{"spec":{"items":5}}']);
    ok(crd);
  });

  it('scales through the scale subresource', async () => {
    const r = await k.run(['scale', 'deploy/shop-web', '-n', 'shop', '--replicas=1']);
    ok(r);
    expect(r.stdout.trim()).toBe('deployment.apps/shop-web scaled');
    const sts = await k.run(['scale', 'statefulset', 'shop-db', '-n', 'shop', '--replicas=0']);
    ok(sts);
    const got = await k.run(['get', 'deploy/shop-web', 'sts/shop-db', '-n', 'shop', '-o', 'jsonpath={.items[*].spec.replicas}']);
    expect(got.stdout).toBe('1 0');
    const cond = await k.run(['scale', 'deploy/shop-web', '-n', 'shop', '--replicas=2', '--current-replicas=7']);
    expect(cond.code).toBe(1);
    expect(cond.stderr).toContain('Expected replicas to be 7, was 1');
  });

  it('server-side apply tracks field managers, reports conflicts and takes over with --force-conflicts', async () => {
    const cm = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: shop\ndata:\n  key: ${value}\n`;
    const a = await k.run(['apply', '--server-side', '--field-manager', 'team-a', '-f', '-'], cm('one'));
    ok(a);
    expect(a.stdout.trim()).toBe('configmap/ssa serverside-applied');
    const b = await k.run(['apply', '--server-side', '--field-manager', 'team-b', '-f', '-'], cm('two'));
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('error: Apply failed with 1 conflict: conflict with "team-a": .data.key\nPlease review the fields above--they currently have other managers.');
    // A client-side apply (Update operation) owner is named with its API version, as apimachinery prints it.
    const c = await k.run(['apply', '--server-side', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\n  namespace: shop\ndata:\n  LOG_LEVEL: warn\n');
    expect(c.stderr).toContain('error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .data.LOG_LEVEL');
    const f = await k.run(['apply', '--server-side', '--field-manager', 'team-b', '--force-conflicts', '-f', '-'], cm('two'));
    ok(f);
    const got = JSON.parse((await k.run(['get', 'cm', 'ssa', '-n', 'shop', '-o', 'json', '--show-managed-fields'])).stdout);
    expect(got.data.key).toBe('two');
    const managers = got.metadata.managedFields.map((m: any) => `${m.manager}/${m.operation}`);
    expect(managers).toContain('team-b/Apply');
    expect(managers).not.toContain('team-a/Apply');
    // Dropping a field from the applied config removes it when nobody else owns it.
    const drop = await k.run(['apply', '--server-side', '--field-manager', 'team-b', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: shop\ndata:\n  other: x\n');
    ok(drop);
    const after = JSON.parse((await k.run(['get', 'cm', 'ssa', '-n', 'shop', '-o', 'json'])).stdout);
    expect(after.data).toEqual({ other: 'x' });
  });

  it('prints the same errors as a real cluster: missing object, conflict, already exists, unknown field, invalid name', async () => {
    const nf = await k.run(['get', 'configmap', 'nope', '-n', 'shop']);
    expect(nf.code).toBe(1);
    expect(nf.stderr).toBe('Error from server (NotFound): configmaps "nope" not found\n');
    const nfd = await k.run(['get', 'deploy', 'nope', '-n', 'shop']);
    expect(nfd.stderr).toBe('Error from server (NotFound): deployments.apps "nope" not found\n');

    const cur = JSON.parse((await k.run(['get', 'cm', 'shop-config', '-n', 'shop', '-o', 'json'])).stdout);
    ok(await k.run(['label', 'cm', 'shop-config', '-n', 'shop', 'bump=1']));
    cur.data.LOG_LEVEL = 'debug';
    const conflict = await k.run(['replace', '-f', '-'], JSON.stringify(cur));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toBe(
      'Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps "shop-config": the object has been modified; please apply your changes to the latest version and try again\n',
    );

    const dup = await k.run(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\n  namespace: shop\n');
    expect(dup.stderr).toBe('Error from server (AlreadyExists): error when creating "STDIN": configmaps "shop-config" already exists\n');

    const unknown = await k.run(['apply', '-f', '-'], 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\n  namespace: shop\nspec:\n  replicaz: 2\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: busybox}]}\n');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz"\n');

    const badName = await k.run(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: shop\n');
    expect(badName.stderr).toBe(
      `The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\n`,
    );

    const badCr = await k.run(['apply', '-f', '-'], 'apiVersion: shop.example.com/v1\nkind: Cart\nmetadata:\n  name: bob\n  namespace: shop\nspec:\n  items: -1\n');
    expect(badCr.code).toBe(1);
    expect(badCr.stderr).toContain('The Cart "bob" is invalid: ');
    expect(badCr.stderr).toContain('spec.owner: Required value');

    // x-kubernetes-validations (CEL), including a transition rule on update.
    const big = await k.run(['apply', '-f', '-'], 'apiVersion: shop.example.com/v1\nkind: Cart\nmetadata:\n  name: big\n  namespace: shop\nspec:\n  owner: bob\n  items: 500\n');
    expect(big.stderr).toBe('The Cart "big" is invalid: spec: Invalid value: "object": a cart holds at most 100 items\n');
    const steal = await k.run(['patch', 'cart', 'alice', '-n', 'shop', '--type', 'merge', '-p', '{"spec":{"owner":"mallory"}}']);
    expect(steal.stderr).toBe('The Cart "alice" is invalid: spec: Invalid value: "object": owner is immutable\n');
  });

  it('immutable fields are refused: Service clusterIP, immutable ConfigMap data', async () => {
    const svc = JSON.parse((await k.run(['get', 'svc', 'shop-web', '-n', 'shop', '-o', 'json'])).stdout);
    const r = await k.run(['patch', 'svc', 'shop-web', '-n', 'shop', '--type', 'merge', '-p', '{"spec":{"clusterIP":"10.96.200.200","clusterIPs":["10.96.200.200"]}}']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`The Service "shop-web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.200.200"}: may not change once set`);
    expect(svc.spec.clusterIP).not.toBe('10.96.200.200');
    ok(await k.run(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen, namespace: shop}\nimmutable: true\ndata: {a: "1"}\n'));
    const f = await k.run(['patch', 'cm', 'frozen', '-n', 'shop', '--type', 'merge', '-p', '{"data":{"a":"2"}}']);
    expect(f.stderr).toContain('The ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set');
  });

  it('get --watch streams events as they happen', async () => {
    const p = k.start(['get', 'cm', '-n', 'shop', '--watch', '-o', 'name']);
    let out = '';
    const seen = new Promise<void>((resolve) => {
      p.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('configmap/watched')) resolve();
      });
    });
    // Wait until the initial listing arrived, then create.
    await new Promise<void>((resolve) => {
      const check = () => (out.includes('configmap/shop-config') ? resolve() : setTimeout(check, 50));
      check();
    });
    ok(await k.run(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched, namespace: shop}\n'));
    await seen;
    p.kill();
    expect(out).toContain('configmap/shop-config');
    expect(out).toContain('configmap/watched');
  });

  it('kubectl create generators work (their typed clients send protobuf bodies)', async () => {
    ok(await k.run(['create', 'namespace', 'gen']));
    const cm = await k.run(['create', 'configmap', 'gen-cm', '-n', 'gen', '--from-literal=a=b', '--from-literal=c=d']);
    ok(cm);
    expect(cm.stdout.trim()).toBe('configmap/gen-cm created');
    ok(await k.run(['create', 'secret', 'generic', 'gen-secret', '-n', 'gen', '--from-literal=password=hunter2']));
    ok(await k.run(['create', 'deployment', 'gen-dep', '-n', 'gen', '--image=busybox:1.36', '--replicas=2', '--port=80']));
    ok(await k.run(['create', 'service', 'clusterip', 'gen-svc', '-n', 'gen', '--tcp=80:8080']));
    const got = JSON.parse((await k.run(['get', 'cm/gen-cm', 'secret/gen-secret', 'deploy/gen-dep', 'svc/gen-svc', '-n', 'gen', '-o', 'json'])).stdout);
    const [c, s, d, svc] = got.items;
    expect(c.data).toEqual({ a: 'b', c: 'd' });
    expect(Buffer.from(s.data.password, 'base64').toString()).toBe('hunter2');
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
    expect(d.spec.template.spec.containers[0]).toMatchObject({ name: 'busybox', image: 'busybox:1.36', ports: [{ containerPort: 80, protocol: 'TCP' }] });
    expect(c.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(svc.spec.ports[0]).toMatchObject({ port: 80, targetPort: 8080, protocol: 'TCP' });
    expect(svc.metadata.generation).toBeUndefined();
    ok(await k.run(['delete', 'namespace', 'gen', '--wait=false']));
  });

  it('discovery, auth can-i and diff (server-side dry run) work', async () => {
    const ar = await k.run(['api-resources', '--no-headers']);
    ok(ar);
    const rows = ar.stdout.split('\n').map((l) => l.split(/\s+/));
    expect(rows.find((r) => r[0] === 'carts')).toEqual(['carts', 'ct', 'shop.example.com/v1', 'true', 'Cart']);
    expect(rows.find((r) => r[0] === 'volumesnapshots')).toEqual(['volumesnapshots', 'vs', 'snapshot.storage.k8s.io/v1', 'true', 'VolumeSnapshot']);
    expect(rows.find((r) => r[0] === 'deployments')).toEqual(['deployments', 'deploy', 'apps/v1', 'true', 'Deployment']);
    const can = await k.run(['auth', 'can-i', 'create', 'pods', '-n', 'shop']);
    expect(can.stdout.trim()).toBe('yes');
    const app = readFileSync(join(FIX, 'app.yaml'), 'utf8').split('---').slice(5, 6).join('').replace('replicas: 2', 'replicas: 3');
    const before = (await k.run(['get', 'deploy', 'shop-web', '-n', 'shop', '-o', 'jsonpath={.spec.replicas}'])).stdout;
    const diff = await k.run(['diff', '-f', '-'], app);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/^\+  replicas: 3$/m);
    expect((await k.run(['get', 'deploy', 'shop-web', '-n', 'shop', '-o', 'jsonpath={.spec.replicas}'])).stdout).toBe(before);
  });

  it('explain reads the OpenAPI documents', async () => {
    const r = await k.run(['explain', 'deployment.spec.replicas']);
    ok(r);
    expect(r.stdout).toContain('KIND:       Deployment');
    expect(r.stdout).toContain('FIELD: replicas <integer>');
    const c = await k.run(['explain', 'carts.spec']);
    ok(c);
    expect(c.stdout).toContain('owner');
  });

  it('delete honours finalizers and cascades namespace deletion', async () => {
    ok(await k.run(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: shop, finalizers: [example.com/hold]}\n'));
    const d = await k.run(['delete', 'cm', 'held', '-n', 'shop', '--wait=false']);
    ok(d);
    const held = JSON.parse((await k.run(['get', 'cm', 'held', '-n', 'shop', '-o', 'json'])).stdout);
    expect(held.metadata.deletionTimestamp).toBeTruthy();
    const ns = await k.run(['delete', 'namespace', 'shop', '--wait=false']);
    ok(ns);
    expect(ns.stdout.trim()).toBe('namespace "shop" deleted');
    const phase = await k.run(['get', 'ns', 'shop', '-o', 'jsonpath={.status.phase}']);
    expect(phase.stdout).toBe('Terminating');
    const blocked = await k.run(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: shop}\n');
    expect(blocked.stderr).toContain('is forbidden: unable to create new content in namespace shop because it is being terminated');
    ok(await k.run(['patch', 'cm', 'held', '-n', 'shop', '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']));
    const w = await k.run(['wait', '--for=delete', 'namespace/shop', '--timeout=20s']);
    expect(w.code).toBe(0);
    const left = await k.run(['get', 'all,cm,secret,carts', '-A', '-o', 'name', '-l', 'app=shop']);
    expect(left.stdout.trim()).toBe('');
  });
});
