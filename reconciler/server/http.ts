import { parseGoDuration } from '../../compiler/schedule/index.ts';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CatalogContinueError, formatProblem, type RestorePoint, type RunFilter } from '../catalog/index.ts';
import type { CofferMetrics } from '../metrics/index.ts';
import { FILTERED_READS, forbiddenMessage, readAccess, roleAllows, visibleIn, type Access } from './access.ts';
import type { Principal, TokenStore } from './auth.ts';
import { KubeReviewError, type KubeIdentities, type KubeUser } from './kube-auth.ts';
import { APPLICATION_SORTS, PROTECTION_STATES, queryApplications, type ApplicationSort, type ProtectionState } from './applications.ts';
import { eventNamespaces, type LiveEvent } from './events.ts';
import { ApiInputError, type Live } from './live.ts';
import { mapLimit } from '../kube/wait.ts';
import { RestoreBodyError } from './restore-request.ts';
import { DASHBOARD_DIR, StaticFiles } from './static.ts';
import { ReplayGuard } from './replay.ts';
import { decideDelivery, deliveryId, PROVIDERS, TIMESTAMP_TOLERANCE_MS, verifyDelivery, type Provider } from './webhooks.ts';

export interface ServerOptions {
  live: Live;
  metrics: CofferMetrics;
  /** The policy branch pushes must target (the source's branch). */
  branch: () => string;
  /** Shared webhook secret; without one every /hooks request is refused. */
  webhookSecret?: string;
  /** API bearer tokens from a file (roles read/operate). */
  tokens?: TokenStore;
  /** Kubernetes identities: tokens the cluster's TokenReview accepts, calls its SubjectAccessReview allows. Without
   * this and `tokens` every /api request is refused (no token, no access). */
  kube?: KubeIdentities;
  /** Largest request body accepted (default 1 MiB; GitHub push payloads are far smaller). */
  maxBodyBytes?: number;
  log?: (e: Record<string, unknown>) => void;
  /** The dashboard's static files (default: the project's `dashboard/` folder); false serves none. */
  dashboard?: StaticFiles | false;
  /** The clock webhook timestamps and the replay window are measured against (tests inject one). */
  now?: () => number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** More fields of the JSON error body. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** An authenticated caller: a token-file entry or a user the cluster vouched for. */
interface Caller {
  name: string;
  principal?: Principal;
  kube?: KubeUser;
}

/**
 * `coffer run --listen`: Prometheus metrics, signed Git webhooks that trigger a reconcile, and the read/operate REST
 * API — one `node:http` server, JSON everywhere, bodies size-limited before they are read, nothing acted on before
 * the request is authenticated.
 */
export function createCofferServer(opts: ServerOptions): Server {
  const log = opts.log ?? (() => undefined);
  const maxBody = opts.maxBodyBytes ?? 1024 * 1024;
  const dashboard = opts.dashboard === false ? undefined : (opts.dashboard ?? new StaticFiles(DASHBOARD_DIR));
  const now = opts.now ?? Date.now;
  // Named deliveries are kept a day (providers redeliver within hours); generic signatures only as long as their timestamp is accepted.
  const replays = { named: new ReplayGuard(now), generic: new ReplayGuard(now, 2 * TIMESTAMP_TOLERANCE_MS + 1000) };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = statusOf(e);
      if (status === 500) log({ event: 'error', message: `${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}` });
      if (!res.headersSent) send(res, status, { error: (e as Error).message, ...(e instanceof HttpError ? e.details : {}) }, e instanceof HttpError ? e.headers : {});
      else res.end();
      if (status === 413) req.resume();
    });
  });
  // Requests Node's parser refuses (bad request line, header bytes, chunk sizes) get the same JSON shape as ours.
  server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status = e.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = `${JSON.stringify({ error: `malformed request: ${e.code ?? e.message}` })}\n`;
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return server;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://coffer.invalid');
    } catch {
      throw new HttpError(400, 'malformed request target');
    }
    const path = url.pathname.replace(/\/+$/, '') || '/';
    // Always 200: what a condition reports (a missing Secret, a bad policy commit) is not fixed by restarting the pod.
    if (path === '/healthz') {
      const h = opts.live.health();
      return void send(res, 200, { status: h.status, conditions: h.conditions });
    }
    if (path === '/readyz') return void send(res, 200, { status: 'ok' });
    if (path === '/metrics') {
      method(req, 'GET');
      res.writeHead(200, { 'content-type': opts.metrics.contentType, 'cache-control': 'no-store' });
      return void res.end(await opts.metrics.metrics());
    }
    const hook = /^\/hooks\/([a-z]+)$/.exec(path);
    if (hook) return webhook(req, res, hook[1]!);
    if (path === '/api/v1' || path.startsWith('/api/v1/')) return api(req, res, path.slice('/api/v1'.length) || '/', url.searchParams);
    if (dashboard?.serve(req, res, url.pathname)) return;
    throw new HttpError(404, `no route for ${path}`);
  }

  async function webhook(req: IncomingMessage, res: ServerResponse, provider: string): Promise<void> {
    if (!(PROVIDERS as readonly string[]).includes(provider)) throw new HttpError(404, `unknown webhook provider "${provider}" (github, gitlab, gitea, generic)`);
    method(req, 'POST');
    const p = provider as Provider;
    const body = await readBody(req, maxBody);
    if (!opts.webhookSecret || !verifyDelivery(p, req.headers, body, opts.webhookSecret)) {
      opts.metrics.webhooks.inc({ provider: p, outcome: 'unauthorized' });
      opts.live.observeWebhook(p, opts.webhookSecret ? 'bad-signature' : 'no-secret', req.socket.remoteAddress);
      log({ event: 'webhook-rejected', provider: p, remote: req.socket.remoteAddress, reason: opts.webhookSecret ? 'bad or missing signature' : 'no webhook secret configured' });
      throw new HttpError(401, opts.webhookSecret ? 'bad or missing signature' : 'webhooks are disabled: no secret configured (COFFER_WEBHOOK_SECRET or --webhook-secret-file)');
    }
    opts.live.observeWebhook(p, 'verified');
    const id = deliveryId(p, req.headers, now());
    if (!id.ok || !(p === 'generic' ? replays.generic : replays.named).admit(id.id)) {
      const reason = id.ok ? `delivery ${id.id.slice(p.length + 1, p.length + 81)} was already received: replays are refused` : id.reason;
      opts.metrics.webhooks.inc({ provider: p, outcome: 'rejected' });
      log({ event: 'webhook-rejected', provider: p, remote: req.socket.remoteAddress, reason });
      throw new HttpError(id.ok ? 409 : id.status, reason);
    }
    const d = decideDelivery(p, req.headers, body, opts.branch());
    if (!d.trigger) {
      opts.metrics.webhooks.inc({ provider: p, outcome: d.status >= 400 ? 'rejected' : 'ignored' });
      return void send(res, d.status, { triggered: false, reason: d.reason });
    }
    const woke = opts.live.trigger.request(`webhook ${p}${d.pusher ? ` (${d.pusher})` : ''}${d.commit ? ` ${d.commit.slice(0, 12)}` : ''}`);
    opts.metrics.webhooks.inc({ provider: p, outcome: 'triggered' });
    log({ event: 'webhook', provider: p, ref: d.ref, ...(d.commit ? { commit: d.commit } : {}), ...(d.pusher ? { pusher: d.pusher } : {}), queued: !woke });
    send(res, 202, { triggered: true, queued: !woke, ref: d.ref });
  }

  async function api(req: IncomingMessage, res: ServerResponse, route: string, q: URLSearchParams): Promise<void> {
    const code = (status: number, name: string) => opts.metrics.api.inc({ method: req.method ?? '', route: name, code: String(status) });
    const routeName = route.replace(/^\/(backups|policies|restores|restorepoints|applications)\/[^/]+(\/cancel)?$/, '/$1/{name}$2');
    try {
      const status = await apiRoute(req, res, route, q);
      code(status, runRoute(routeName));
    } catch (e) {
      code(statusOf(e), runRoute(routeName));
      throw e;
    }
  }

  /** Who is calling: a token-file entry first (local, constant time), else whoever the cluster's TokenReview says. */
  async function authenticate(req: IncomingMessage): Promise<Caller> {
    const challenge = { 'www-authenticate': 'Bearer realm="coffer"' };
    if (!opts.tokens && !opts.kube) throw new HttpError(401, 'the API is disabled: no token file configured (--api-tokens-file) and Kubernetes identities are off', challenge);
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer) throw new HttpError(401, req.headers.authorization ? 'malformed Authorization header: expected "Bearer <token>"' : 'missing bearer token', challenge);
    const principal = opts.tokens?.authenticate(req.headers.authorization);
    if (principal) return { name: principal.name, principal };
    if (!opts.kube) throw new HttpError(401, 'invalid bearer token', challenge);
    let r;
    try {
      r = await opts.kube.authenticate(bearer);
    } catch (e) {
      throw e instanceof KubeReviewError ? new HttpError(503, e.message, { 'retry-after': '5' }) : e;
    }
    if (!r.user) throw new HttpError(401, `invalid bearer token: ${opts.tokens ? 'not in the token file, and ' : ''}${r.error}`, challenge);
    return { name: r.user.username, kube: r.user };
  }

  /** Whether `who` may do `a`, and the authorizer's reason when not. */
  async function verdict(who: Caller, a: Access): Promise<{ allowed: boolean; reason?: string }> {
    if (who.principal) return roleAllows(who.principal.role, a) ? { allowed: true } : { allowed: false, reason: `the token file gives ${who.name} the role ${who.principal.role}; this needs operate` };
    try {
      return await opts.kube!.authorize(who.kube!, a);
    } catch (e) {
      throw e instanceof KubeReviewError ? new HttpError(503, e.message, { 'retry-after': '5' }) : e;
    }
  }

  /** Throws the 403 (JSON: the cluster's wording, reason Forbidden, the access asked for) unless `who` may do `a`. */
  async function allow(who: Caller, a: Access): Promise<void> {
    const v = await verdict(who, a);
    if (v.allowed) return;
    log({ event: 'api-forbidden', user: who.name, ...a });
    throw new HttpError(403, forbiddenMessage(who.name, a, v.reason), {}, { reason: 'Forbidden', access: { group: 'coffer.dev', ...a } });
  }

  /**
   * The caller as the dashboard shows it. Kubernetes users get a role from two cluster-scope questions: `operate` when
   * they may create restores anywhere, `read` when they may list restore points; a team limited to namespaces gets
   * `namespaced` and learns per request (a 403 names what is missing).
   */
  async function whoami(who: Caller): Promise<Record<string, unknown>> {
    if (who.principal) return { name: who.name, role: who.principal.role, can: { read: true, operate: who.principal.role === 'operate' } };
    const [read, operate] = await Promise.all([verdict(who, { verb: 'list', resource: 'restorepoints' }), verdict(who, { verb: 'create', resource: 'restores' })]);
    return { name: who.name, groups: who.kube!.groups, via: 'kubernetes', role: operate.allowed ? 'operate' : read.allowed ? 'read' : 'namespaced', can: { read: read.allowed, operate: operate.allowed } };
  }

  /**
   * Which namespaces' rows `who` sees in the lists that are filtered rather than refused (FILTERED_READS): undefined
   * for everything when they may list restore points cluster-wide (every token-file role), else a check per namespace —
   * one SubjectAccessReview each, cached like every verdict, so a team bound by RoleBindings sees its namespaces only,
   * as Argo CD shows a project's members their applications.
   */
  async function visibility(who: Caller): Promise<((namespace: string) => Promise<boolean>) | undefined> {
    if ((await verdict(who, visibleIn())).allowed) return undefined;
    return async (namespace) => (await verdict(who, visibleIn(namespace))).allowed;
  }

  /** An event for a caller who sees only some namespaces: news about the server for all, the rest by its namespaces. */
  function eventFilter(sees: (namespace: string) => Promise<boolean>): (e: LiveEvent) => Promise<boolean> {
    return async (e) => {
      const nss = eventNamespaces(e);
      if (!nss.length) return e.type === 'health' || e.type === 'catalog';
      for (const ns of nss) if (await sees(ns)) return true;
      return false;
    };
  }

  async function apiRoute(req: IncomingMessage, res: ServerResponse, route: string, q: URLSearchParams): Promise<number> {
    const live = opts.live;
    if (req.method === 'POST') {
      if (route === '/backups') {
        const who = await authenticate(req);
        const body = parseJson(await readBody(req, 64 * 1024));
        const policy = body.policy;
        const namespace = body.namespace;
        if (typeof policy !== 'string' || !policy) throw new HttpError(400, 'body must be {"policy": "<name>", "namespace": "<optional>", "ttl": "720h", "pin": false}');
        if (namespace !== undefined && typeof namespace !== 'string') throw new HttpError(400, '"namespace" must be a string');
        // Without a namespace the backup covers every namespace the policy selects: that needs the cluster scope.
        await allow(who, { verb: 'create', resource: 'backups', ...(namespace ? { namespace } : {}) });
        const keep = keepOf(body);
        const job = await live.startBackup({ policy, ...(namespace ? { namespace } : {}), ...(keep ? { keep } : {}) }, who.name);
        res.setHeader('location', `/api/v1/backups/${job.id}`);
        return send(res, 202, job);
      }
      if (route === '/restores') {
        const who = await authenticate(req);
        const body = parseJson(await readBody(req, 64 * 1024));
        // Checked once the restore point is resolved (before anything runs, a dry run included): creating restores in
        // the target namespace, and reading the restore points of the source namespace when that is another one.
        const check = async (point: { namespace: string }, target: string) => {
          await allow(who, { verb: 'create', resource: 'restores', namespace: target });
          if (point.namespace !== target) await allow(who, { verb: 'get', resource: 'restorepoints', namespace: point.namespace });
        };
        // When the body names the source namespace, check before looking anything up, so a caller who may not restore
        // there learns nothing about its restore points (not even whether they exist).
        const source = typeof body.namespace === 'string' ? body.namespace : undefined;
        const mapped = source && body.namespaceMapping && typeof body.namespaceMapping === 'object' ? (body.namespaceMapping as Record<string, unknown>)[source] : undefined;
        if (source || who.principal) await check({ namespace: source ?? '' }, typeof mapped === 'string' ? mapped : (source ?? ''));
        if (body.dryRun === true) return send(res, 200, await live.restores.preview(body, who.name, check));
        const job = await live.restores.start(body, who.name, check);
        res.setHeader('location', `/api/v1/restores/${job.id}`);
        return send(res, 202, job);
      }
      const runCancel = /^\/runs\/([^/]+)\/cancel$/.exec(route);
      if (runCancel) {
        const who = await authenticate(req);
        const id = segment(runCancel[1]!);
        const namespace = live.runningRuns().find((r) => r.run === id)?.namespace;
        await allow(who, { verb: 'create', resource: 'runs', subresource: 'cancel', name: id, ...(namespace ? { namespace } : {}) });
        // A standby replica forwards it to the Lease holder, where scheduled runs go on.
        const r = await live.cancelRunAnywhere(id, who.name);
        if (!r) throw new HttpError(404, `no run ${id} is in flight here (finished runs are in coffer get runs)`);
        return send(res, 202, r);
      }
      const cancel = /^\/(backups|restores)\/([^/]+)\/cancel$/.exec(route);
      if (cancel) {
        const who = await authenticate(req);
        const id = segment(cancel[2]!);
        const namespace = cancel[1] === 'backups' ? (await live.findJob('backup', id))?.namespace : (await live.findJob('restore', id))?.targetNamespace;
        await allow(who, { verb: 'create', resource: cancel[1] as 'backups' | 'restores', subresource: 'cancel', name: id, ...(namespace ? { namespace } : {}) });
        const job = await live.cancelAnywhere(cancel[1] === 'backups' ? 'backup' : 'restore', id, who.name);
        if (!job) throw new HttpError(404, `no ${cancel[1] === 'backups' ? 'on-demand backup' : 'restore job'} ${id}`);
        return send(res, 202, job);
      }
      if (route === '/reconcile') {
        const who = await authenticate(req);
        await allow(who, { verb: 'create', resource: 'reconciles' });
        const woke = live.trigger.request(`api (${who.name})`);
        log({ event: 'api-reconcile-requested', user: who.name });
        return send(res, 202, { triggered: true, queued: !woke });
      }
      throw new HttpError(req.method === 'POST' && ['/plan', '/policies', '/restorepoints', '/runs', '/health', '/reports/compliance', '/whoami'].includes(route) ? 405 : 404, `no POST route for /api/v1${route}`);
    }
    method(req, 'GET');
    const who = await authenticate(req);
    // The index, whoami and health need only a valid token; one job needs `get` in its namespace (checked below).
    if (!['/', '/whoami', '/health', ...FILTERED_READS].includes(route) && !/^\/(backups|restores)\/[^/]+$/.test(route)) await allow(who, readAccess(route, q));
    switch (route) {
      case '/':
        return send(res, 200, { paths: ['/api/v1/whoami', '/api/v1/health', '/api/v1/plan', '/api/v1/policies', '/api/v1/applications', '/api/v1/restorepoints', '/api/v1/runs', '/api/v1/reports/compliance', '/api/v1/backups', '/api/v1/restores', '/api/v1/events'] });
      case '/events': {
        // Server-sent events; the dashboard reads them with fetch (so the token travels in the header, never a URL).
        const sees = await visibility(who);
        live.events.attach(res, header(req, 'last-event-id'), sees && eventFilter(sees));
        return 200;
      }
      case '/applications': {
        const state = q.get('state');
        if (state && !(PROTECTION_STATES as readonly string[]).includes(state)) throw new HttpError(400, `state "${state}": expected ${PROTECTION_STATES.join(', ')}`);
        const sort = q.get('sort');
        if (sort && !(APPLICATION_SORTS as readonly string[]).includes(sort)) throw new HttpError(400, `sort "${sort}": expected ${APPLICATION_SORTS.join(', ')}`);
        const order = q.get('order');
        if (order && order !== 'asc' && order !== 'desc') throw new HttpError(400, `order "${order}": expected asc or desc`);
        // Checked before anything is computed: a bad query is the client's mistake whatever the cluster's state.
        const query = {
          ...opt(q, 'q'),
          ...opt(q, 'policy'),
          ...(state ? { state: state as ProtectionState } : {}),
          ...(sort ? { sort: sort as ApplicationSort } : {}),
          desc: order === 'desc',
          limit: limit(q),
          offset: offsetOf(q.get('continue')),
        };
        const sees = await visibility(who);
        let rows = await live.applications();
        if (sees) {
          const checked = await mapLimit(rows, 8, (a) => sees(a.namespace));
          const failed = checked.find((c) => c.status === 'rejected');
          if (failed) throw (failed as PromiseRejectedResult).reason;
          rows = rows.filter((_, i) => (checked[i] as PromiseFulfilledResult<boolean>).value);
        }
        const page = queryApplications(rows, query);
        return send(res, 200, { metadata: { total: page.total, counts: page.counts, ...(page.next !== undefined ? { continue: Buffer.from(JSON.stringify({ offset: page.next })).toString('base64url') } : {}) }, items: page.items });
      }
      case '/whoami':
        return send(res, 200, await whoami(who));
      case '/restores': {
        const { catalog } = await live.current();
        // `namespace` narrows to restores into it; `source` to restores of its restore points (an application's history).
        const ns = q.get('namespace');
        const src = q.get('source');
        const jobs = (await live.allJobs('restore')).filter((j) => (!ns || j.targetNamespace === ns) && (!src || j.restorePoint.namespace === src));
        const ids = new Set(jobs.map((j) => j.id));
        const recorded = (await live.restores.recorded(catalog)).filter((r) => !ids.has(r.name) && (!ns || r.target.namespace === ns) && (!src || r.source.namespace === src)).map(({ doc: _d, ...r }) => r);
        return send(res, 200, { jobs, recorded: recorded.slice(0, limit(q)) });
      }
      case '/health':
        return send(res, 200, live.health());
      case '/plan': {
        const { plan } = await live.current();
        return send(res, 200, plan);
      }
      case '/policies': {
        const { plan } = await live.current();
        return send(res, 200, { items: plan.policies });
      }
      case '/restorepoints': {
        // Paged like the Kubernetes list API: `limit` + `continue`; pages read one catalog snapshot. Order: cluster,
        // namespace, policy, then start time (oldest first) — the order the catalog is kept in, so a page costs a page.
        const { catalog } = await live.current();
        const phase = q.get('phase');
        const since = q.get('since');
        const page = await catalog.listRestorePoints({
          ...opt(q, 'namespace'),
          ...opt(q, 'policy'),
          ...opt(q, 'cluster'),
          ...opt(q, 'continue'),
          limit: limit(q),
          ...(phase ? { phase: phase as RestorePoint['spec']['phase'] } : {}),
          ...(since ? { since: time(since, 'since') } : {}),
        });
        const snap = await catalog.snapshot(page.commit);
        const items = page.items.map((i) => snap!.document(i.path)).filter((d) => d !== undefined);
        const warnings = page.problems.map(formatProblem);
        return send(res, 200, { metadata: { ...(page.continue ? { continue: page.continue } : {}) }, items, ...(warnings.length ? { warnings } : {}) });
      }
      case '/runs': {
        const { catalog } = await live.current();
        const type = q.get('type');
        if (type && !['backup', 'restore', 'retention'].includes(type)) throw new HttpError(400, `type "${type}": expected backup, restore or retention`);
        const filter: RunFilter & { continue?: string } = { ...opt(q, 'namespace'), ...opt(q, 'policy'), ...opt(q, 'cluster'), ...opt(q, 'continue'), limit: limit(q) };
        if (type) filter.type = type as RunFilter['type'] & string;
        const phase = q.get('phase');
        if (phase) filter.phase = phase as RunFilter['phase'] & string;
        const since = q.get('since');
        if (since) filter.since = new Date(time(since, 'since'));
        const page = await catalog.listRuns(filter);
        return send(res, 200, { metadata: { ...(page.continue ? { continue: page.continue } : {}) }, items: page.items });
      }
      case '/reports':
      case '/reports/compliance':
        return send(res, 200, await live.compliance());
      case '/backups':
        return send(res, 200, { items: (await live.allJobs('backup')).filter((j) => !q.get('namespace') || j.namespace === q.get('namespace')) });
    }
    const m = /^\/(backups|policies|restores|restorepoints|applications)\/([^/]+)$/.exec(route);
    if (m?.[1] === 'applications') {
      const ns = segment(m[2]!);
      const app = (await live.applications()).find((a) => a.namespace === ns);
      if (!app) throw new HttpError(404, `no namespace "${ns}" in the cluster or the catalog`);
      // What the page may offer here (a team's rights differ per namespace); the POST is still checked on its own.
      const [restore, backup] = await Promise.all([verdict(who, { verb: 'create', resource: 'restores', namespace: ns }), verdict(who, { verb: 'create', resource: 'backups', namespace: ns })]);
      return send(res, 200, { application: app, tiers: await live.tiers(ns), can: { restore: restore.allowed, backup: backup.allowed } });
    }
    if (m?.[1] === 'restorepoints') {
      const name = segment(m[2]!);
      const ns = q.get('namespace');
      if (!ns) throw new HttpError(400, 'namespace: required (restore point names are unique per namespace and policy)');
      const d = await live.restorePointDetails(ns, name);
      if (!d) throw new HttpError(404, `no restore point "${name}" of namespace "${ns}" in the catalog`);
      return send(res, 200, d);
    }
    if (m?.[1] === 'restores') {
      const id = segment(m[2]!);
      const job = await live.findJob('restore', id);
      const { catalog } = await live.current();
      const doc = (await live.restores.recorded(catalog)).find((r) => r.name === id)?.doc;
      const namespace = job?.targetNamespace ?? doc?.spec.target.namespace;
      await allow(who, { verb: 'get', resource: 'restores', name: id, ...(namespace ? { namespace } : {}) });
      if (!job && !doc) throw new HttpError(404, `no restore ${id} (neither a job of a Coffer replica nor a RestoreResult in the catalog)`);
      return send(res, 200, { ...(job ? { job } : {}), ...(doc ? { result: doc } : {}) });
    }
    if (m?.[1] === 'backups') {
      const job = await live.findJob('backup', segment(m[2]!));
      await allow(who, { verb: 'get', resource: 'backups', name: segment(m[2]!), ...(job?.namespace ? { namespace: job.namespace } : {}) });
      if (!job) throw new HttpError(404, `no on-demand backup ${m[2]}`);
      return send(res, 200, job);
    }
    if (m?.[1] === 'policies') {
      const { plan } = await live.current();
      const p = plan.policies.find((x) => x.name === segment(m[2]!));
      if (!p) throw new HttpError(404, `policy "${m[2]}" not found`);
      return send(res, 200, p);
    }
    throw new HttpError(404, `no route for /api/v1${route}`);
  }
}

