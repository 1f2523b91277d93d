import { compileCel, CelError, type CelEnvironment } from './cel-adapter.ts';
import { FUNCTIONS, type FunctionName, type Kind } from '../../schemas/index.ts';
import { documentKey, type DocumentIndex, type SourceDocument } from '../documents.ts';
import type { PathSegment } from '../load/yaml.ts';
import { isTemplated, parseTemplate, TemplateError, type TemplateScope } from '../template.ts';
import type { Reporter } from './reporter.ts';
import { formatPath } from './paths.ts';
import { suggest, validateFunctionArgs } from './schema.ts';

/**
 * Indexes documents by Kind/name, reporting duplicates at both locations.
 * The first document (in file order) wins so later checks still see one of them.
 */
export function indexDocuments(docs: SourceDocument[], reporter: Reporter): DocumentIndex {
  const index: DocumentIndex = {};
  let config: SourceDocument | undefined;
  for (const d of docs) {
    if (d.kind === 'Config') {
      if (config) {
        reporter.add(d, ['kind'], 'E_DUPLICATE', `a repository has one Config; another is at ${config.file}:${config.line}:${config.column}`, { related: config });
        reporter.add(config, ['kind'], 'E_DUPLICATE', `a repository has one Config; another is at ${d.file}:${d.line}:${d.column}`, { related: d });
        continue;
      }
      config = d;
    }
    const key = documentKey(d.kind, d.name);
    const prev = index[key];
    if (prev) {
      reporter.add(d, ['metadata', 'name'], 'E_DUPLICATE', `duplicate ${d.kind} "${d.name}": also defined at ${prev.file}:${prev.line}:${prev.column}`, { related: prev });
      reporter.add(prev, ['metadata', 'name'], 'E_DUPLICATE', `duplicate ${d.kind} "${d.name}": also defined at ${d.file}:${d.line}:${d.column}`, { related: d });
      continue;
    }
    index[key] = d;
  }
  return index;
}

/** Checks one CEL expression at `path`; errors point inside the YAML scalar at the offending token. */
export function checkCel(doc: SourceDocument, path: PathSegment[], source: unknown, env: CelEnvironment, reporter: Reporter): boolean {
  if (typeof source !== 'string' || source.length === 0) return false;
  try {
    compileCel(source, env, { expect: 'bool' });
    return true;
  } catch (e) {
    if (e instanceof CelError) {
      reporter.add(doc, path, 'E_CEL', `${String(path[path.length - 1])}: ${e.message}`, { offset: e.offset });
      return false;
    }
    throw e;
  }
}

function checkRef(doc: SourceDocument, path: PathSegment[], kind: Kind, name: unknown, index: DocumentIndex, reporter: Reporter, severity: 'error' | 'warning' = 'error'): void {
  if (typeof name !== 'string' || index[documentKey(kind, name)]) return;
  const known = Object.values(index).filter((d) => d.kind === kind).map((d) => d.name).sort();
  const hint = suggest(name, known);
  reporter.add(
    doc,
    path,
    'E_REFERENCE',
    `${kind} "${name}" not found${hint ? `; did you mean "${hint}"?` : known.length ? ` (defined: ${known.join(', ')})` : ` (no ${kind} is defined in this repository)`}`,
    { severity },
  );
}

type Obj = Record<string, unknown>;

/** Reference, CEL, template and consistency checks that a JSON Schema cannot express. */
export function checkSemantics(index: DocumentIndex, reporter: Reporter): void {
  for (const d of Object.values(index)) {
    const spec = d.value.spec as Obj;
    if (d.schemaValid === false) {
      // Best effort on a document whose shape is already known to be wrong: report what
      // can be checked (CEL, references) and ignore what cannot.
      try {
        checkDocument(d, spec, index, reporter);
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
      }
      continue;
    }
    checkDocument(d, spec, index, reporter);
  }
}

function checkDocument(d: SourceDocument, spec: Obj, index: DocumentIndex, reporter: Reporter): void {
  {
    switch (d.kind) {
      case 'Policy':
        checkPolicy(d, spec, index, reporter);
        break;
      case 'Blueprint':
        checkBlueprint(d, spec, reporter);
        break;
      case 'TransformSet':
        checkTransformSet(d, spec, reporter);
        break;
      case 'Restore':
        checkRestore(d, spec, index, reporter);
        break;
      case 'Config': {
        const profile = (spec.defaults as Obj | undefined)?.profile;
        if (typeof profile === 'string') checkRef(d, ['spec', 'defaults', 'profile'], 'Profile', profile, index, reporter);
        break;
      }
      default:
        break;
    }
  }
}

