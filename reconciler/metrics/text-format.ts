/**
 * A strict parser of the Prometheus text exposition format (0.0.4), used to check what `/metrics` serves the way a
 * Prometheus server would read it: malformed lines, unknown escapes, samples without a TYPE, duplicate series and
 * inconsistent histograms are errors rather than silently skipped.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

export class TextFormatError extends Error {
  readonly code = 'E_METRICS_FORMAT';
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const seen = new Set<string>();
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new TextFormatError('exposition must end with a newline');
  lines.pop();
  lines.forEach((line, i) => {
    const at = `line ${i + 1}`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string];
      if (!NAME.test(name)) throw new TextFormatError(`${at}: invalid metric name "${name}"`);
      const fam = families.get(name) ?? { name, type: 'untyped' as const, samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new TextFormatError(`${at}: unknown type "${rest}"`);
        if (fam.samples.length) throw new TextFormatError(`${at}: TYPE for ${name} after its samples`);
        fam.type = rest as MetricFamily['type'];
      } else {
        if (fam.help !== undefined) throw new TextFormatError(`${at}: second HELP for ${name}`);
        fam.help = unescape(rest, false, at);
      }
      families.set(name, fam);
      return;
    }
    if (!line.trim()) return; // the format ignores empty lines
    const sample = parseSample(line, at);
    const fam = familyOf(families, sample.name);
    if (!fam) throw new TextFormatError(`${at}: sample ${sample.name} has no TYPE line`);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seen.has(key)) throw new TextFormatError(`${at}: duplicate series ${key}`);
    seen.add(key);
    fam.samples.push(sample);
  });
  for (const fam of families.values()) if (fam.type === 'histogram') checkHistogram(fam);
  return families;
}

function familyOf(families: Map<string, MetricFamily>, sample: string): MetricFamily | undefined {
  const direct = families.get(sample);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

function parseSample(line: string, at: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?\d+)?$/.exec(line);
  if (!m) throw new TextFormatError(`${at}: malformed sample "${line}"`);
  const labels: Record<string, string> = {};
  if (m[2]) {
    let rest = m[2].slice(1, -1);
    while (rest.length) {
      const lm = /^([^=]+)="((?:[^"\\]|\\.)*)"(,|$)/.exec(rest);
      if (!lm) throw new TextFormatError(`${at}: malformed labels in "${line}"`);
      const name = lm[1]!;
      if (!LABEL.test(name)) throw new TextFormatError(`${at}: invalid label name "${name}"`);
      if (name in labels) throw new TextFormatError(`${at}: label ${name} given twice`);
      labels[name] = unescape(lm[2]!, true, at);
      rest = rest.slice(lm[0].length);
    }
  }
  const raw = m[3]!;
  // Prometheus reads values with Go's ParseFloat: Inf, Infinity and NaN in any case, with an optional sign on Inf.
  const value = /^\+?inf(inity)?$/i.test(raw) ? Infinity : /^-inf(inity)?$/i.test(raw) ? -Infinity : /^nan$/i.test(raw) ? NaN : /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw) ? Number(raw) : undefined;
  if (value === undefined) throw new TextFormatError(`${at}: invalid value "${raw}"`);
  return { name: m[1]!, labels, value };
}

function unescape(s: string, quotes: boolean, at: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quotes) return '"';
    throw new TextFormatError(`${at}: invalid escape \\${c}`);
  });
}

/** Buckets cumulative and ending in +Inf, which equals _count, for every label set. */
function checkHistogram(fam: MetricFamily): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number; sum?: number }>();
  for (const s of fam.samples) {
    const { le, ...rest } = s.labels;
    const k = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(k) ?? { buckets: [] };
    if (s.name === `${fam.name}_bucket`) {
      if (le === undefined) throw new TextFormatError(`${fam.name}: bucket without le`);
      g.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name === `${fam.name}_count`) g.count = s.value;
    else if (s.name === `${fam.name}_sum`) g.sum = s.value;
    else throw new TextFormatError(`${fam.name}: unexpected sample ${s.name} in a histogram`);
    groups.set(k, g);
  }
  for (const [k, g] of groups) {
    const b = g.buckets.sort((x, y) => x[0] - y[0]);
    if (b.at(-1)?.[0] !== Infinity) throw new TextFormatError(`${fam.name}${k}: no +Inf bucket`);
    for (let i = 1; i < b.length; i++) if (b[i]![1] < b[i - 1]![1]) throw new TextFormatError(`${fam.name}${k}: buckets not cumulative`);
    if (g.count === undefined || g.sum === undefined) throw new TextFormatError(`${fam.name}${k}: missing _count or _sum`);
    if (b.at(-1)![1] !== g.count) throw new TextFormatError(`${fam.name}${k}: +Inf bucket ${b.at(-1)![1]} differs from _count ${g.count}`);
  }
}

/** The value of one series, or undefined. */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const fam of families.values()) {
    for (const s of fam.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
