// DOM helpers. Everything the dashboard shows is built here with createElement and text nodes: strings are never
// parsed as HTML, so names, messages and errors from users' Git render as text, whatever they contain.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    } else if (/^on/i.test(k)) {
      throw new Error(`attribute ${k}: use on: { event: handler }`);
    } else if (k === 'value' && 'value' in el) {
      el.value = String(v);
    } else if (k === 'checked' || k === 'disabled' || k === 'selected') {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An HTML element: h('td', { class: 'x' }, 'text', child). Strings become text nodes. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, same rules. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/**
 * Replaces the children of `el`. Views redraw whenever the event stream reports a change, so a keyboard user's focus
 * inside `el` moves to the redrawn twin of the element it was on: otherwise every live update would drop focus to
 * <body> under the user's fingers.
 */
export function fill(el, ...children) {
  const active = document.activeElement;
  const key = active && active !== el && el.contains(active) ? focusKey(active, el) : undefined;
  el.replaceChildren();
  append(el, children);
  if (key) el.querySelector(key)?.focus({ preventScroll: true });
  return el;
}

// An element's identity across redraws: its id, or its tag with its first data attribute (the views put the
// identity first: data-namespace, data-run, data-name; later ones such as a phase change) and its link target.
function selectorOf(node) {
  if (node.id) return `#${CSS.escape(node.id)}`;
  const data = [...node.attributes].find((a) => a.name.startsWith('data-'));
  const href = node.getAttribute('href');
  return CSS.escape(node.localName) + (data ? `[${data.name}="${CSS.escape(data.value)}"]` : '') + (href ? `[href="${CSS.escape(href)}"]` : '');
}

/** The selector of `active` under its nearest ancestor (below `root`) that has an identity of its own. */
function focusKey(active, root) {
  const own = selectorOf(active);
  if (active.id) return own;
  for (let up = active.parentElement; up && up !== root; up = up.parentElement) {
    if (up.id || Object.keys(up.dataset).length) return `${selectorOf(up)} ${own}`;
  }
  return own;
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el;
}

const pad = (n) => String(n).padStart(2, '0');

/** `2026-11-25 14:05 UTC`: one time zone for everyone reading the same audit trail. */
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return '—';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (Number.isNaN(s)) return '—';
  if (s < 0) return 'in the future';
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function fmtBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function fmtDuration(start, end) {
  if (!start || !end) return '—';
  const s = (Date.parse(end) - Date.parse(start)) / 1000;
  if (!Number.isFinite(s)) return '—';
  return s < 90 ? `${s.toFixed(1)}s` : `${Math.round(s / 60)}m`;
}

/** A small coloured label; `kind` picks the colour (pass, fail, warn, …) and must be a known class, never data. */
const BADGES = new Set(['pass', 'fail', 'warn', 'error', 'skip', 'ok', 'degraded', 'starting', 'info', 'running', 'waiting', 'tier']);
export function badge(text, kind) {
  return h('span', { class: `badge badge-${BADGES.has(kind) ? kind : 'info'}` }, text);
}

/** Maps a run / restore point / job phase to a badge colour. */
export function phaseKind(phase) {
  const p = String(phase ?? '').toLowerCase();
  if (p === 'succeeded') return 'pass';
  if (p === 'failed') return 'fail';
  if (p === 'partiallyfailed') return 'warn';
  if (p === 'running' || p === 'waiting' || p === 'pending') return 'running';
  return 'info';
}

/**
 * One status vocabulary on every view: runs and restore points say Succeeded / Failed / PartiallyFailed, and so do
 * API jobs (whose JSON says succeeded, running, …) once they pass through here.
 */
const WORDS = { succeeded: 'Succeeded', failed: 'Failed', partiallyfailed: 'PartiallyFailed', running: 'Running', waiting: 'Waiting', pending: 'Waiting', cancelled: 'Cancelled' };
export function statusWord(s) {
  return WORDS[String(s ?? '').toLowerCase()] ?? String(s ?? '—');
}

/** A status badge in the shared vocabulary. */
export function statusBadge(s) {
  return badge(statusWord(s), phaseKind(s === 'cancelled' ? 'failed' : s));
}

/** Application protection states, as the API names them, and how the page says them. */
export const STATE_LABEL = { Protected: 'Protected', Failing: 'Failing', NeverBackedUp: 'Never backed up', Unprotected: 'Unprotected' };
const STATE_KIND = { Protected: 'pass', Failing: 'fail', NeverBackedUp: 'warn', Unprotected: 'skip' };
export function stateBadge(state) {
  return badge(STATE_LABEL[state] ?? state, STATE_KIND[state] ?? 'info');
}

/** A table that scrolls sideways inside its own box on a narrow screen, instead of widening the page. */
export function scroller(table, label) {
  // Focusable so keyboard users can scroll it too (axe: scrollable-region-focusable), named for screen readers.
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': label }, table);
}