/** HTTP status of a failure: ours carry one, Coffer errors are unprocessable input, anything else is our bug. */
function statusOf(e: unknown): number {
  if (e instanceof HttpError || e instanceof ApiInputError || e instanceof RestoreBodyError || e instanceof CatalogContinueError) return e.status;
  return (e as { code?: string }).code?.startsWith('E_') ? 422 : 500;
}

/** One decoded path segment; a malformed percent-escape is the client's mistake (400), not a 500 with a stack. */
function segment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `malformed percent-escape in path segment "${raw.slice(0, 100)}"`);
  }
}

function method(req: IncomingMessage, want: string): void {
  if (req.method !== want && !(want === 'GET' && req.method === 'HEAD')) throw new HttpError(405, `${req.method} not allowed; use ${want}`, { allow: want });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
  return status;
}

/** Reads at most `max` bytes: a larger Content-Length is refused before reading, a longer stream as soon as it passes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) return Promise.reject(new HttpError(413, `body of ${declared} bytes exceeds the ${max}-byte limit`, { connection: 'close' }));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        done = true;
        reject(new HttpError(413, `body exceeds the ${max}-byte limit`, { connection: 'close' }));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
      done = true;
    });
    req.on('error', (e) => {
      if (!done) reject(e);
      done = true;
    });
  });
}

function parseJson(body: Buffer): Record<string, unknown> {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof v === 'object' && v && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'body must be a JSON object');
}

/** `ttl` (a Go duration, like `coffer backup --ttl`) or `pin: true` of an on-demand backup; checked before anything starts. */
function keepOf(body: Record<string, unknown>): { ttlMs: number } | { pin: true } | undefined {
  const { ttl, pin } = body;
  if (pin !== undefined && typeof pin !== 'boolean') throw new HttpError(400, '"pin" must be true or false');
  if (ttl !== undefined && pin) throw new HttpError(400, '"ttl" and "pin" cannot be used together: a pinned restore point is kept until deleted');
  if (pin) return { pin: true };
  if (ttl === undefined) return undefined;
  const seconds = typeof ttl === 'string' ? parseGoDuration(ttl) : undefined;
  if (!seconds) throw new HttpError(400, `"ttl" ${JSON.stringify(ttl)}: expected a positive duration such as "720h" or "24h30m"`);
  return { ttlMs: seconds * 1000 };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The offset an applications `continue` token holds; anything else is the client's mistake (400). */
function offsetOf(token: string | null): number {
  if (!token) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { offset?: unknown };
    if (Number.isInteger(offset) && (offset as number) >= 0) return offset as number;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'continue: not a token this server gave out');
}

function opt(q: URLSearchParams, key: string): Record<string, string> {
  const v = q.get(key);
  return v ? { [key]: v } : {};
}

function limit(q: URLSearchParams): number {
  const raw = q.get('limit') ?? '100';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new HttpError(400, `limit "${raw}": expected an integer from 1 to 10000`);
  return n;
}

function time(v: string, name: string): string {
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new HttpError(400, `${name} "${v}": expected an RFC 3339 time`);
  return new Date(t).toISOString();
}

/** Listens on host:port (port 0 = any free one) and returns the address actually bound. */
export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** `127.0.0.1:8080`, `[::1]:8080` or `:8080` (loopback) → host and port; refuses anything unparseable. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) throw new ListenError(`--listen "${text}": expected HOST:PORT such as 127.0.0.1:8080`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export class ListenError extends Error {
  readonly code = 'E_USAGE';
}

/** One metrics route for every run's cancel (POST /api/v1/runs/RUN/cancel), not one per run name. */
function runRoute(route: string): string {
  return /^\/runs\/[^/]+\/cancel$/.test(route) ? '/runs/{name}/cancel' : route;
}
