/**
 * The sandbox Kubernetes API server: HTTP routing of the REST protocol onto
 * the store, with the semantics clients depend on (optimistic concurrency,
 * generation, status/scale subresources, the four patch types, dry run,
 * finalizers, watch) and the discovery/OpenAPI documents kubectl reads.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { AddressInfo } from 'node:net';
import { forwardToService, resolveServiceEndpoint, SERVICE_PROXY_PATH, type ProxyStore } from './service-proxy.ts';
import { ApiError, badRequest, conflict, alreadyExists, notFound, notFoundPath, methodNotAllowed, forbidden, unsupportedMedia, invalid, gone } from './errors.ts';
import { Store, type StoreEvent } from './store.ts';
import { ResourceRegistry, apiVersionOf, groupResource, splitApiVersion, type ResourceType } from './resources.ts';
import { aggregatedDiscovery, apiGroupDoc, apiGroupList, apiResourceList, apiVersions } from './discovery.ts';
import { clone, deepEqual, isObject, type KObject } from './object.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.ts';
import { fieldMatcher, labelMatcher, formatRequirements, requirementsFromObject, type LabelSelectorObject } from './selectors.ts';
import { validateBuiltin, validateName, validateMetadataMaps, unknownFields, validateCustom, pruneCustom, type CrdSchema } from './validate.ts';
import { applyDefaults, validateKind, validateImmutable, resetStatusOnCreate, type Allocators } from './admission.ts';
import { PodSecurityHook } from './podsecurity/hook.ts';
import { recordUpdate, serverSideApply } from './managed.ts';
import { columnsFor, toTable, type IncludeObject, type PrinterColumn } from './table.ts';
import { JSONPath } from './jsonpath.ts';
import { celRuleErrors } from './cel.ts';
import { OpenApi } from './openapi.ts';
import { decodeK8sProtobuf, ProtobufError } from './proto/decode.ts';
import { checkEvictionBody, decideEviction } from './eviction.ts';
import type { PodSubresources } from '../runtime/types.ts';
import type { Authenticator } from './auth/authenticator.ts';
import { AuditLog } from './auth/audit.ts';
import { requestUser, setRequestUser } from './auth/context.ts';
import { selfSubjectReview, tokenRequest, tokenReview, unauthorized } from './auth/reviews.ts';
import { admitServiceAccount, isTokenSecretOf, publishRootCa, ROOT_CA_CONFIGMAP, SA_TOKEN_SECRET_TYPE, tokenSecretUpdate } from './auth/serviceaccount-admission.ts';
import { dualProtocolServer } from './auth/tls-listener.ts';
import type { Attributes, Authorizer, UserInfo } from './auth/types.ts';
import { ALWAYS_ALLOW, isPrivileged, RbacAuthorizer } from './rbac/authorizer.ts';
import { StoreRbacLister } from './rbac/store-lister.ts';
import { attributesOf, requestAttributes, requestInfo } from './rbac/requestinfo.ts';
import { forbidden as rbacForbidden } from './rbac/forbidden.ts';
import { impersonate, wantsImpersonation } from './rbac/impersonation.ts';
import { answerReview, type RuleResolver } from './rbac/reviews.ts';
import { checkBindingWrite, checkRoleWrite } from './rbac/escalation.ts';
import { rbacDefaults, validateRbac } from './rbac/validation.ts';
import { aggregationPass } from './rbac/aggregation.ts';
import type { BindingObject, PolicyRule, RoleObject } from './rbac/types.ts';

type Rec = Record<string, unknown>;

export interface ApiServerOptions {
  store?: Store;
  registry?: ResourceRegistry;
  /** Diagnostics sink (default silent). */
  log?: (line: string) => void;
  /** Clock, injectable for tests; milliseconds since epoch. */
  now?: () => number;
  /**
   * Resolves bearer tokens and signs ServiceAccount tokens. Without one there
   * is no authentication (every caller is the admin) and no token API.
   */
  authenticator?: Authenticator;
  /** Authentication (and the authorizer) applied to requests; false serves everyone as the admin (the benchmark's "off"). Default true. */
  enforce?: boolean;
  /** Serving certificate and key (PEM): the port then speaks HTTPS too, told apart from HTTP by the first byte. */
  tls?: { cert: string; key: string };
  /** The CA that clients in Pods trust (`kube-root-ca.crt` in every namespace). */
  rootCaPem?: string;
  /** Audit ring size (default 10,000 requests). */
  auditCapacity?: number;
}

interface Target {
  t: ResourceType;
  /** Version in the URL (may differ from storage version for multi-version CRDs). */
  version: string;
  namespace?: string;
  name?: string;
  sub?: string;
  /** Who asks; absent for the server's own writes (bootstrap, GC, controllers inside the server), which no RBAC check applies to. */
  user?: UserInfo;
}

interface CrdInfo {
  schemas: Map<string, CrdSchema | undefined>;
  raw: Map<string, Rec | undefined>;
  printerColumns: Map<string, PrinterColumn[]>;
  subresources: Map<string, Rec>;
}

/** The audit's user for requests whose credentials did not authenticate (Kubernetes logs an empty user). */
const NOBODY = Object.freeze({ username: '', groups: [] as string[] });
const MAX_BODY = 64 * 1024 * 1024;
const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

/** The Kubernetes minor version this server reports (`/version`) and evaluates Pod Security `latest` as. */
export const SERVER_MINOR = 32;

function rec(v: unknown): Rec {
  return isObject(v) ? v : {};
}

export class ApiServer {
  readonly store: Store;
  readonly registry: ResourceRegistry;
  readonly http: Server;
  podSubresources?: PodSubresources;
  private crds = new Map<string, CrdInfo>();
  private log: (line: string) => void;
  private now: () => number;
  private watches = new Set<() => void>();
  private ipNext = 10;
  private usedIPs = new Set<string>();
  private nodePortNext = 30000;
  readonly openapi: OpenApi;
  private gcQueue: (() => void)[] = [];
  private gcScheduled = false;
  readonly authenticator?: Authenticator;
  readonly enforce: boolean;
  /** Every request's user, verb, target and answer code (bounded ring). */
  readonly audit: AuditLog;
  private readonly https?: HttpsServer;
  private listener?: NetServer;
  private readonly rawSockets = new Set<Socket>();
  private readonly rootCaPem?: string;
  readonly authorizer: Authorizer & RuleResolver;
  private readonly rbacLister: StoreRbacLister;
  private aggregationQueued = false;
  /** Requests the authorizer already described (their audit entry reuses the description). */
  private readonly described = new WeakMap<IncomingMessage, Attributes>();
  private readonly podSecurity: PodSecurityHook;

