/**
 * The API server's side of Pod Security Admission: reads the namespace (and,
 * for a namespace label change, its pods) from the store, asks the pure
 * `PodSecurity`, and turns its decision into a 403/422 or `Warning` headers.
 * Runs after validation, as the real validating admission does.
 */
import type { ServerResponse } from 'node:http';
import { forbidden, invalid } from '../errors.ts';
import type { KObject } from '../object.ts';
import { DEFAULT_CHECKS } from './checks/index.ts';
import { PodSecurity, POD_TEMPLATE_RESOURCES, type PodLike } from './admission.ts';
import { newEvaluator } from './registry.ts';

export interface PodSecurityStore {
  get(gr: string, ns: string | undefined, name: string): KObject | undefined;
  list(gr: string, ns?: string): Iterable<KObject>;
}

export class PodSecurityHook {
  private readonly psa: PodSecurity;

  /** `serverMinor`: the API server's minor version, the newest policy version it evaluates (`latest`). */
  constructor(
    private readonly store: PodSecurityStore,
    serverMinor: number,
  ) {
    this.psa = new PodSecurity(newEvaluator(DEFAULT_CHECKS, serverMinor));
  }

  /**
   * `gr` is `resource[.group]`; `old` is set on update. Subresource writes
   * (status, scale, binding…) are not evaluated. Throws the refusal; adds warnings to `res`.
   */
  admit(gr: string, obj: KObject, old: KObject | undefined, res: ServerResponse | undefined): void {
    const ns = obj.metadata.namespace;
    if (gr === 'namespaces') {
      const name = obj.metadata.name!;
      const r = this.psa.namespace(obj.metadata.labels, old?.metadata.labels, !old, name, () => [...this.store.list('pods', name)] as PodLike[]);
      if (r.errors.length) throw invalid('Namespace', '', name, r.errors);
      appendWarnings(res, r.warnings);
      return;
    }
    if (!ns) return;
    const labels = () => this.store.get('namespaces', undefined, ns)?.metadata.labels;
    if (gr === 'pods') {
      const d = this.psa.pod(labels(), obj as PodLike, old as PodLike | undefined);
      if (!d.allowed) throw forbidden('pods', '', obj.metadata.name ?? '', d.reason!);
      appendWarnings(res, d.warnings);
      return;
    }
    const template = POD_TEMPLATE_RESOURCES[gr];
    if (template) appendWarnings(res, this.psa.template(labels(), template(obj)).warnings);
  }
}

/** Adds `Warning: 299 - "text"` headers (RFC 7234 quoted-string), which kubectl prints as `Warning: text`. */
export function appendWarnings(res: ServerResponse | undefined, texts: string[]): void {
  if (!res || !texts.length || res.headersSent) return;
  const prev = res.getHeader('warning');
  const list = Array.isArray(prev) ? prev : prev ? [String(prev)] : [];
  res.setHeader('warning', [...list, ...texts.map((t) => `299 - "${t.replace(/["\\]/g, (c) => `\\${c}`)}"`)]);
}
