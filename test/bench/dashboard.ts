/**
 * `npm run bench:dashboard`: the dashboard over a catalog of 100,000 restore points, in Debian's Chromium, JSON out.
 *
 * Builds the catalog with the catalog bench's generator (test/bench/catalog-data.ts: 100 namespaces × 5 policies ×
 * 200 points, `git fast-import`, then `coffer catalog reindex`) on the `coffer-catalog` branch of a real policy
 * repository whose five policies select those namespaces; a sandbox cluster holds the namespaces (plus unprotected
 * ones). The API server runs in this process (`createCofferServer` + `Live`, no reconcile loop), the page in
 * Chromium with the token in sessionStorage. Measured (median of --reps, wall time from the Node side):
 * - api: GET /api/v1/applications, first call (nothing cached) and warm; anchor: `git cat-file --batch` of every
 *   index blob the server reads (the I/O floor of the same answer);
 * - page: the sign-in page (static files only: the floor), time to first render of the Applications view (first
 *   load after the server started, and warm), time to a filtered view (search typed, server-side filter), time to the
 *   state filter, and an application page drawing all 1,000 of its restore points on the timeline.
 *
 * Flags: --size 100000 (a multiple of 1000)  --reps 5
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import { CofferMetrics } from '../../reconciler/metrics/index.ts';
import { createCofferServer, listen, Live, TokenStore } from '../../reconciler/server/index.ts';
import { startSandbox } from '../../sandbox/index.ts';
import { buildHistory, dirCount, PER_DIR, POLICIES } from './catalog-data.ts';

const { values: flags } = parseArgs({ options: { size: { type: 'string', default: '100000' }, reps: { type: 'string', default: '5' } } });
const SIZE = Number(flags.size);
const REPS = Number(flags.reps);
const NAMESPACES = dirCount(SIZE) / POLICIES;
const UNPROTECTED = 20;
const CHROMIUM = '/usr/bin/chromium';
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@coffer.test', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@coffer.test', GIT_CONFIG_NOSYSTEM: '1' };

const round = (x: number): number => Math.round(x * 10) / 10;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return round(s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2);
};
async function time(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}
async function reps(f: () => Promise<unknown>, before?: () => Promise<unknown>): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < REPS; i++) {
    await before?.();
    out.push(await time(f));
  }
  return median(out);
}
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', maxBuffer: 1 << 30 });

function policyRepo(repository: string): Record<string, string> {
  const files: Record<string, string> = {
    'coffer.yaml': 'apiVersion: coffer.dev/v1alpha1\nkind: Config\nmetadata:\n  name: coffer\nspec:\n  cluster: bench\n  catalog:\n    branch: coffer-catalog\n',
    'profiles/local.yaml': `apiVersion: coffer.dev/v1alpha1\nkind: Profile\nmetadata:\n  name: local\nspec:\n  filesystem:\n    path: ${repository}\n  encryption:\n    keySecret:\n      name: coffer-repository-key\n      namespace: coffer-system\n      key: passphrase\n`,
  };
  for (let i = 0; i < POLICIES; i++) {
    files[`policies/policy-${i}.yaml`] = `apiVersion: coffer.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: policy-${i}\nspec:\n  frequency: "@hourly"\n  retention:\n    hourly: ${PER_DIR}\n  selector:\n    namespaces: namespaceObject.metadata.name.startsWith("ns-")\n  profile: local\n`;
  }
  return files;
}

async function main(): Promise<void> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
  if (SIZE % 1000 !== 0) throw new Error('--size must be a multiple of 1000');
  const root = fs.mkdtempSync(join(tmpdir(), 'coffer-bench-dashboard-'));
  const sb = await startSandbox({ dir: join(root, 'sandbox'), controllers: false });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  let closeAll = async (): Promise<void> => undefined;
  try {
    // The catalog: policy branch `main` and catalog branch `coffer-catalog` in one repository, as `coffer run` keeps them.
    const repo = join(root, 'policy-repo');
    fs.mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    for (const [p, c] of Object.entries(policyRepo(join(root, 'repository')))) {
      fs.mkdirSync(join(repo, p, '..'), { recursive: true });
      fs.writeFileSync(join(repo, p), c);
    }
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'policies');
    let t = performance.now();
    await buildHistory(join(repo, '.git'), SIZE, 1, GIT_ENV);
    const buildSeconds = round((performance.now() - t) / 1000);
    t = performance.now();
    const source = await openSource({ source: repo, env: {} });
    const reindexed = await openCatalog({ source, cluster: 'bench', branch: 'coffer-catalog' }).reindex();
    if (reindexed.restorePoints !== SIZE) throw new Error(`reindex saw ${reindexed.restorePoints} restore points`);
    const reindexSeconds = round((performance.now() - t) / 1000);

    const client = new KubeClient(sb.kubeConfig);
    for (let i = 0; i < NAMESPACES; i++) await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${i}` } });
    for (let i = 0; i < UNPROTECTED; i++) await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `app-${i}` } });

    const token = randomBytes(16).toString('hex');
    fs.writeFileSync(join(root, 'tokens.csv'), `${token},bench,read\n`);
    // Each server gets a fresh Live: nothing cached, as right after `coffer run` starts.
    const servers: Array<ReturnType<typeof createCofferServer>> = [];
    const serve = async () => {
      const metrics = new CofferMetrics();
      const server = createCofferServer({ live: new Live({ source, client, metrics }), metrics, branch: () => 'main', tokens: new TokenStore(join(root, 'tokens.csv')) });
      servers.push(server);
      return `http://127.0.0.1:${(await listen(server, '127.0.0.1', 0)).port}`;
    };
    closeAll = async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    };
    const url = await serve();
    const get = async (path: string, base = url) => {
      const res = await fetch(`${base}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
      return res.json() as Promise<{ items: Array<{ namespace: string; state: string }>; metadata: { total: number } }>;
    };

    // API, cold then warm; the anchor reads every index blob with git.
    const apiCold = round(await time(() => get('/applications?limit=100')));
    const first = await get('/applications?limit=100');
    const all = await client.list('v1', 'namespaces');
    if (first.metadata.total !== all.length) throw new Error(`applications total ${first.metadata.total}, cluster has ${all.length} namespaces`);
    const apiWarm = await reps(() => get('/applications?limit=100'));
    const indexBlobs = git(repo, 'ls-tree', '-r', 'coffer-catalog', 'catalog/.index').trim().split('\n').map((l) => l.split(/\s+/)[2]).join('\n');
    const anchorIndexRead = await reps(async () => execFileSync('git', ['cat-file', '--batch'], { cwd: repo, input: `${indexBlobs}\n`, maxBuffer: 1 << 30 }));

    // The page.
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(`if (location.protocol === 'http:') sessionStorage.setItem('coffer.apiToken', ${JSON.stringify(token)})`);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const bare = await browser.newPage();
    const signInPage = await reps(async () => {
      await bare.goto(`${url}/#/`);
      await bare.locator('#login').waitFor({ state: 'visible' });
    });
    await bare.close();
    const appsReady = async () => {
      await page.locator('#apps-table tbody tr').first().waitFor({ timeout: 120_000 });
    };
    // First render from a server that has cached nothing yet.
    const coldUrl = await serve();
    const firstRenderCold = round(
      await time(async () => {
        await page.goto(`${coldUrl}/#/`);
        await appsReady();
      }),
    );
    const firstRender = await reps(async () => {
      await page.goto(`${url}/#/`);
      await appsReady();
    }, () => page.goto('about:blank'));
    const want = `ns-${NAMESPACES - 1}`;
    const filtered = await reps(
      async () => {
        await page.fill('#apps-search', want);
        await page.waitForFunction((w) => {
          const rows = [...document.querySelectorAll<HTMLElement>('#apps-table tbody tr')];
          return rows.length > 0 && rows.every((r) => r.dataset.namespace!.includes(w));
        }, want, { timeout: 120_000 });
      },
      async () => {
        await page.fill('#apps-search', '');
        await page.waitForFunction(() => document.querySelectorAll('#apps-table tbody tr').length > 1, undefined, { timeout: 120_000 });
      },
    );
    await page.fill('#apps-search', '');
    const stateFilter = await reps(
      async () => {
        await page.selectOption('#apps-state', 'Unprotected');
        await page.waitForFunction(() => {
          const rows = [...document.querySelectorAll<HTMLElement>('#apps-table tbody tr')];
          return rows.length > 0 && rows.every((r) => r.dataset.state === 'Unprotected');
        }, undefined, { timeout: 120_000 });
      },
      async () => {
        await page.selectOption('#apps-state', '');
        await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('#apps-table tbody tr')].some((r) => r.dataset.state !== 'Unprotected'), undefined, { timeout: 120_000 });
      },
    );
    const perNamespace = PER_DIR * POLICIES;
    const applicationPage = await reps(
      async () => {
        await page.goto(`${url}/#/apps/ns-7`);
        await page.waitForFunction((n) => document.querySelectorAll('#app-timeline circle.rp').length === n, perNamespace, { timeout: 120_000 });
      },
      () => page.goto('about:blank'),
    );
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    await context.close();
    console.log(
      JSON.stringify(
        {
          restorePoints: SIZE,
          namespaces: { protectedBySelector: NAMESPACES, total: first.metadata.total },
          buildSeconds,
          reindexSeconds,
          reps: REPS,
          loadavg: loadavg().map(round),
          api: { applicationsColdMs: apiCold, applicationsWarmMs: apiWarm, anchorGitReadAllIndexesMs: anchorIndexRead, warmRatio: round(apiWarm / anchorIndexRead) },
          page: {
            anchorSignInPageMs: signInPage,
            firstRenderColdMs: firstRenderCold,
            firstRenderMs: firstRender,
            firstRenderRatio: round(firstRender / signInPage),
            filteredViewMs: filtered,
            stateFilterMs: stateFilter,
            applicationPageMs: applicationPage,
            applicationPagePoints: perNamespace,
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await browser.close();
    await closeAll();
    await sb.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
