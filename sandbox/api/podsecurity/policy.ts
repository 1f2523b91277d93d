/**
 * A namespace's Pod Security policy from its labels. Invalid values are field
 * errors (a namespace write carrying them is refused with 422), and meanwhile
 * evaluate the way the real admission does: an invalid enforce level enforces
 * `restricted`, an invalid version means `latest`, invalid warn/audit levels
 * fail open to `privileged`.
 */
import { fieldInvalid, type FieldError } from '../errors.ts';
import { LATEST } from './helpers.ts';
import type { Level, LevelVersion, Version } from './types.ts';

export const LABEL_PREFIX = 'pod-security.kubernetes.io/';
export const MODES = ['enforce', 'audit', 'warn'] as const;

export interface Policy {
  enforce: LevelVersion;
  audit: LevelVersion;
  warn: LevelVersion;
}

/** The API server's default when a namespace has no labels (no AdmissionConfiguration here). */
export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze<Policy>({
  enforce: { level: 'privileged', version: LATEST },
  audit: { level: 'privileged', version: LATEST },
  warn: { level: 'privileged', version: LATEST },
});

const LEVELS: Level[] = ['privileged', 'baseline', 'restricted'];

export function parseLevel(s: string): { level: Level; error?: string } {
  if ((LEVELS as string[]).includes(s)) return { level: s as Level };
  return { level: 'restricted', error: `must be one of ${LEVELS.join(', ')}` };
}

export function parseVersion(s: string): { version: Version; error?: string } {
  if (s === 'latest') return { version: LATEST };
  const m = /^v1\.([0-9]|[1-9][0-9]*)$/.exec(s);
  if (!m) return { version: LATEST, error: 'must be "latest" or "v1.x"' };
  return { version: { minor: Number(m[1]) } };
}

/** -1, 0, 1 as `a` is less, equally or more restrictive than `b`. */
export function compareLevels(a: Level, b: Level): number {
  return Math.sign(LEVELS.indexOf(a) - LEVELS.indexOf(b));
}

export function policyFromLabels(labels: Record<string, string> | undefined, defaults: Policy = DEFAULT_POLICY): { policy: Policy; errors: FieldError[] } {
  const p: Policy = { enforce: { ...defaults.enforce }, audit: { ...defaults.audit }, warn: { ...defaults.warn } };
  const errors: FieldError[] = [];
  const l = labels ?? {};
  let hasEnforceLevel = false;
  for (const mode of MODES) {
    const levelKey = LABEL_PREFIX + mode;
    const versionKey = `${levelKey}-version`;
    if (l[levelKey] !== undefined) {
      const { level, error } = parseLevel(l[levelKey]);
      p[mode].level = error && mode !== 'enforce' ? 'privileged' : level;
      if (error) errors.push(fieldInvalid(`metadata.labels[${levelKey}]`, l[levelKey], error));
      else if (mode === 'enforce') hasEnforceLevel = true;
    }
    if (l[versionKey] !== undefined) {
      const { version, error } = parseVersion(l[versionKey]);
      p[mode].version = version;
      if (error) errors.push(fieldInvalid(`metadata.labels[${versionKey}]`, l[versionKey], error));
    }
  }
  // Warn at least at the enforce level, so users see what enforcement will refuse.
  const hasWarnLevel = l[LABEL_PREFIX + 'warn'] !== undefined;
  if (!hasWarnLevel && hasEnforceLevel && compareLevels(p.enforce.level, p.warn.level) > 0) {
    p.warn.level = p.enforce.level;
    if (l[LABEL_PREFIX + 'warn-version'] === undefined) p.warn.version = p.enforce.version;
  }
  return { policy: p, errors };
}

export function levelVersionString(lv: LevelVersion): string {
  return `${lv.level}:${lv.version.latest ? 'latest' : `v1.${lv.version.minor}`}`;
}

export function sameLevelVersion(a: LevelVersion, b: LevelVersion): boolean {
  return a.level === b.level && a.version.minor === b.version.minor;
}
