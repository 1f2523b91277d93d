/**
 * The JSONPath subset CRD printer columns and scale subresource paths use:
 * `.a.b`, `.a[0]`, `.a[*].b`, `.a['x.y']`, `.a[?(@.type=="Ready")].status`.
 */
import { isObject } from './object.ts';

type Seg = { kind: 'field'; name: string } | { kind: 'index'; i: number } | { kind: 'all' } | { kind: 'filter'; path: string[]; value: string };

export class JSONPath {
  private segs: Seg[];
  constructor(expr: string) {
    this.segs = parse(expr.replace(/^\{|\}$/g, '').replace(/^\$/, ''));
  }

  all(v: unknown): unknown[] {
    let cur: unknown[] = [v];
    for (const s of this.segs) {
      const next: unknown[] = [];
      for (const c of cur) {
        if (s.kind === 'field') {
          if (isObject(c) && c[s.name] !== undefined) next.push(c[s.name]);
        } else if (s.kind === 'index') {
          if (Array.isArray(c)) {
            const x = c[s.i < 0 ? c.length + s.i : s.i];
            if (x !== undefined) next.push(x);
          }
        } else if (s.kind === 'all') {
          if (Array.isArray(c)) next.push(...c);
          else if (isObject(c)) next.push(...Object.values(c));
        } else if (Array.isArray(c)) {
          for (const x of c) {
            let y: unknown = x;
            for (const p of s.path) y = isObject(y) ? y[p] : undefined;
            if (String(y) === s.value) next.push(x);
          }
        }
      }
      cur = next;
    }
    return cur;
  }

  first(v: unknown): unknown {
    return this.all(v)[0];
  }
}

function parse(expr: string): Seg[] {
  const segs: Seg[] = [];
  let i = 0;
  while (i < expr.length) {
    const ch = expr[i];
    if (ch === '.') {
      i++;
      let name = '';
      while (i < expr.length && expr[i] !== '.' && expr[i] !== '[') name += expr[i++];
      if (name === '*') segs.push({ kind: 'all' });
      else if (name) segs.push({ kind: 'field', name });
    } else if (ch === '[') {
      const end = expr.indexOf(']', i);
      const inner = expr.slice(i + 1, end < 0 ? expr.length : end).trim();
      i = end < 0 ? expr.length : end + 1;
      let m: RegExpMatchArray | null;
      if (inner === '*') segs.push({ kind: 'all' });
      else if (/^-?\d+$/.test(inner)) segs.push({ kind: 'index', i: Number(inner) });
      else if ((m = inner.match(/^['"](.*)['"]$/))) segs.push({ kind: 'field', name: m[1] });
      else if ((m = inner.match(/^\?\(@\.([\w.]+)\s*==\s*["']?([^"']*)["']?\)$/))) segs.push({ kind: 'filter', path: m[1].split('.'), value: m[2] });
    } else {
      let name = '';
      while (i < expr.length && expr[i] !== '.' && expr[i] !== '[') name += expr[i++];
      if (name) segs.push({ kind: 'field', name });
    }
  }
  return segs;
}