function checkPolicy(d: SourceDocument, spec: Obj, index: DocumentIndex, reporter: Reporter): void {
  checkRef(d, ['spec', 'profile'], 'Profile', spec.profile, index, reporter);
  const selector = (spec.selector ?? {}) as Obj;
  checkCel(d, ['spec', 'selector', 'namespaces'], selector.namespaces, 'namespace', reporter);
  checkCel(d, ['spec', 'selector', 'resources'], selector.resources, 'object', reporter);
  if (typeof spec.blueprint === 'string') checkRef(d, ['spec', 'blueprint'], 'Blueprint', spec.blueprint, index, reporter);
  const bindings = Array.isArray(spec.blueprints) ? (spec.blueprints as Obj[]) : [];
  const seen = new Map<string, number>();
  bindings.forEach((b, i) => {
    checkRef(d, ['spec', 'blueprints', i, 'name'], 'Blueprint', b.name as string, index, reporter);
    if (typeof b.workloads === 'string') checkCel(d, ['spec', 'blueprints', i, 'workloads'], b.workloads, 'workload', reporter);
    const prev = seen.get(b.name as string);
    if (prev !== undefined && b.workloads === bindings[prev]!.workloads) {
      reporter.add(d, ['spec', 'blueprints', i], 'E_DUPLICATE', `blueprint "${String(b.name)}" is bound twice with the same workloads (also spec.blueprints[${prev}])`);
    }
    seen.set(b.name as string, i);
  });
  checkVerify(d, spec, bindings, index, reporter);
  // A blueprint bound once per namespace has no workload: its templates must not use one.
  const perNamespace: [PathSegment[], unknown][] = [
    ...(typeof spec.blueprint === 'string' ? [[['spec', 'blueprint'], spec.blueprint] as [PathSegment[], unknown]] : []),
    ...bindings.map((b, i) => [['spec', 'blueprints', i, 'name'], b.workloads === undefined ? b.name : undefined] as [PathSegment[], unknown]),
  ];
  for (const [path, name] of perNamespace) {
    if (typeof name !== 'string') continue;
    const bp = index[documentKey('Blueprint', name)];
    if (bp && /\{\{[^}]*\bworkload\./.test(JSON.stringify(bp.value.spec))) {
      reporter.add(d, path, 'E_REFERENCE', `blueprint "${name}" uses {{ workload.… }} but is bound once per namespace here: add \`workloads: <CEL>\` to say which workloads it runs for`);
    }
  }
  if (typeof spec.blueprint === 'string' && bindings.some((b) => b.name === spec.blueprint && b.workloads === undefined)) {
    reporter.add(d, ['spec', 'blueprint'], 'E_DUPLICATE', `blueprint "${spec.blueprint}" is bound both by spec.blueprint and spec.blueprints`);
  }
  const retention = (spec.retention ?? {}) as Record<string, number>;
  if (Object.keys(retention).length > 0 && Object.values(retention).every((n) => n === 0)) {
    reporter.add(d, ['spec', 'retention'], 'E_RETENTION', 'spec.retention keeps nothing: every count is 0, so each restore point would expire as soon as it is taken');
  }
}

/**
 * spec.verify: check names are unique, a check's blueprint is one this policy binds and it has a verify action, and
 * checks are only written where some bound blueprint can answer them.
 */
function checkVerify(d: SourceDocument, spec: Obj, bindings: Obj[], index: DocumentIndex, reporter: Reporter): void {
  const checks = Array.isArray((spec.verify as Obj | undefined)?.checks) ? ((spec.verify as Obj).checks as Obj[]) : [];
  if (!checks.length) return;
  const bound = [...new Set([...(typeof spec.blueprint === 'string' ? [spec.blueprint] : []), ...bindings.map((b) => b.name as string)])];
  const hasVerify = (name: string) => Boolean(((index[documentKey('Blueprint', name)]?.value.spec as Obj | undefined)?.actions as Obj | undefined)?.verify);
  const answering = bound.filter(hasVerify);
  const names = new Map<string, number>();
  checks.forEach((c, i) => {
    const base: PathSegment[] = ['spec', 'verify', 'checks', i];
    const prev = names.get(c.name as string);
    if (prev !== undefined) reporter.add(d, [...base, 'name'], 'E_DUPLICATE', `check "${String(c.name)}" is defined twice in spec.verify.checks (also checks[${prev}])`);
    names.set(c.name as string, i);
    const e = (c.expect ?? {}) as Obj;
    if (typeof e.atLeast === 'number' && typeof e.atMost === 'number' && e.atLeast > e.atMost) {
      reporter.add(d, [...base, 'expect'], 'E_SCHEMA', `expect.atLeast ${e.atLeast} is greater than expect.atMost ${e.atMost}: no answer can pass`);
    }
    if (typeof c.blueprint === 'string') {
      if (!bound.includes(c.blueprint)) reporter.add(d, [...base, 'blueprint'], 'E_REFERENCE', `blueprint "${c.blueprint}" is not bound by this policy (bound: ${bound.join(', ') || 'none'})`);
      else if (index[documentKey('Blueprint', c.blueprint)] && !hasVerify(c.blueprint)) reporter.add(d, [...base, 'blueprint'], 'E_REFERENCE', `blueprint "${c.blueprint}" has no verify action to answer this check`);
    } else if (!answering.length && bound.every((b) => index[documentKey('Blueprint', b)])) {
      reporter.add(d, [...base, 'query'], 'E_REFERENCE', `no blueprint bound by this policy has a verify action to answer this check (bound: ${bound.join(', ') || 'none'})`);
    }
  });
}

const ACTIONS = ['backup', 'restore', 'delete', 'validate', 'verify'] as const;

function checkBlueprint(d: SourceDocument, spec: Obj, reporter: Reporter): void {
  const actions = spec.actions as Record<string, Obj | undefined>;
  const backupArtifacts: Record<string, string[]> = {};
  for (const [name, a] of Object.entries(((actions.backup?.outputArtifacts as Obj | undefined) ?? {}) as Record<string, { keyValue: Obj }>)) {
    backupArtifacts[name] = Object.keys(a.keyValue).sort();
  }
  for (const action of ACTIONS) {
    const a = actions[action];
    if (!a) continue;
    const base: PathSegment[] = ['spec', 'actions', action];
    // Artifacts a backup action reads would be its own outputs: not available yet.
    const artifacts = action === 'backup' ? {} : backupArtifacts;
    const inputs = (a.inputArtifacts as string[] | undefined) ?? [];
    inputs.forEach((name, i) => {
      if (!artifacts[name]) {
        reporter.add(d, [...base, 'inputArtifacts', i], 'E_REFERENCE', action === 'backup' ? `the backup action cannot read artifacts (it records them)` : `artifact "${name}" is not recorded by the backup action's outputArtifacts`);
      }
    });
    const phases = (a.phases as Obj[]) ?? [];
    const fin = (a.finally as Obj[] | undefined) ?? [];
    const names = new Map<string, PathSegment[]>();
    const earlier: string[] = [];
    const checkPhase = (p: Obj, path: PathSegment[], scopePhases: string[]) => {
      const name = p.name as string;
      const prev = names.get(name);
      if (prev) reporter.add(d, [...path, 'name'], 'E_DUPLICATE', `phase "${name}" is defined twice in the ${action} action`);
      names.set(name, path);
      const func = p.func as FunctionName;
      // A missing or non-mapping `args` is the blueprint schema's to report; checking it here again would say "got undefined".
      if ((FUNCTIONS as readonly string[]).includes(func) && p.args !== null && typeof p.args === 'object') {
        for (const prob of validateFunctionArgs(func, p.args, [...path, 'args'])) reporter.add(d, prob.path, 'E_SCHEMA', prob.message, { key: prob.atKey });
      }
      checkTemplates(d, p.args, [...path, 'args'], { phases: scopePhases, artifacts, verify: action === 'verify' }, reporter);
      if (func === 'Wait') {
        const cond = (p.args as Obj | undefined)?.condition;
        if (typeof cond === 'string' && !isTemplated(cond)) checkCel(d, [...path, 'args', 'condition'], cond, 'object', reporter);
      }
    };
    phases.forEach((p, i) => {
      checkPhase(p, [...base, 'phases', i], [...earlier]);
      earlier.push(p.name as string);
    });
    fin.forEach((p, i) => checkPhase(p, [...base, 'finally', i], [...earlier]));
    const outputs = (a.outputArtifacts as Record<string, { keyValue: Obj }> | undefined) ?? {};
    for (const [artifact, spec2] of Object.entries(outputs)) {
      checkTemplates(d, spec2.keyValue, [...base, 'outputArtifacts', artifact, 'keyValue'], { phases: [...earlier, ...fin.map((p) => p.name as string)], artifacts, verify: action === 'verify' }, reporter);
    }
  }
}

/** Parses every templated string under `value`; errors point at the offending character. */
function checkTemplates(d: SourceDocument, value: unknown, path: PathSegment[], scope: TemplateScope, reporter: Reporter): void {
  if (typeof value === 'string') {
    if (!isTemplated(value)) return;
    try {
      parseTemplate(value, scope);
    } catch (e) {
      if (e instanceof TemplateError) reporter.add(d, path, 'E_TEMPLATE', `${fieldLabel(path)}: ${e.message}`, { offset: e.offset });
      else throw e;
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => checkTemplates(d, v, [...path, i], scope, reporter));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) checkTemplates(d, v, [...path, k], scope, reporter);
  }
}