  constructor(opts: ApiServerOptions = {}) {
    this.store = opts.store ?? new Store();
    this.podSecurity = new PodSecurityHook(this.store, SERVER_MINOR);
    this.registry = opts.registry ?? new ResourceRegistry();
    this.log = opts.log ?? (() => {});
    this.now = opts.now ?? Date.now;
    this.authenticator = opts.authenticator;
    this.enforce = opts.enforce ?? true;
    this.audit = new AuditLog(opts.auditCapacity);
    this.rootCaPem = opts.rootCaPem;
    this.openapi = new OpenApi(this.registry, (gr, v) => this.crds.get(gr)?.raw.get(v));
    this.rbacLister = new StoreRbacLister(this.store);
    // RBAC as `--authorization-mode=RBAC`; without enforcement, AlwaysAllow.
    this.authorizer = opts.enforce === false ? ALWAYS_ALLOW : new RbacAuthorizer(this.rbacLister);
    for (const [gr, o] of this.store.entries()) {
      if (gr === 'customresourcedefinitions.apiextensions.k8s.io') this.installCrd(o);
      if (gr === 'services') for (const ip of (rec(o.spec).clusterIPs as string[]) ?? []) this.usedIPs.add(ip);
    }
    this.store.subscribe((e) => this.onEvent(e));
    const serve = (req: IncomingMessage, res: ServerResponse) => this.serve(req, res);
    this.http = createServer(serve);
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.http.keepAliveTimeout = 30_000;
    if (opts.tls) {
      this.https = createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, serve);
      this.https.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
      this.https.keepAliveTimeout = 30_000;
    }
  }

  /** Listens on `host:port` and returns the plain-HTTP URL; with `tls` the same port also speaks HTTPS (`httpsUrl`). */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    const server: NetServer = this.https ? (this.listener = dualProtocolServer(this.http, this.https)) : this.http;
    if (this.listener) {
      // Connections that never sent a byte belong to neither HTTP server; close() must still end them.
      this.listener.on('connection', (s) => {
        this.rawSockets.add(s);
        s.once('close', () => this.rawSockets.delete(s));
      });
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    return `http://${host}:${a.port}`;
  }

  /** `https://host:port` of the listening server, when it serves TLS. */
  get httpsUrl(): string | undefined {
    if (!this.https || !this.listener) return undefined;
    const a = this.listener.address() as AddressInfo | null;
    return a ? `https://${a.address}:${a.port}` : undefined;
  }

  async close(): Promise<void> {
    for (const stop of [...this.watches]) stop();
    this.http.closeAllConnections?.();
    this.https?.closeAllConnections?.();
    if (this.listener) {
      for (const s of this.rawSockets) s.destroy();
      await new Promise<void>((resolve) => this.listener!.close(() => resolve()));
      return;
    }
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  /** Creates `obj` unless an object of that name exists (server bootstrap; no field manager). */
  ensure(obj: KObject): KObject {
    const { group, version } = splitApiVersion(obj.apiVersion);
    const t = this.registry.byKind(group, version, obj.kind);
    if (!t) throw new Error(`no type for ${obj.apiVersion} ${obj.kind}`);
    const existing = this.store.get(groupResource(t), obj.metadata.namespace, obj.metadata.name!);
    if (existing) return existing;
    const created = this.create({ t, version, namespace: obj.metadata.namespace }, clone(obj), new URLSearchParams(), undefined, '', true);
    this.drain();
    return created;
  }

  /** Runs queued controller work now (bootstrap wants CRDs served before it returns). */
  drain(): void {
    while (this.gcQueue.length) {
      const jobs = this.gcQueue.splice(0);
      for (const j of jobs) j();
    }
  }

  // ---------------------------------------------------------------- routing

  /**
   * The filter chain in front of every handler, as kube-apiserver orders it:
   * authentication (401 for credentials that do not resolve; none at all is
   * `system:anonymous`), then the audit entry written when the response ends.
   */
  private serve(req: IncomingMessage, res: ServerResponse): void {
    const started = this.now();
    const denied = this.authenticate(req);
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      this.audit.record(denied ? requestAttributes(req.method ?? 'GET', req.url ?? '/', NOBODY) : (this.described.get(req) ?? requestAttributes(req.method ?? 'GET', req.url ?? '/', requestUser(req))), res.statusCode, started);
    };
    res.once('finish', record);
    res.once('close', record);
    if (denied) return this.fail(res, denied);
    this.handle(req, res).catch((err) => this.fail(res, err));
  }

  /** Sets the request's user, or returns the error to answer with (shared by HTTP requests and WebSocket upgrades). */
  private authenticate(req: IncomingMessage): ApiError | undefined {
    if (!this.enforce || !this.authenticator) return undefined;
    let user;
    try {
      user = this.authenticator.authenticateRequest(req);
    } catch (e) {
      this.log(`authentication failed: ${(e as Error)?.stack ?? e}`);
      return new ApiError(500, 'InternalError', `Internal error occurred: ${(e as Error)?.message ?? String(e)}`);
    }
    if (!user) return unauthorized();
    setRequestUser(req, user);
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    const accept = String(req.headers.accept ?? '');
    const user = this.admit(req, url);

    if (path === '/version') return this.send(res, 200, { major: '1', minor: String(SERVER_MINOR), gitVersion: `v1.${SERVER_MINOR}.0-coffer-sandbox`, gitCommit: '', gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z', goVersion: 'n/a', compiler: 'tsx', platform: `${process.platform}/${process.arch}` });
    if (path === '/healthz' || path === '/readyz' || path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if (path === '/api' || path === '/apis') {
      const agg = accept.match(/as=APIGroupDiscoveryList/) ? (accept.includes('v=v2;') || accept.includes('v=v2,') || /v=v2(;|,|$)/.test(accept) ? 'apidiscovery.k8s.io/v2' : 'apidiscovery.k8s.io/v2beta1') : undefined;
      if (agg) {
        res.setHeader('content-type', `application/json;g=apidiscovery.k8s.io;v=${agg.split('/')[1]};as=APIGroupDiscoveryList`);
        return this.sendRaw(res, 200, JSON.stringify(aggregatedDiscovery(this.registry, path === '/api', agg)), true);
      }
      return this.send(res, 200, path === '/api' ? apiVersions(String(req.headers.host ?? '127.0.0.1')) : apiGroupList(this.registry));
    }
    if (path === '/openapi/v2') {
      // Only the JSON form exists here; a protobuf-only client gets 404 and falls back to its compiled-in types.
      if (accept.includes('protobuf') && !accept.includes('json')) throw notFoundPath();
      res.setHeader('content-type', 'application/json');
      return this.sendRaw(res, 200, this.openapi.v2Json(), true);
    }
    if (path === '/openapi/v3') return this.send(res, 200, this.openapi.v3Root());
    if (path.startsWith('/openapi/v3/')) {
      const doc = this.openapi.v3Doc(path.slice('/openapi/v3/'.length));
      if (!doc) throw notFoundPath();
      res.setHeader('content-type', 'application/json');
      res.setHeader('cache-control', 'public, immutable');
      return this.sendRaw(res, 200, doc, true);
    }

    // The proxy keeps the path's own trailing slash: url.pathname, not the trimmed `path`.
    const proxied = SERVICE_PROXY_PATH.exec(url.pathname);
    if (proxied) {
      const store: ProxyStore = { get: (plural, ns, name) => this.store.get(plural, ns, name), pods: (ns) => this.store.list('pods', ns) };
      const to = resolveServiceEndpoint(store, decodeURIComponent(proxied[1]!), decodeURIComponent(proxied[2]!));
      return forwardToService(req, res, to, proxied[3] ?? '/', url.search);
    }
    const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api') {
      group = '';
      version = segs[1];
      rest = segs.slice(2);
      if (segs.length === 2) {
        const doc = apiResourceList(this.registry, '', version);
        if (!doc) throw notFoundPath();
        return this.send(res, 200, doc);
      }
    } else if (segs[0] === 'apis') {
      group = segs[1];
      version = segs[2];
      rest = segs.slice(3);
      if (segs.length === 2) {
        const doc = apiGroupDoc(this.registry, group);
        if (!doc) throw notFoundPath();
        return this.send(res, 200, doc);
      }
      if (segs.length === 3) {
        const doc = apiResourceList(this.registry, group, version);
        if (!doc) throw notFoundPath();
        return this.send(res, 200, doc);
      }
    } else throw notFoundPath();

    let watchPrefix = false;
    if (rest[0] === 'watch') {
      watchPrefix = true;
      rest = rest.slice(1);
    }
    const target = this.resolve(group, version, rest);
    if (!target) throw notFoundPath();
    if (watchPrefix) q.set('watch', 'true');
    target.user = user;
    return this.dispatch(req, res, method, target, q, accept);
  }

  private resolve(group: string, version: string, rest: string[]): Target | undefined {
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const inner = this.registry.lookup(group, version, rest[2]);
      if (inner && inner.namespaced) {
        namespace = rest[1];
        rest = rest.slice(2);
      }
    }
    const t = this.registry.lookup(group, version, rest[0]);
    if (!t) return undefined;
    if (t.namespaced && !namespace && rest.length > 1) return undefined;
    if (rest.length > 3) return undefined;
    return { t, version, namespace, name: rest[1], sub: rest[2] };
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, method: string, tg: Target, q: URLSearchParams, accept: string): Promise<void> {
    const { t, name, sub } = tg;
    if (t.group === 'authentication.k8s.io') return this.authenticationReview(req, res, tg);
    if (sub === 'token' && t.resource === 'serviceaccounts' && t.group === '') return this.serviceAccountToken(req, res, method, tg);
    if (t.review) {
      if (method !== 'POST' || name) throw methodNotAllowed();
      const body = await this.readJson(req);
      const ns = rec(body.metadata).namespace;
      if (t.namespaced && ns && ns !== tg.namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      const status = answerReview(t.kind, body, { authorizer: this.authorizer, user: requestUser(req), namespace: tg.namespace });
      const metadata = { ...rec(body.metadata), ...(t.namespaced ? { namespace: tg.namespace } : {}), creationTimestamp: null };
      return this.send(res, 201, { ...body, apiVersion: apiVersionOf(t.group, tg.version), kind: t.kind, metadata, status });
    }
    if (t.namespaced && tg.namespace === undefined && name) throw notFoundPath();
    if (sub) {
      if (sub === 'status' && t.status) return this.dispatchMain(req, res, method, tg, q, accept, 'status');
      if (sub === 'scale' && t.scale) return this.scale(req, res, method, tg, q);
      if (t.resource === 'pods' && t.group === '') {
        if (sub === 'log') {
          if (method !== 'GET') throw methodNotAllowed();
          this.getOrThrow(tg);
          if (!this.podSubresources) throw new ApiError(503, 'ServiceUnavailable', 'the pod runtime is not running');
          return this.podSubresources.log(req, res, { namespace: tg.namespace!, name: name!, query: q });
        }
        if (sub === 'exec' || sub === 'attach') throw badRequest('Upgrade request required');
        if (sub === 'binding' && method === 'POST') return this.binding(req, res, tg);
        if (sub === 'eviction' && method === 'POST') return this.eviction(req, res, tg, q);
      }
      if (t.resource === 'namespaces' && t.group === '' && sub === 'finalize' && method === 'PUT') return this.dispatchMain(req, res, 'PUT', tg, q, accept, 'finalize');
      throw notFoundPath();
    }
    return this.dispatchMain(req, res, method, tg, q, accept);
  }

  private async dispatchMain(req: IncomingMessage, res: ServerResponse, method: string, tg: Target, q: URLSearchParams, accept: string, sub?: string): Promise<void> {
    const { name } = tg;
    switch (method) {
      case 'GET':
        if (!name) return q.get('watch') === 'true' || q.get('watch') === '1' ? this.watch(req, res, tg, q, accept) : this.list(res, tg, q, accept);
        if (q.get('watch') === 'true') {
          q.set('fieldSelector', `metadata.name=${name}`);
          return this.watch(req, res, { ...tg, name: undefined }, q, accept);
        }
        return this.sendObject(res, 200, this.convertOut(this.getOrThrow(tg), tg), tg, q, accept);
      case 'POST': {
        if (name) throw methodNotAllowed();
        const body = await this.readJson(req);
        const created = this.create(tg, body, q, res, String(req.headers['user-agent'] ?? ''));
        return this.sendObject(res, 201, this.convertOut(created, tg), tg, q, accept);
      }
      case 'PUT': {
        if (!name) throw methodNotAllowed();
        const body = await this.readJson(req);
        const [obj, code] = this.update(tg, body, q, res, String(req.headers['user-agent'] ?? ''), sub);
        return this.sendObject(res, code, this.convertOut(obj, tg), tg, q, accept);
      }
      case 'PATCH': {
        if (!name) throw methodNotAllowed();
        const ctype = String(req.headers['content-type'] ?? '').split(';')[0].trim();
        const raw = await this.readBody(req);
        const [obj, code] = this.patch(tg, ctype, raw, q, res, String(req.headers['user-agent'] ?? ''), sub);
        return this.sendObject(res, code, this.convertOut(obj, tg), tg, q, accept);
      }
      case 'DELETE': {
        const raw = await this.readBody(req);
        const pb = String(req.headers['content-type'] ?? '').startsWith('application/vnd.kubernetes.protobuf');
        const opts = raw.length ? rec(pb ? this.parseProtobuf(raw) : this.parseJson(raw)) : {};
        if (!name) return this.send(res, 200, this.deleteCollection(tg, q, opts));
        const [body, code] = this.delete(tg, q, opts);
        return this.send(res, code, body);
      }
      default:
        throw methodNotAllowed();
    }
  }

  // ------------------------------------------------------ authentication API

  private tokenAuthenticator(): Authenticator {
    if (!this.authenticator) throw new ApiError(503, 'ServiceUnavailable', 'this API server has no token authenticator');
    return this.authenticator;
  }

  /** TokenReview and SelfSubjectReview: create-only, answered on the spot, never stored. */
  private async authenticationReview(req: IncomingMessage, res: ServerResponse, tg: Target): Promise<void> {
    if (req.method !== 'POST' || tg.name) throw methodNotAllowed();
    const body = await this.readJson(req);
    const av = apiVersionOf(tg.t.group, tg.version);
    if (tg.t.kind === 'TokenReview') return this.send(res, 201, tokenReview(this.tokenAuthenticator(), body, av));
    return this.send(res, 201, selfSubjectReview(requestUser(req), av, this.nowIso()));
  }

  /** `serviceaccounts/NAME/token` (TokenRequest): a signed, expiring, optionally object-bound token. */
  private async serviceAccountToken(req: IncomingMessage, res: ServerResponse, method: string, tg: Target): Promise<void> {
    if (method !== 'POST') throw methodNotAllowed();
    if (!tg.namespace || !tg.name) throw notFoundPath();
    const body = await this.readJson(req);
    this.send(res, 201, tokenRequest(this.tokenAuthenticator(), this.store, tg.namespace, tg.name, body, this.nowIso()));
  }

  // -------------------------------------------------------- authorization

  /**
   * The filters kube-apiserver runs before any handler: impersonation (the
   * impersonated user replaces the caller for everything after), then
   * authorization of the request as RequestInfo describes it. Throws the 403.
   */
  private admit(req: IncomingMessage, url: URL): UserInfo {
    let user = requestUser(req);
    if (wantsImpersonation(req.headers)) {
      const as = impersonate(req.headersDistinct, user, this.authorizer);
      if (as) {
        user = as;
        setRequestUser(req, user);
      }
    }
    // Allowed whatever the request is: skip describing it (the admin's every request comes through here).
    if (this.authorizer === ALWAYS_ALLOW || isPrivileged(user)) return user;
    const attrs = attributesOf(user, requestInfo(req.method ?? 'GET', url.pathname, url.searchParams));
    this.described.set(req, attrs);
    const d = this.authorizer.authorize(attrs);
    if (d.decision !== 'allow') throw rbacForbidden(attrs, d.reason);
    return user;
  }

  /** Defaults and escalation prevention for writes of roles and bindings by a requester (tg.user); the server's own writes skip the check. */
  private rbacAdmission(tg: Target, obj: KObject, old?: KObject): void {
    const t = tg.t;
    if (t.group !== 'rbac.authorization.k8s.io') return;
    rbacDefaults(t.kind, obj as unknown as Rec);
    if (!tg.user || this.authorizer === ALWAYS_ALLOW) return;
    const ctx = { authorizer: this.authorizer, lister: this.rbacLister, user: tg.user };
    const ns = t.namespaced ? (tg.namespace ?? '') : '';
    const refusal =
      t.kind === 'Role' || t.kind === 'ClusterRole'
        ? checkRoleWrite(ctx, ns, old ? (tg.name ?? '') : '', obj as unknown as RoleObject, old as unknown as RoleObject | undefined)
        : checkBindingWrite(ctx, ns, obj as unknown as BindingObject, old as unknown as BindingObject | undefined);
    if (refusal) throw refusal;
  }

  /** The ClusterRole aggregation controller: rewrites aggregated roles' rules until a pass changes nothing. */
  private aggregateClusterRoles(): void {
    this.aggregationQueued = false;
    const gr = 'clusterroles.rbac.authorization.k8s.io';
    for (let pass = 0; pass < 10; pass++) {
      const changes = aggregationPass([...this.store.list(gr)] as unknown as RoleObject[]);
      if (!changes.length) return;
      for (const c of changes) {
        const cur = this.store.get(gr, undefined, c.name);
        if (!cur) continue;
        const next = clone(cur);
        (next as unknown as { rules: PolicyRule[] }).rules = c.rules;
        this.store.put(gr, next, 'MODIFIED');
      }
    }
    this.log('clusterrole aggregation did not settle after 10 passes');
  }

  // ------------------------------------------------------------- helpers

  private send(res: ServerResponse, code: number, body: unknown): void {
    res.setHeader('content-type', 'application/json');
    this.sendRaw(res, code, JSON.stringify(body), false);
  }

  private sendRaw(res: ServerResponse, code: number, body: string, keepType: boolean): void {
    if (!keepType) res.setHeader('content-type', 'application/json');
    res.setHeader('cache-control', res.getHeader('cache-control') ?? 'no-cache, private');
    res.writeHead(code);
    res.end(body);
  }

  private fail(res: ServerResponse, err: unknown): void {
    const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error)?.message ?? String(err)}`);
    if (!(err instanceof ApiError)) this.log(`internal error: ${(err as Error)?.stack ?? err}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    this.send(res, e.code, e.toStatus());
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of req) {
      n += (c as Buffer).length;
      if (n > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks);
  }

  private parseJson(raw: Buffer): unknown {
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw badRequest(`Object 'Kind' is missing in '${raw.toString('utf8').slice(0, 200)}'`);
    }
  }

  private parseProtobuf(raw: Buffer): unknown {
    try {
      return decodeK8sProtobuf(raw);
    } catch (e) {
      if (e instanceof ProtobufError || e instanceof RangeError || e instanceof SyntaxError) throw badRequest(`error decoding protobuf body: ${(e as Error).message}`);
      throw e;
    }
  }

  private async readJson(req: IncomingMessage): Promise<KObject> {
    const ctype = String(req.headers['content-type'] ?? 'application/json').split(';')[0].trim();
    const raw = await this.readBody(req);
    let v: unknown;
    if (ctype === 'application/json' || ctype === '') v = this.parseJson(raw);
    else if (ctype === 'application/yaml') v = parseYaml(raw.toString('utf8'));
    else if (ctype === 'application/vnd.kubernetes.protobuf') v = this.parseProtobuf(raw);
    else throw unsupportedMedia(ctype);
    if (!isObject(v)) throw badRequest(`Object 'Kind' is missing in '${raw.toString('utf8').slice(0, 200)}'`);
    return v as KObject;
  }

  private getOrThrow(tg: Target): KObject {
    const o = this.store.get(groupResource(tg.t), tg.t.namespaced ? tg.namespace : undefined, tg.name!);
    if (!o) throw notFound(tg.t.resource, tg.t.group, tg.name!);
    return o;
  }

  /** Objects are stored at one version; multi-version CRDs are served at others by relabelling (conversion strategy None). */
  private convertOut(o: KObject, tg: Target): KObject {
    const av = apiVersionOf(tg.t.group, tg.version);
    return o.apiVersion === av ? o : { ...o, apiVersion: av };
  }

  private nowIso(): string {
    return new Date(Math.floor(this.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  }

  private sendObject(res: ServerResponse, code: number, obj: KObject, tg: Target, q: URLSearchParams, accept: string): void {
    if (/as=Table/.test(accept)) {
      const table = toTable(this.columns(tg.t), [obj], { resourceVersion: obj.metadata.resourceVersion }, (q.get('includeObject') as IncludeObject) ?? 'Metadata', this.now());
      return this.send(res, code, table);
    }
    if (/as=PartialObjectMetadata(;|,|$)/.test(accept)) return this.send(res, code, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata });
    this.send(res, code, obj);
  }

  private columns(t: ResourceType) {
    return columnsFor(t, this.crds.get(groupResource(t))?.printerColumns.get(t.version));
  }

  private fieldManager(q: URLSearchParams, ua: string, fallback?: string): string {
    const fm = q.get('fieldManager');
    if (fm) {
      if (fm.length > 128) throw invalid('', '', '', [{ type: 'FieldValueInvalid', field: 'fieldManager', message: `Invalid value: "${fm}": must be no more than 128 characters` }]);
      return fm;
    }
    if (fallback) return fallback;
    const first = ua.split('/')[0];
    return first || 'unknown';
  }

  private dryRun(q: URLSearchParams): boolean {
    const d = q.getAll('dryRun');
    for (const x of d) if (x !== 'All') throw badRequest(`dryRun: Unsupported value: "${x}": supported values: "All"`);
    return d.length > 0;
  }

  private checkNamespace(tg: Target, creating: boolean): void {
    if (!tg.t.namespaced) return;
    const ns = this.store.get('namespaces', undefined, tg.namespace!);
    if (!ns) throw notFound('namespaces', '', tg.namespace!);
    if (creating && ns.metadata.deletionTimestamp) throw forbidden(tg.t.resource, tg.t.group, tg.name ?? '', `unable to create new content in namespace ${tg.namespace} because it is being terminated`);
  }

  private allocators(): Allocators {
    return {
      clusterIP: () => {
        for (let i = 0; i < 65000; i++) {
          const n = this.ipNext++;
          if (this.ipNext > 65000) this.ipNext = 10;
          const ip = `10.96.${(n >> 8) & 255}.${n & 255}`;
          if (!this.usedIPs.has(ip) && (n & 255) !== 0) {
            this.usedIPs.add(ip);
            return ip;
          }
        }
        throw new ApiError(500, 'InternalError', 'Internal error occurred: failed to allocate a serviceIP: range is full');
      },
      nodePort: () => this.nodePortNext++,
      release: (ip) => this.usedIPs.delete(ip),
      defaultStorageClass: () => {
        for (const sc of this.store.list('storageclasses.storage.k8s.io')) if (sc.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true') return sc.metadata.name;
        return undefined;
      },
    };
  }

  /**
   * Decoding as the real server does it: unknown fields are an error under
   * fieldValidation=Strict (kubectl's default), a Warning header under Warn
   * (the server default) and silently dropped under Ignore.
   */
  private decode(tg: Target, obj: KObject, q: URLSearchParams, res: ServerResponse): void {
    const mode = q.get('fieldValidation') ?? 'Warn';
    if (!['Strict', 'Warn', 'Ignore'].includes(mode)) throw badRequest(`fieldValidation: Unsupported value: "${mode}": supported values: "Ignore", "Strict", "Warn"`);
    const t = tg.t;
    // Go's decoder treats null as "not set" (e.g. `creationTimestamp: null` that clients send back).
    if (t.custom) stripNulls(obj.metadata);
    else stripNulls(obj);
    let unknown: string[];
    if (t.custom) {
      const schema = this.crds.get(groupResource(t))?.raw.get(tg.version);
      unknown = pruneCustom(obj, schema, '', mode !== 'Strict');
      unknown.push(...unknownFields(obj.metadata, 'V1ObjectMeta', 'metadata', mode !== 'Strict'));
      if (unknown.length && mode === 'Strict') throw badRequest(`${t.kind} in version "${tg.version}" cannot be handled as a ${t.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u.replace(/^\./, '')}"`).join(', ')}`);
    } else {
      unknown = t.model ? unknownFields(obj, t.model, '', mode !== 'Strict') : [];
      if (unknown.length && mode === 'Strict') throw badRequest(`${t.kind} in version "${tg.version}" cannot be handled as a ${t.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
    }
    if (unknown.length && mode === 'Warn') {
      const prev = res.getHeader('warning');
      const w = unknown.map((u) => `299 - "unknown field \\"${u.replace(/^\./, '')}\\""`);
      res.setHeader('warning', [...(Array.isArray(prev) ? prev : prev ? [String(prev)] : []), ...w]);
    }
  }

  private validate(tg: Target, obj: KObject, old?: KObject): void {
    const t = tg.t;
    const errs = [...validateName(t, obj.metadata.name), ...validateMetadataMaps(obj)];
    if (t.namespaced && !obj.metadata.namespace) errs.push({ type: 'FieldValueRequired', field: 'metadata.namespace', message: 'Required value' });
    if (t.group === 'rbac.authorization.k8s.io') errs.push(...validateRbac(t.kind, obj, old));
    if (errs.length) throw invalid(t.kind, t.group, obj.metadata.name ?? '', errs);
    if (t.custom) {
      validateCustom(t.kind, t.group, obj, this.crds.get(groupResource(t))?.schemas.get(tg.version));
      const rules = celRuleErrors(this.crds.get(groupResource(t))?.raw.get(tg.version), obj, old, '');
      if (rules.length) throw invalid(t.kind, t.group, obj.metadata.name ?? '', rules);
    }
    else {
      validateBuiltin(t, obj);
      validateKind(t, obj);
    }
  }

  // ---------------------------------------------------------------- create

  create(tg: Target, body: KObject, q: URLSearchParams, res: ServerResponse | undefined, ua: string, internal = false): KObject {
    const t = tg.t;
    const av = apiVersionOf(t.group, tg.version);
    if (body.apiVersion && body.apiVersion !== av) throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${av})`);
    if (body.kind && body.kind !== t.kind) throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${t.kind})`);
    const obj = clone(body);
    obj.apiVersion = av;
    obj.kind = t.kind;
    obj.metadata = rec(obj.metadata);
    if (t.namespaced) {
      if (obj.metadata.namespace && obj.metadata.namespace !== tg.namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      obj.metadata.namespace = tg.namespace;
    } else delete obj.metadata.namespace;
    if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = `${obj.metadata.generateName}${randomName(5)}`.slice(0, 253);
    if (res && !internal) this.decode(tg, obj, q, res);
    this.checkNamespace({ ...tg, name: obj.metadata.name }, true);
    const gr = groupResource(t);
    const existing = obj.metadata.name ? this.store.get(gr, tg.namespace, obj.metadata.name) : undefined;
    if (existing) throw alreadyExists(t.resource, t.group, obj.metadata.name!);
    const now = this.nowIso();
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = now;
    obj.metadata.generation = 1;
    delete obj.metadata.resourceVersion;
    delete obj.metadata.deletionTimestamp;
    delete obj.metadata.deletionGracePeriodSeconds;
    delete obj.metadata.selfLink;
    if (!t.generation && !t.custom) delete obj.metadata.generation;
    resetStatusOnCreate(t, obj);
    const dry = this.dryRun(q);
    if (t.custom) this.applyCrdDefaults(tg, obj);
    applyDefaults(t, obj, dry ? { ...this.allocators(), clusterIP: () => '10.96.255.254', nodePort: () => 30000 } : this.allocators(), true);
    if (gr === 'pods' && this.authenticator) {
      const denied = admitServiceAccount(obj, this.store.get('serviceaccounts', tg.namespace, String(rec(obj.spec).serviceAccountName || 'default')), () => randomName(5));
      if (denied) throw denied;
    }
    this.rbacAdmission(tg, obj);
    this.validate(tg, obj);
    if (gr === 'customresourcedefinitions.apiextensions.k8s.io') this.validateCrd(obj);
    this.podSecurity.admit(gr, obj, undefined, res);
    if (!internal) obj.metadata.managedFields = recordUpdate(undefined, obj, this.fieldManager(q, ua), av, now);
    if (!obj.metadata.managedFields?.length) delete obj.metadata.managedFields;
    if (gr === 'customresourcedefinitions.apiextensions.k8s.io') this.establishCrd(obj);
    if (dry) {
      obj.metadata.resourceVersion = undefined;
      return obj;
    }
    return this.store.put(gr, obj, 'ADDED');
  }

  // ---------------------------------------------------------------- update

  /** Replaces an object (PUT, and the tail of every patch). Returns [object, HTTP code]. */
  update(tg: Target, body: KObject, q: URLSearchParams, res: ServerResponse | undefined, ua: string, sub?: string, fromPatch?: { manager: string; applied?: boolean }): [KObject, number] {
    const t = tg.t;
    const gr = groupResource(t);
    const av = apiVersionOf(t.group, tg.version);
    if (body.apiVersion && body.apiVersion !== av && !sub) throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${av})`);
    if (body.kind && body.kind !== t.kind) throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${t.kind})`);
    const old = this.store.get(gr, t.namespaced ? tg.namespace : undefined, tg.name!);
    if (!old) throw notFound(t.resource, t.group, tg.name!);
    let obj = clone(body);
    obj.apiVersion = av;
    obj.kind = t.kind;
    obj.metadata = rec(obj.metadata);
    if (obj.metadata.name && obj.metadata.name !== tg.name) throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${tg.name})`);
    if (t.namespaced && obj.metadata.namespace && obj.metadata.namespace !== tg.namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    obj.metadata.name = tg.name;
    if (t.namespaced) obj.metadata.namespace = tg.namespace;
    else delete obj.metadata.namespace;
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) throw conflict(t.resource, t.group, tg.name!);
    if (obj.metadata.uid && obj.metadata.uid !== old.metadata.uid)
      throw conflict(t.resource, t.group, tg.name!, `Precondition failed: UID in precondition: ${obj.metadata.uid}, UID in object meta: ${old.metadata.uid}`);
    if (res && !fromPatch?.applied) this.decode(tg, obj, q, res);
    // server-owned metadata
    obj.metadata.uid = old.metadata.uid;
    obj.metadata.creationTimestamp = old.metadata.creationTimestamp;
    obj.metadata.generation = old.metadata.generation;
    if (old.metadata.deletionTimestamp) {
      obj.metadata.deletionTimestamp = old.metadata.deletionTimestamp;
      obj.metadata.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
    } else {
      delete obj.metadata.deletionTimestamp;
      delete obj.metadata.deletionGracePeriodSeconds;
    }
    if (old.metadata.deletionTimestamp) {
      // New finalizers cannot be added once deletion started.
      const added = (obj.metadata.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
      if (added.length) throw invalid(t.kind, t.group, tg.name!, [{ type: 'FieldValueForbidden', field: 'metadata.finalizers', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}` }]);
    }
    if (sub === 'status') {
      obj = { ...clone(old), status: obj.status, metadata: { ...clone(old.metadata), resourceVersion: obj.metadata.resourceVersion } };
      if (obj.status === undefined) delete obj.status;
    } else if (sub === 'finalize') {
      obj = { ...clone(old), spec: { ...rec(old.spec), finalizers: rec(obj.spec).finalizers ?? [] } };
    } else if (t.status && !sub) {
      if (old.status === undefined) delete obj.status;
      else obj.status = clone(old.status);
    }
    if (t.custom) this.applyCrdDefaults(tg, obj);
    applyDefaults(t, obj, this.allocators(), false, old);
    this.rbacAdmission(tg, obj, old);
    // generation: any change outside metadata and status
    const specOf = (o: KObject) => {
      const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
      return rest;
    };
    if ((t.generation || t.custom) && !deepEqual(specOf(old), specOf(obj))) obj.metadata.generation = (old.metadata.generation ?? 1) + 1;
    this.validate(tg, obj, old);
    validateImmutable(t, old, obj);
    if (!sub) this.podSecurity.admit(gr, obj, old, res);
    if (gr === 'customresourcedefinitions.apiextensions.k8s.io') {
      this.validateCrd(obj);
      if (!sub) this.establishCrd(obj);
    }
    if (!fromPatch?.applied) {
      const manager = fromPatch?.manager ?? this.fieldManager(q, ua);
      const mf = recordUpdate(old, obj, manager, av, this.nowIso(), sub === 'status' ? 'status' : undefined);
      obj.metadata.managedFields = mf.length ? mf : undefined;
      if (!obj.metadata.managedFields) delete obj.metadata.managedFields;
    }
    const cmpOld = { ...old, metadata: { ...old.metadata, managedFields: undefined, resourceVersion: undefined } };
    const cmpNew = { ...obj, metadata: { ...obj.metadata, managedFields: undefined, resourceVersion: undefined } };
    if (deepEqual(JSON.parse(JSON.stringify(cmpOld)), JSON.parse(JSON.stringify(cmpNew)))) return [old, 200];
    if (this.dryRun(q)) {
      obj.metadata.resourceVersion = old.metadata.resourceVersion;
      return [obj, 200];
    }
    if (obj.metadata.deletionTimestamp && (obj.metadata.finalizers ?? []).length === 0 && !this.namespaceBlocked(gr, obj)) {
      this.store.put(gr, obj, 'MODIFIED');
      const gone = this.store.delete(gr, obj.metadata.namespace, obj.metadata.name!);
      this.afterDelete(gr, gone!);
      return [gone!, 200];
    }
    return [this.store.put(gr, obj, 'MODIFIED'), 200];
  }

  /** A namespace stays until its spec.finalizers (the namespace controller's `kubernetes`) are done. */
  private namespaceBlocked(gr: string, obj: KObject): boolean {
    return gr === 'namespaces' && ((rec(obj.spec).finalizers as string[]) ?? []).length > 0;
  }

  // ----------------------------------------------------------------- patch

  patch(tg: Target, ctype: string, raw: Buffer, q: URLSearchParams, res: ServerResponse | undefined, ua: string, sub?: string): [KObject, number] {
    const t = tg.t;
    const gr = groupResource(t);
    if (ctype === 'application/apply-patch+yaml' || ctype === 'application/apply-patch+cbor') return this.applyPatch(tg, raw, q, res, ua, sub);
    const text = raw.toString('utf8');
    let p: unknown;
    try {
      p = JSON.parse(text);
    } catch {
      try {
        p = parseYaml(text);
      } catch {
        throw badRequest(`error decoding patch: invalid character '${text[0] ?? ''}' looking for beginning of value`);
      }
    }
    const old = this.store.get(gr, t.namespaced ? tg.namespace : undefined, tg.name!);
    if (!old) throw notFound(t.resource, t.group, tg.name!);
    const cur = this.convertOut(old, tg);
    let next: unknown;
    switch (ctype) {
      case 'application/json-patch+json':
        next = applyJsonPatch(cur, p);
        break;
      case 'application/merge-patch+json':
        if (!isObject(p)) throw badRequest('error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}');
        next = applyMergePatch(cur, p);
        break;
      case 'application/strategic-merge-patch+json':
        if (t.custom) throw new ApiError(415, 'UnsupportedMediaType', 'strategic merge patch is not supported for custom resources; use --type=merge');
        if (!isObject(p)) throw badRequest('error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}');
        next = applyStrategicMergePatch(cur, p);
        break;
      default:
        throw unsupportedMedia(ctype || '(none)');
    }
    if (!isObject(next)) throw badRequest('patched object is not an object');
    const n = next as KObject;
    // A patch that does not name a resourceVersion applies to the current one.
    const patchRv = isObject(p) && isObject((p as Rec).metadata) ? ((p as Rec).metadata as Rec).resourceVersion : undefined;
    if (patchRv === undefined) n.metadata = { ...rec(n.metadata), resourceVersion: old.metadata.resourceVersion };
    const manager = this.fieldManager(q, ua);
    return this.update(tg, n, q, res, ua, sub, { manager });
  }

  private applyPatch(tg: Target, raw: Buffer, q: URLSearchParams, res: ServerResponse | undefined, ua: string, sub?: string): [KObject, number] {
    const t = tg.t;
    const gr = groupResource(t);
    const manager = q.get('fieldManager');
    if (!manager) throw badRequest('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const force = q.get('force') === 'true';
    let applied: unknown;
    try {
      applied = parseYaml(raw.toString('utf8'));
    } catch (e) {
      throw badRequest(`error decoding YAML: ${(e as Error).message}`);
    }
    if (!isObject(applied)) throw badRequest('error decoding patch: apply patch must be an object');
    const a = applied as KObject;
    const av = apiVersionOf(t.group, tg.version);
    if (!a.apiVersion || !a.kind) throw badRequest(`Object 'Kind' is missing in '${raw.toString('utf8').slice(0, 200)}'`);
    if (a.apiVersion !== av) throw badRequest(`the API version in the data (${a.apiVersion}) does not match the expected API version (${av})`);
    a.metadata = rec(a.metadata);
    if (a.metadata.name && a.metadata.name !== tg.name) throw badRequest(`the name of the object (${a.metadata.name}) does not match the name on the URL (${tg.name})`);
    if (res) this.decode(tg, a, q, res);
    const old = this.store.get(gr, t.namespaced ? tg.namespace : undefined, tg.name!);
    const now = this.nowIso();
    if (!old) {
      if (sub) throw notFound(t.resource, t.group, tg.name!);
      const body = clone(a);
      body.metadata.name = tg.name;
      const fieldsV1 = serverSideApply({ apiVersion: av, kind: t.kind, metadata: {} }, a, manager, true, av, now).managedFields[0].fieldsV1;
      body.metadata.managedFields = [{ manager, operation: 'Apply', apiVersion: av, time: now, fieldsType: 'FieldsV1', fieldsV1 }];
      return [this.create(tg, body, q, res, ua, true), 201];
    }
    const cur = this.convertOut(old, tg);
    const target = sub === 'status' ? { ...a, metadata: a.metadata } : a;
    const { obj, managedFields } = serverSideApply(clone(cur), target, manager, force, av, now);
    if (a.metadata.resourceVersion === undefined) obj.metadata.resourceVersion = old.metadata.resourceVersion;
    obj.metadata.managedFields = managedFields;
    return this.update(tg, obj, q, res, ua, sub, { manager, applied: true });
  }

  // ----------------------------------------------------------------- scale

  private async scale(req: IncomingMessage, res: ServerResponse, method: string, tg: Target, q: URLSearchParams): Promise<void> {
    const t = tg.t;
    const spec = t.scale!;
    const toScale = (o: KObject) => {
      const sel = new JSONPath(spec.labelSelectorPath ?? '.spec.selector').first(o);
      return {
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp },
        spec: { replicas: Number(new JSONPath(spec.specReplicasPath).first(o) ?? 0) },
        status: {
          replicas: Number(new JSONPath(spec.statusReplicasPath).first(o) ?? 0),
          ...(sel ? { selector: typeof sel === 'string' ? sel : formatRequirements(requirementsFromObject(sel as LabelSelectorObject)) } : {}),
        },
      };
    };
    const cur = this.getOrThrow(tg);
    if (method === 'GET') return this.send(res, 200, toScale(cur));
    let next: Rec;
    if (method === 'PUT') next = rec(await this.readJson(req));
    else if (method === 'PATCH') {
      const ctype = String(req.headers['content-type'] ?? '').split(';')[0].trim();
      const p = this.parseJson(await this.readBody(req));
      const base = toScale(cur);
      next = rec(ctype === 'application/json-patch+json' ? applyJsonPatch(base, p) : applyMergePatch(base, p));
    } else throw methodNotAllowed();
    const rv = rec(next.metadata).resourceVersion;
    if (rv && rv !== cur.metadata.resourceVersion) throw conflict(t.resource, t.group, tg.name!);
    const replicas = rec(next.spec).replicas;
    if (typeof replicas !== 'number' || replicas < 0 || !Number.isInteger(replicas)) throw invalid('Scale', 'autoscaling', tg.name!, [{ type: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${replicas}: must be greater than or equal to 0` }]);
    const updated = clone(cur);
    const path = spec.specReplicasPath.replace(/^\./, '').split('.');
    let o: Rec = updated as unknown as Rec;
    for (const s of path.slice(0, -1)) o = (o[s] = rec(o[s]));
    o[path[path.length - 1]] = replicas;
    const [stored] = this.update(tg, updated, q, undefined, String(req.headers['user-agent'] ?? ''), undefined, { manager: this.fieldManager(q, String(req.headers['user-agent'] ?? '')) });
    this.send(res, 200, toScale(stored));
  }

  private async binding(req: IncomingMessage, res: ServerResponse, tg: Target): Promise<void> {
    const b = await this.readJson(req);
    const node = rec(b.target).name;
    const pod = this.getOrThrow(tg);
    if (rec(pod.spec).nodeName) throw conflict('pods', '', tg.name!, `pod ${tg.name} is already assigned to node "${rec(pod.spec).nodeName}"`);
    const next = clone(pod);
    next.spec = { ...rec(next.spec), nodeName: node };
    this.store.put('pods', next, 'MODIFIED');
    this.send(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
  }

  /** `pods/eviction` (policy/v1 Eviction): a delete that a PodDisruptionBudget may refuse (`eviction.ts`). */
  private async eviction(req: IncomingMessage, res: ServerResponse, tg: Target, q: URLSearchParams): Promise<void> {
    const body = await this.readJson(req);
    checkEvictionBody(body, tg.name!);
    const pod = this.getOrThrow(tg);
    const pdbs = [...this.store.list('poddisruptionbudgets.policy', tg.namespace)];
    const decision = decideEviction(pod, pdbs, new Date(this.now()));
    const opts = rec(rec(body).deleteOptions);
    const dry = this.dryRun(q) || (Array.isArray(opts.dryRun) && opts.dryRun.includes('All'));
    if (decision.pdbStatus && !dry) {
      const pdb = clone(this.store.get('poddisruptionbudgets.policy', tg.namespace, decision.pdbStatus.name)!);
      (pdb as Rec).status = decision.pdbStatus.status;
      this.store.put('poddisruptionbudgets.policy', pdb, 'MODIFIED');
    }
    this.delete(tg, q, opts);
    this.send(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
  }

  // ---------------------------------------------------------------- delete

  delete(tg: Target, q: URLSearchParams, opts: Rec): [unknown, number] {
    const t = tg.t;
    const gr = groupResource(t);
    const old = this.getOrThrow(tg);
    const pre = rec(opts.preconditions);
    if (pre.uid && pre.uid !== old.metadata.uid) throw conflict(t.resource, t.group, tg.name!, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`);
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(t.resource, t.group, tg.name!, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`);
    const dry = this.dryRun(q) || (Array.isArray(opts.dryRun) && opts.dryRun.includes('All'));
    let propagation = String(opts.propagationPolicy ?? q.get('propagationPolicy') ?? '');
    if (!propagation && opts.orphanDependents === true) propagation = 'Orphan';
    if (propagation && !['Foreground', 'Background', 'Orphan'].includes(propagation)) throw badRequest(`propagationPolicy: Unsupported value: "${propagation}": supported values: "Foreground", "Background", "Orphan"`);
    const graceQ = q.get('gracePeriodSeconds');
    const grace = opts.gracePeriodSeconds !== undefined ? Number(opts.gracePeriodSeconds) : graceQ !== null ? Number(graceQ) : undefined;

    const next = clone(old);
    const fin = [...(next.metadata.finalizers ?? [])];
    if (propagation === 'Orphan' && !fin.includes('orphan')) fin.push('orphan');
    if (propagation === 'Foreground' && !fin.includes('foregroundDeletion') && this.store.dependents(old.metadata.uid!).length > 0) fin.push('foregroundDeletion');
    if (propagation && propagation !== 'Orphan') {
      const i = fin.indexOf('orphan');
      if (i >= 0 && !old.metadata.deletionTimestamp) fin.splice(i, 1);
    }
    next.metadata.finalizers = fin.length ? fin : undefined;
    if (!next.metadata.finalizers) delete next.metadata.finalizers;

    const isNamespace = gr === 'namespaces';
    const podGrace = gr === 'pods' && rec(old.spec).nodeName && grace !== 0 ? (grace ?? Number(rec(old.spec).terminationGracePeriodSeconds ?? 30)) : 0;
    if (isNamespace || fin.length || podGrace > 0) {
      if (dry) return [next, 200];
      if (!next.metadata.deletionTimestamp) {
        next.metadata.deletionTimestamp = new Date(this.now() + podGrace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        next.metadata.deletionGracePeriodSeconds = podGrace;
      } else if (gr === 'pods' && podGrace < (next.metadata.deletionGracePeriodSeconds ?? 0)) {
        next.metadata.deletionGracePeriodSeconds = podGrace;
      }
      if (isNamespace) {
        const conds = [{ type: 'NamespaceDeletionContentFailure', status: 'False', lastTransitionTime: this.nowIso(), reason: 'ContentDeleted', message: 'All content successfully deleted, may be waiting on finalization' }];
        next.status = { ...rec(next.status), phase: 'Terminating', conditions: conds };
      }
      if (deepEqual(next, old)) return [old, 202];
      const stored = this.store.put(gr, next, 'MODIFIED');
      if (isNamespace) this.queue(() => this.finalizeNamespace(tg.name!));
      if (fin.includes('orphan') || fin.includes('foregroundDeletion')) this.queue(() => this.processDeletingOwner(gr, stored));
      return [stored, 202];
    }
    if (dry) return [old, 200];
    const gone = this.store.delete(gr, t.namespaced ? tg.namespace : undefined, tg.name!)!;
    this.afterDelete(gr, gone);
    if (gr === 'pods') return [gone, 200];
    return [{ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: tg.name, ...(t.group ? { group: t.group } : {}), kind: t.resource, uid: old.metadata.uid } }, 200];
  }

  private deleteCollection(tg: Target, q: URLSearchParams, opts: Rec): unknown {
    const t = tg.t;
    const items = this.select(tg, q);
    const deleted: KObject[] = [];
    for (const o of items) {
      try {
        this.delete({ ...tg, namespace: o.metadata.namespace, name: o.metadata.name }, q, opts);
        deleted.push(o);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    return { kind: t.listKind, apiVersion: apiVersionOf(t.group, tg.version), metadata: { resourceVersion: String(this.store.resourceVersion) }, items: deleted };
  }

  private afterDelete(gr: string, gone: KObject): void {
    if (gr === 'services') for (const ip of (rec(gone.spec).clusterIPs as string[]) ?? []) this.usedIPs.delete(ip);
    if (gr === 'customresourcedefinitions.apiextensions.k8s.io') this.uninstallCrd(gone);
    this.queue(() => this.collectDependents(gone));
  }

  // ------------------------------------------------------------ list/watch

  private select(tg: Target, q: URLSearchParams): KObject[] {
    const t = tg.t;
    const gr = groupResource(t);
    const lm = labelMatcher(q.get('labelSelector'));
    const fm = fieldMatcher(q.get('fieldSelector'), t.fields, t.kind);
    const out: KObject[] = [];
    for (const o of this.store.list(gr, t.namespaced ? tg.namespace : undefined)) if (lm(o.metadata.labels) && fm(o)) out.push(o);
    return out;
  }

  private list(res: ServerResponse, tg: Target, q: URLSearchParams, accept: string): void {
    const t = tg.t;
    const gr = groupResource(t);
    const lm = labelMatcher(q.get('labelSelector'));
    const fm = fieldMatcher(q.get('fieldSelector'), t.fields, t.kind);
    const limit = Number(q.get('limit') ?? 0) || 0;
    let after: string | undefined;
    let rv = this.store.resourceVersion;
    const cont = q.get('continue');
    if (cont) {
      try {
        const c = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { rv: number; start: string; v: number };
        if (c.v !== 1) throw new Error('version');
        after = c.start;
        rv = c.rv;
        if (rv < this.store.oldestResumable) throw gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
    }
    const rvParam = q.get('resourceVersion');
    const rvMatch = q.get('resourceVersionMatch');
    if (rvMatch && !['Exact', 'NotOlderThan'].includes(rvMatch)) throw badRequest(`resourceVersionMatch: Unsupported value: "${rvMatch}": supported values: "Exact", "NotOlderThan"`);
    if (rvParam && rvParam !== '0' && !/^\d+$/.test(rvParam)) throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a valid resource version`);
    if (rvParam && Number(rvParam) > this.store.resourceVersion) throw new ApiError(504, 'Timeout', `Too large resource version: ${rvParam}, current: ${this.store.resourceVersion}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
    const items: KObject[] = [];
    let next: string | undefined;
    const ns = t.namespaced ? tg.namespace : undefined;
    let lastKey: string | undefined;
    for (const o of this.store.list(gr, ns, after)) {
      const key = o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!;
      if (limit && items.length >= limit) {
        next = lastKey;
        break;
      }
      lastKey = key;
      if (lm(o.metadata.labels) && fm(o)) items.push(o);
    }
    const meta: Rec = { resourceVersion: String(rv) };
    if (next !== undefined) {
      meta.continue = Buffer.from(JSON.stringify({ v: 1, rv, start: next })).toString('base64url');
      let remaining = 0;
      for (const o of this.store.list(gr, ns, next)) if (lm(o.metadata.labels) && fm(o)) remaining++;
      meta.remainingItemCount = remaining;
    }
    const av = apiVersionOf(t.group, tg.version);
    const out = items.map((o) => this.convertOut(o, tg));
    if (/as=Table/.test(accept)) return this.send(res, 200, toTable(this.columns(t), out, meta, (q.get('includeObject') as IncludeObject) ?? 'Metadata', this.now()));
    if (/as=PartialObjectMetadataList/.test(accept))
      return this.send(res, 200, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: meta, items: out.map((o) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata })) });
    // Stream the JSON: lists of 10k objects serialise item by item rather than as one giant string.
    res.setHeader('content-type', 'application/json');
    res.setHeader('cache-control', 'no-cache, private');
    res.writeHead(200);
    res.write(`{"kind":"${t.listKind}","apiVersion":"${av}","metadata":${JSON.stringify(meta)},"items":[`);
    const CHUNK = 2000;
    for (let i = 0; i < out.length; i += CHUNK) {
      const part = JSON.stringify(out.slice(i, i + CHUNK));
      res.write(i === 0 ? part.slice(1, -1) : `,${part.slice(1, -1)}`);
    }
    res.end(']}');
  }

  private watch(req: IncomingMessage, res: ServerResponse, tg: Target, q: URLSearchParams, accept: string): void {
    const t = tg.t;
    const gr = groupResource(t);
    const ns = t.namespaced ? tg.namespace : undefined;
    const lm = labelMatcher(q.get('labelSelector'));
    const fm = fieldMatcher(q.get('fieldSelector'), t.fields, t.kind);
    const match = (o: KObject | undefined) => !!o && (!ns || o.metadata.namespace === ns) && lm(o.metadata.labels) && fm(o);
    const rvParam = q.get('resourceVersion') ?? '';
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const sendInitial = q.get('sendInitialEvents') === 'true' || (q.get('sendInitialEvents') === null && (rvParam === '' || rvParam === '0'));
    const timeout = Number(q.get('timeoutSeconds') ?? 1800);
    const table = /as=Table/.test(accept);
    const include = (q.get('includeObject') as IncludeObject) ?? 'Metadata';
    const columns = table ? this.columns(t) : undefined;
    let firstTable = true;

    res.setHeader('content-type', 'application/json');
    res.setHeader('cache-control', 'no-cache, private');
    res.setHeader('transfer-encoding', 'chunked');
    res.writeHead(200);
    res.flushHeaders();

    const render = (type: string, o: KObject): string => {
      if (columns && type !== 'BOOKMARK' && type !== 'ERROR') {
        const tab = toTable(columns, [this.convertOut(o, tg)], { resourceVersion: o.metadata.resourceVersion }, include, this.now(), firstTable);
        firstTable = false;
        return `${JSON.stringify({ type, object: tab })}\n`;
      }
      return `${JSON.stringify({ type, object: type === 'BOOKMARK' || type === 'ERROR' ? o : this.convertOut(o, tg) })}\n`;
    };
    const bookmark = (rv: number, initialEnd = false) => {
      const kind = columns ? 'Table' : t.kind;
      const apiVersion = columns ? 'meta.k8s.io/v1' : apiVersionOf(t.group, tg.version);
      res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind, apiVersion, metadata: { resourceVersion: String(rv), ...(initialEnd ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}) } } })}\n`);
    };

    let lastRv = 0;
    const onEvent = (e: StoreEvent) => {
      if (e.gr !== gr || e.rv <= lastRv) return;
      lastRv = e.rv;
      const now = match(e.obj);
      const before = match(e.prev);
      if (e.type === 'ADDED' && now) res.write(render('ADDED', e.obj));
      else if (e.type === 'MODIFIED') {
        if (now && before) res.write(render('MODIFIED', e.obj));
        else if (now) res.write(render('ADDED', e.obj));
        else if (before) res.write(render('DELETED', { ...e.obj }));
      } else if (e.type === 'DELETED' && before) res.write(render('DELETED', e.obj));
    };

    if (rvParam !== '' && rvParam !== '0' && !sendInitial) {
      const from = Number(rvParam);
      const events = Number.isFinite(from) ? this.store.since(from) : null;
      if (events === null) {
        const st = gone(`too old resource version: ${rvParam} (${this.store.oldestResumable + 1})`).toStatus();
        st.reason = 'Expired';
        res.end(`${JSON.stringify({ type: 'ERROR', object: st })}\n`);
        return;
      }
      lastRv = from;
      for (const e of events) onEvent(e);
    } else {
      const rvNow = this.store.resourceVersion;
      for (const o of this.store.list(gr, ns)) if (match(o)) res.write(render('ADDED', o));
      lastRv = rvNow;
      if (sendInitial && bookmarks) bookmark(rvNow, true);
    }
    const unsub = this.store.subscribe((e) => {
      // A broken watcher must never fail the write that triggered the event.
      try {
        onEvent(e);
      } catch (err) {
        this.log(`watch: ${(err as Error).message}`);
        stop();
      }
    });
    const bm = bookmarks ? setInterval(() => bookmark(Math.max(lastRv, this.store.resourceVersion)), 10_000) : undefined;
    const timer = setTimeout(() => stop(), timeout * 1000);
    timer.unref?.();
    bm?.unref?.();
    const stop = () => {
      unsub();
      clearTimeout(timer);
      if (bm) clearInterval(bm);
      this.watches.delete(stop);
      if (!res.writableEnded) res.end();
    };
    this.watches.add(stop);
    req.on('close', stop);
    res.on('close', stop);
  }

  // --------------------------------------------------------- pods upgrade

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const m = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/);
    const denied = this.authenticate(req);
    const reject = (e: ApiError) => {
      this.audit.record(requestAttributes(req.method ?? 'GET', req.url ?? '/', denied ? NOBODY : requestUser(req)), e.code, this.now());
      const body = JSON.stringify(e.toStatus());
      socket.end(`HTTP/1.1 ${e.code} ${STATUS_CODES[e.code] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    if (denied) return reject(denied);
    try {
      this.admit(req, url);
    } catch (e) {
      return reject(e instanceof ApiError ? e : new ApiError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`));
    }
    if (!m) return reject(notFoundPath());
    const [, namespace, name, sub] = m.map(decodeURIComponent);
    if (!this.store.get('pods', namespace, name)) return reject(notFound('pods', '', name));
    if (!this.podSubresources || sub === 'portforward') return reject(new ApiError(503, 'ServiceUnavailable', 'the pod runtime is not running'));
    const target = { namespace, name, query: url.searchParams };
    this.audit.record(requestAttributes(req.method ?? 'GET', req.url ?? '/', requestUser(req)), 101, this.now());
    const p = sub === 'exec' ? this.podSubresources.exec(req, socket, head, target) : this.podSubresources.attach(req, socket, head, target);
    p.catch((e) => {
      this.log(`${sub} failed: ${(e as Error).message}`);
      socket.destroy();
    });
  }


  // ------------------------------------------------------------------ CRDs

  private crdVersions(crd: KObject): Rec[] {
    return ((rec(crd.spec).versions as Rec[]) ?? []).filter((v) => v.served !== false);
  }

  private validateCrd(crd: KObject): void {
    const spec = rec(crd.spec);
    const names = rec(spec.names);
    const errs = [];
    if (crd.metadata.name !== `${names.plural}.${spec.group}`) errs.push({ type: 'FieldValueInvalid' as const, field: 'metadata.name', message: `Invalid value: "${crd.metadata.name}": must be spec.names.plural+"."+spec.group` });
    const versions = (spec.versions as Rec[]) ?? [];
    if (versions.filter((v) => v.storage === true).length !== 1) errs.push({ type: 'FieldValueInvalid' as const, field: 'spec.versions', message: `Invalid value: ${JSON.stringify(versions.map((v) => v.name))}: must have exactly one version marked as storage version` });
    if (errs.length) throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', crd.metadata.name ?? '', errs);
    const clash = this.registry.byGroupResource(`${names.plural}.${spec.group}`);
    if (clash && !clash.custom) throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', crd.metadata.name ?? '', [{ type: 'FieldValueInvalid', field: 'spec.names.plural', message: `Invalid value: "${names.plural}": conflicts with a built-in resource` }]);
  }

  /** Marks a CRD NamesAccepted and Established (there is no delay here) and starts serving it. */
  private establishCrd(crd: KObject): void {
    const spec = rec(crd.spec);
    const names = rec(spec.names);
    const now = this.nowIso();
    const prev = (rec(crd.status).conditions as Rec[]) ?? [];
    const cond = (type: string, reason: string, message: string) => ({ type, status: 'True', lastTransitionTime: prev.find((c) => c.type === type)?.lastTransitionTime ?? now, reason, message });
    crd.status = {
      conditions: [cond('NamesAccepted', 'NoConflicts', 'no conflicts found'), cond('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
      acceptedNames: { plural: names.plural, singular: names.singular ?? String(names.kind).toLowerCase(), kind: names.kind, listKind: names.listKind ?? `${names.kind}List`, ...(names.shortNames ? { shortNames: names.shortNames } : {}), ...(names.categories ? { categories: names.categories } : {}) },
      storedVersions: [...new Set([...(((rec(crd.status).storedVersions as string[]) ?? [])), ...((spec.versions as Rec[]) ?? []).filter((v) => v.storage).map((v) => String(v.name))])],
    };
    this.queue(() => {
      const cur = this.store.get('customresourcedefinitions.apiextensions.k8s.io', undefined, crd.metadata.name!);
      if (cur && cur.metadata.uid === crd.metadata.uid) this.installCrd(cur);
    });
  }

  installCrd(crd: KObject): void {
    const spec = rec(crd.spec);
    const names = rec(spec.names);
    const versions = this.crdVersions(crd);
    if (!versions.length) return;
    const storage = versions.find((v) => v.storage === true) ?? versions[0];
    const info: CrdInfo = { schemas: new Map(), raw: new Map(), printerColumns: new Map(), subresources: new Map() };
    for (const v of versions) {
      const raw = rec(rec(v.schema).openAPIV3Schema);
      info.raw.set(String(v.name), Object.keys(raw).length ? raw : undefined);
      try {
        info.schemas.set(String(v.name), (Object.keys(raw).length ? this.compile(raw) : undefined));
      } catch (e) {
        this.log(`CRD ${crd.metadata.name} version ${v.name}: schema does not compile: ${(e as Error).message}`);
      }
      info.printerColumns.set(String(v.name), (v.additionalPrinterColumns as PrinterColumn[]) ?? []);
      info.subresources.set(String(v.name), rec(v.subresources));
    }
    const subs = rec(storage.subresources);
    const scale = isObject(subs.scale) ? { specReplicasPath: String(subs.scale.specReplicasPath), statusReplicasPath: String(subs.scale.statusReplicasPath), labelSelectorPath: subs.scale.labelSelectorPath as string | undefined } : undefined;
    const t: ResourceType = {
      group: String(spec.group),
      version: String(storage.name),
      versions: versions.map((v) => String(v.name)),
      resource: String(names.plural),
      kind: String(names.kind),
      listKind: String(names.listKind ?? `${names.kind}List`),
      singular: String(names.singular ?? String(names.kind).toLowerCase()),
      namespaced: spec.scope !== 'Cluster',
      shortNames: (names.shortNames as string[]) ?? [],
      categories: (names.categories as string[]) ?? [],
      status: isObject(subs.status),
      scale,
      fields: ((storage.selectableFields as Rec[]) ?? []).map((f) => String(f.jsonPath).replace(/^\./, '')),
      custom: true,
      generation: true,
    };
    this.crds.set(groupResource(t), info);
    this.registry.add(t);
    this.openapi.invalidate();
  }

  private compile(raw: Rec): CrdSchema | undefined {
    return compileCrdSchemaCached(raw);
  }

  private uninstallCrd(crd: KObject): void {
    const spec = rec(crd.spec);
    const names = rec(spec.names);
    const gr = `${names.plural}.${spec.group}`;
    this.registry.remove(String(spec.group), String(names.plural));
    this.crds.delete(gr);
    this.openapi.invalidate();
    // Deleting a CRD deletes its objects.
    for (const o of [...this.store.list(gr)]) this.store.delete(gr, o.metadata.namespace, o.metadata.name!);
  }

  /** Applies `default` values from the CRD's structural schema (the server does this on every write). */
  private applyCrdDefaults(tg: Target, obj: KObject): void {
    const schema = this.crds.get(groupResource(tg.t))?.raw.get(tg.version);
    if (schema) applySchemaDefaults(obj, schema, true);
  }

  // --------------------------------------------- garbage collection & namespaces

  private queue(fn: () => void): void {
    this.gcQueue.push(fn);
    if (this.gcScheduled) return;
    this.gcScheduled = true;
    setImmediate(() => {
      this.gcScheduled = false;
      const jobs = this.gcQueue.splice(0);
      for (const j of jobs) {
        try {
          j();
        } catch (e) {
          this.log(`controller: ${(e as Error).message}`);
        }
      }
    });
  }

  private onEvent(e: StoreEvent): void {
    if (e.gr === 'clusterroles.rbac.authorization.k8s.io' && !this.aggregationQueued) {
      this.aggregationQueued = true;
      this.queue(() => this.aggregateClusterRoles());
    }
    if (e.type === 'ADDED' && e.obj.metadata.ownerReferences?.length) {
      const o = e.obj;
      this.queue(() => {
        const cur = this.store.get(e.gr, o.metadata.namespace, o.metadata.name!);
        if (!cur || cur.metadata.uid !== o.metadata.uid) return;
        const refs = cur.metadata.ownerReferences ?? [];
        if (refs.length && refs.every((r) => !this.store.byUid(r.uid))) this.deleteInternal(e.gr, cur, 'Background');
      });
    }
    if (e.type === 'ADDED' && e.gr === 'namespaces') {
      const name = e.obj.metadata.name!;
      this.queue(() => this.ensureDefaultServiceAccount(name));
      this.queue(() => this.ensureRootCa(name));
    }
    if (e.gr === 'secrets' && e.type !== 'DELETED' && (e.obj as Rec).type === SA_TOKEN_SECRET_TYPE) {
      const { namespace, name } = e.obj.metadata;
      this.queue(() => this.ensureTokenSecret(namespace!, name!));
    }
    if (e.gr === 'serviceaccounts' && e.type === 'DELETED') {
      const { namespace, name } = e.obj.metadata;
      this.queue(() => {
        for (const s of [...this.store.list('secrets', namespace)]) if (isTokenSecretOf(s, name!)) this.ensureTokenSecret(namespace!, s.metadata.name!);
      });
    }
    if (e.gr === 'configmaps' && e.type !== 'ADDED' && e.obj.metadata.name === ROOT_CA_CONFIGMAP) {
      const ns = e.obj.metadata.namespace!;
      this.queue(() => this.ensureRootCa(ns));
    }
    if (e.type === 'MODIFIED' && e.obj.metadata.deletionTimestamp) {
      if (e.gr === 'namespaces') this.queue(() => this.finalizeNamespace(e.obj.metadata.name!));
      else if (e.obj.metadata.namespace) {
        const ns = e.obj.metadata.namespace;
        this.queue(() => this.finalizeNamespace(ns));
      }
      const fin = e.obj.metadata.finalizers ?? [];
      if (fin.includes('orphan') || fin.includes('foregroundDeletion')) this.queue(() => this.processDeletingOwner(e.gr, e.obj));
    }
    if (e.type === 'DELETED') {
      const ns = e.obj.metadata.namespace;
      if (ns) {
        const nsObj = this.store.get('namespaces', undefined, ns);
        if (nsObj?.metadata.deletionTimestamp) this.queue(() => this.finalizeNamespace(ns));
      }
      // Foreground owners wait for their dependents.
      for (const ref of e.obj.metadata.ownerReferences ?? []) {
        const owner = this.store.byUid(ref.uid);
        if (owner?.metadata.finalizers?.includes('foregroundDeletion')) {
          const gr = this.store.grOfUid(ref.uid)!;
          this.queue(() => this.processDeletingOwner(gr, owner));
        }
      }
    }
  }

  private ensureDefaultServiceAccount(ns: string): void {
    const nsObj = this.store.get('namespaces', undefined, ns);
    if (!nsObj || nsObj.metadata.deletionTimestamp) return;
    if (this.store.get('serviceaccounts', ns, 'default')) return;
    const t = this.registry.lookup('', 'v1', 'serviceaccounts')!;
    this.create({ t, version: 'v1', namespace: ns }, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } }, new URLSearchParams(), undefined, '', true);
  }

  /** The root-CA publisher: `kube-root-ca.crt` in every live namespace, restored when edited or deleted. */
  ensureRootCa(ns: string): void {
    if (!this.rootCaPem) return;
    const nsObj = this.store.get('namespaces', undefined, ns);
    if (!nsObj || nsObj.metadata.deletionTimestamp) return;
    const cur = this.store.get('configmaps', ns, ROOT_CA_CONFIGMAP);
    const next = publishRootCa(ns, this.rootCaPem, cur);
    if (!next) return;
    const t = this.registry.lookup('', 'v1', 'configmaps')!;
    if (cur) this.update({ t, version: 'v1', namespace: ns, name: ROOT_CA_CONFIGMAP }, next, new URLSearchParams(), undefined, 'root-ca-cert-publisher');
    else this.create({ t, version: 'v1', namespace: ns }, next, new URLSearchParams(), undefined, 'root-ca-cert-publisher', true);
  }

  /** The tokens controller: long-lived tokens in `kubernetes.io/service-account-token` Secrets, deleted with their ServiceAccount. */
  private ensureTokenSecret(ns: string, name: string): void {
    if (!this.authenticator || !this.rootCaPem) return;
    const secret = this.store.get('secrets', ns, name);
    if (!secret) return;
    const saName = secret.metadata.annotations?.['kubernetes.io/service-account.name'] ?? '';
    const authn = this.authenticator;
    const next = tokenSecretUpdate(secret, this.store.get('serviceaccounts', ns, saName), this.rootCaPem, (sa) => authn.issueLegacy(sa, name));
    if (next === 'delete') this.deleteInternal('secrets', secret, 'Background');
    else if (next) this.update({ t: this.registry.lookup('', 'v1', 'secrets')!, version: 'v1', namespace: ns, name }, next, new URLSearchParams(), undefined, 'tokens-controller');
  }

  /** Deletes an object from inside the server (GC, namespace controller), honouring its finalizers. */
  private deleteInternal(gr: string, o: KObject, propagation: 'Background' | 'Foreground' | 'Orphan'): void {
    const t = this.registry.byGroupResource(gr);
    if (!t) {
      this.store.delete(gr, o.metadata.namespace, o.metadata.name!);
      return;
    }
    try {
      this.delete({ t, version: t.version, namespace: o.metadata.namespace, name: o.metadata.name }, new URLSearchParams({ gracePeriodSeconds: '0' }), { propagationPolicy: propagation });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    }
  }

  /** Background GC: dependents whose owners are all gone are deleted; others just lose the dead reference. */
  private collectDependents(gone: KObject): void {
    const uid = gone.metadata.uid!;
    for (const [gr, dep] of this.store.dependents(uid)) {
      const refs = dep.metadata.ownerReferences ?? [];
      const alive = refs.filter((r) => r.uid !== uid && this.store.byUid(r.uid));
      if (alive.length === 0) this.deleteInternal(gr, dep, 'Background');
      else {
        const next = clone(dep);
        next.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
        this.store.put(gr, next, 'MODIFIED');
      }
    }
  }

  private removeFinalizer(gr: string, o: KObject, f: string): void {
    const cur = this.store.get(gr, o.metadata.namespace, o.metadata.name!);
    if (!cur || !cur.metadata.finalizers?.includes(f)) return;
    const next = clone(cur);
    next.metadata.finalizers = cur.metadata.finalizers.filter((x) => x !== f);
    if (next.metadata.finalizers.length === 0) {
      delete next.metadata.finalizers;
      if (!this.namespaceBlocked(gr, next)) {
        this.store.put(gr, next, 'MODIFIED');
        const gone = this.store.delete(gr, next.metadata.namespace, next.metadata.name!);
        if (gone) this.afterDelete(gr, gone);
        return;
      }
    }
    this.store.put(gr, next, 'MODIFIED');
  }

  private processDeletingOwner(gr: string, owner: KObject): void {
    const cur = this.store.get(gr, owner.metadata.namespace, owner.metadata.name!);
    if (!cur || !cur.metadata.deletionTimestamp) return;
    const uid = cur.metadata.uid!;
    const fin = cur.metadata.finalizers ?? [];
    if (fin.includes('orphan')) {
      for (const [dgr, dep] of this.store.dependents(uid)) {
        const next = clone(dep);
        next.metadata.ownerReferences = (dep.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        if (!next.metadata.ownerReferences.length) delete next.metadata.ownerReferences;
        this.store.put(dgr, next, 'MODIFIED');
      }
      this.removeFinalizer(gr, cur, 'orphan');
      return;
    }
    if (fin.includes('foregroundDeletion')) {
      const deps = this.store.dependents(uid);
      if (deps.length === 0) {
        this.removeFinalizer(gr, cur, 'foregroundDeletion');
        return;
      }
      for (const [dgr, dep] of deps) if (!dep.metadata.deletionTimestamp) this.deleteInternal(dgr, dep, 'Foreground');
    }
  }

  /** The namespace controller: delete everything inside, then drop the `kubernetes` finalizer. */
  private finalizeNamespace(name: string): void {
    const ns = this.store.get('namespaces', undefined, name);
    if (!ns || !ns.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const t of this.registry.all()) {
      if (!t.namespaced) continue;
      const gr = groupResource(t);
      for (const o of [...this.store.list(gr, name)]) {
        remaining++;
        if (!o.metadata.deletionTimestamp) this.deleteInternal(gr, o, 'Background');
        else if (gr === 'pods' && (o.metadata.deletionGracePeriodSeconds ?? 0) > 0 && Date.parse(o.metadata.deletionTimestamp) <= this.now()) this.store.delete(gr, o.metadata.namespace, o.metadata.name!);
      }
    }
    for (const gr of this.store.types()) if (!this.registry.byGroupResource(gr)) for (const o of [...this.store.list(gr, name)]) this.store.delete(gr, o.metadata.namespace, o.metadata.name!);
    let left = 0;
    for (const t of this.registry.all()) if (t.namespaced) for (const _ of this.store.list(groupResource(t), name)) left++;
    if (left > 0) {
      // Pods in grace, objects with finalizers: look again shortly.
      if (remaining > 0) setTimeout(() => this.queue(() => this.finalizeNamespace(name)), 200).unref();
      return;
    }
    const cur = this.store.get('namespaces', undefined, name)!;
    const next = clone(cur);
    next.spec = { ...rec(next.spec), finalizers: [] };
    if ((next.metadata.finalizers ?? []).length) {
      this.store.put('namespaces', next, 'MODIFIED');
      return;
    }
    this.store.put('namespaces', next, 'MODIFIED');
    this.store.delete('namespaces', undefined, name);
  }
}

