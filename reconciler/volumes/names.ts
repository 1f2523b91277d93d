import { createHash } from 'node:crypto';

/**
 * A valid object name (DNS-1123 label, ≤ 63 chars so it also works as a label value and for Jobs, whose pods add a
 * suffix) made of a readable prefix and a unique suffix; long prefixes are cut and disambiguated by a hash.
 */
export function kubeName(prefix: string, suffix: string): string {
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '');
  const sfx = clean(suffix);
  let pre = clean(prefix) || 'coffer';
  const max = 63 - sfx.length - 1;
  if (pre.length > max) {
    const h = createHash('sha256').update(prefix).digest('hex').slice(0, 6);
    pre = `${pre.slice(0, Math.max(1, max - 7)).replace(/-+$/, '')}-${h}`;
  }
  return sfx ? `${pre}-${sfx}` : pre;
}

/** A valid label value (≤ 63 chars of `[A-Za-z0-9._-]`, alphanumeric at both ends) from any id. */
export function labelValue(s: string): string {
  return s
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}