/** The last field name of a path with its indices, e.g. command[2]. */
function fieldLabel(path: PathSegment[]): string {
  let i = path.length - 1;
  while (i > 0 && typeof path[i] === 'number') i--;
  return formatPath(path.slice(i));
}

function checkTransformSet(d: SourceDocument, spec: Obj, reporter: Reporter): void {
  const names = new Set<string>();
  (spec.transforms as Obj[]).forEach((t, i) => {
    const base: PathSegment[] = ['spec', 'transforms', i];
    if (names.has(t.name as string)) reporter.add(d, [...base, 'name'], 'E_DUPLICATE', `transform "${String(t.name)}" is defined twice in this TransformSet`);
    names.add(t.name as string);
    checkCel(d, [...base, 'condition'], t.condition as string, 'transform', reporter);
    (t.patch as Obj[]).forEach((op, j) => {
      const p = [...base, 'patch', j];
      const kind = op.op as string;
      if ((kind === 'add' || kind === 'replace' || kind === 'test') && !('value' in op)) reporter.add(d, p, 'E_SCHEMA', `${kind} operation needs a "value"`);
      if ((kind === 'move' || kind === 'copy') && typeof op.from !== 'string') reporter.add(d, p, 'E_SCHEMA', `${kind} operation needs a "from" pointer`);
      if ((kind === 'remove' || kind === 'move' || kind === 'copy') && 'value' in op) reporter.add(d, [...p, 'value'], 'E_SCHEMA', `${kind} operation takes no "value"`, { key: true });
      if (op.path === '' && kind !== 'test') reporter.add(d, [...p, 'path'], 'E_SCHEMA', 'path "" would replace the whole object; point at a field such as /spec/replicas');
      if (op.path === '/metadata/namespace' || op.path === '/kind' || op.path === '/apiVersion') {
        reporter.add(d, [...p, 'path'], 'E_SCHEMA', `a transform cannot change ${String(op.path)} (use the Restore's target.namespace to rename the namespace)`);
      }
    });
  });
}

function checkRestore(d: SourceDocument, spec: Obj, index: DocumentIndex, reporter: Reporter): void {
  ((spec.transforms as string[] | undefined) ?? []).forEach((t, i) => checkRef(d, ['spec', 'transforms', i], 'TransformSet', t, index, reporter));
  const source = spec.source as Obj;
  const cfg = Object.values(index).find((x) => x.kind === 'Config');
  const thisCluster = (cfg?.value.spec as Obj | undefined)?.cluster;
  // Restore points of a removed policy, or of another cluster, are still restorable: only warn.
  if (source.cluster === undefined || source.cluster === thisCluster) {
    checkRef(d, ['spec', 'source', 'policy'], 'Policy', source.policy as string, index, reporter, 'warning');
  }
  const include = spec.include as Obj | undefined;
  if (typeof include?.resources === 'string') checkCel(d, ['spec', 'include', 'resources'], include.resources, 'object', reporter);
  if (source.before !== undefined && source.restorePoint !== undefined && source.restorePoint !== 'latest') {
    reporter.add(d, ['spec', 'source', 'before'], 'E_SCHEMA', 'spec.source.before only applies with restorePoint: latest');
  }
}