/** `n` characters of apimachinery's random-name alphabet (no vowels, no look-alikes). */
function randomName(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
  return out;
}

/** Removes null-valued fields in place, recursively (arrays keep their positions). */
function stripNulls(v: unknown): void {
  if (Array.isArray(v)) for (const x of v) stripNulls(x);
  else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (x === null) delete v[k];
      else stripNulls(x);
    }
  }
}

// ---- CRD schema helpers ----

import { compileCrdSchema } from './validate.ts';
const schemaCache = new WeakMap<Rec, CrdSchema | undefined>();
function compileCrdSchemaCached(raw: Rec): CrdSchema | undefined {
  if (!schemaCache.has(raw)) schemaCache.set(raw, compileCrdSchema(raw));
  return schemaCache.get(raw);
}

/** Fills `default`s of a structural schema into missing fields (objects recurse; arrays default per item). */
export function applySchemaDefaults(v: unknown, schema: Rec, root = false): void {
  if (Array.isArray(v) && isObject(schema.items)) {
    for (const x of v) applySchemaDefaults(x, schema.items as Rec);
    return;
  }
  if (!isObject(v)) return;
  const props = rec(schema.properties);
  for (const [k, ps] of Object.entries(props)) {
    if (root && k === 'metadata') continue;
    const p = rec(ps);
    if (v[k] === undefined && p.default !== undefined) v[k] = clone(p.default);
    if (v[k] !== undefined) applySchemaDefaults(v[k], p);
  }
}
