// The Applications view (the landing page): every namespace of the cluster with its protection state, computed by
// the server (GET /api/v1/applications). Search, state filter, sort and paging all happen server-side: the page holds
// only the rows it shows and says how many there are in all.

import { get } from './api.js';
import { badge, byId, fill, fmtAgo, fmtBytes, h, scroller, STATE_LABEL, stateBadge, statusBadge } from './dom.js';

const PAGE = 100;
const COLUMNS = [
  { key: 'namespace', label: 'Application (namespace)', sort: 'namespace' },
  { key: 'state', label: 'State', sort: 'state' },
  { key: 'policies', label: 'Policies' },
  { key: 'lastGood', label: 'Last good restore point', sort: 'lastGood' },
  { key: 'rpo', label: 'RPO' },
  { key: 'verified', label: 'Restore verified' },
  { key: 'restorePoints', label: 'Restore points', sort: 'restorePoints' },
  { key: 'size', label: 'Size', sort: 'size' },
  { key: 'lastRun', label: 'Last run' },
];

const view = { sort: 'state', order: 'asc', items: [], next: undefined, total: 0, counts: {}, loading: 0 };

function query(cont) {
  const p = new URLSearchParams({ limit: String(PAGE), sort: view.sort, order: view.order });
  const q = byId('apps-search').value.trim();
  const state = byId('apps-state').value;
  if (q) p.set('q', q);
  if (state) p.set('state', state);
  if (cont) p.set('continue', cont);
  return `/applications?${p}`;
}

/** Loads the first page for the current search, filter and sort (or the next page with `more`). */
export async function loadApplications({ more = false } = {}) {
  const ticket = ++view.loading;
  try {
    const page = await get(query(more ? view.next : undefined));
    if (ticket !== view.loading) return; // a newer search was typed meanwhile
    view.items = more ? [...view.items, ...page.items] : page.items;
    view.next = page.metadata.continue;
    view.total = page.metadata.total;
    view.counts = page.metadata.counts;
    fill(byId('apps-error'));
    render();
  } catch (e) {
    if (ticket !== view.loading) return;
    if (e.status === 401) throw e;
    // The server's reason, beside the controls that asked.
    fill(byId('apps-error'), h('span', { class: 'error-text' }, e.message));
  }
}

function render() {
  const el = byId('apps');
  const select = byId('apps-state');
  for (const o of select.options) if (o.value) o.textContent = `${STATE_LABEL[o.value]} (${view.counts[o.value] ?? 0})`;
  fill(
    byId('apps-summary'),
    ...Object.entries(STATE_LABEL).map(([k, label]) => h('span', { class: 'count', dataset: { state: k } }, h('strong', {}, String(view.counts[k] ?? 0)), ` ${label}`)),
  );
  if (!view.items.length) {
    const filtered = byId('apps-search').value.trim() || byId('apps-state').value;
    return fill(el, h('p', { class: 'empty', id: 'apps-empty' }, filtered ? 'No application matches this search. Clear the search box or pick "every state".' : 'No namespaces yet. Create one in the cluster and add a policy whose selector picks it (policies/*.yaml in the policy repository).'));
  }
  const head = h(
    'tr',
    {},
    COLUMNS.map((c) => {
      const sorted = view.sort === c.sort;
      const th = h('th', { scope: 'col', ...(sorted ? { 'aria-sort': view.order === 'asc' ? 'ascending' : 'descending' } : {}) });
      if (!c.sort) return fill(th, c.label);
      return fill(
        th,
        h(
          'button',
          {
            type: 'button',
            class: 'sort',
            dataset: { sort: c.sort },
            'aria-label': `Sort by ${c.label}${sorted ? (view.order === 'asc' ? ', now ascending' : ', now descending') : ''}`,
            on: {
              click: () => {
                view.order = sorted && view.order === 'asc' ? 'desc' : 'asc';
                view.sort = c.sort;
                void loadApplications();
              },
            },
          },
          c.label,
          sorted ? (view.order === 'asc' ? ' ▲' : ' ▼') : '',
        ),
      );
    }),
  );
  const rows = view.items.map((a) =>
    h(
      'tr',
      { dataset: { namespace: a.namespace, state: a.state } },
      h('td', {}, h('a', { href: `#/apps/${encodeURIComponent(a.namespace)}`, class: 'app-link' }, a.namespace), a.live ? null : [' ', badge('deleted', 'info')]),
      h('td', {}, stateBadge(a.state), h('div', { class: 'muted' }, a.reason)),
      h('td', {}, a.policies.filter((p) => p.selects).map((p) => h('span', { class: 'chip' }, p.name, p.paused ? ' (paused)' : '')), a.policies.some((p) => p.selects) ? null : '—'),
      h('td', {}, a.lastGood ? [fmtAgo(a.lastGood.startTime), h('div', { class: 'muted' }, a.lastGood.name)] : '—'),
      h('td', {}, a.rpo ? badge(a.rpo === 'pass' ? 'met' : a.rpo === 'fail' ? 'missed' : a.rpo, a.rpo) : '—'),
      h('td', {}, a.verified ? [badge(a.verified.result === 'pass' ? 'verified' : a.verified.result === 'fail' ? 'not verified' : a.verified.result, a.verified.result), a.verified.startTime ? h('div', { class: 'muted' }, fmtAgo(a.verified.startTime)) : null] : '—'),
      h('td', { class: 'num' }, String(a.restorePoints)),
      h('td', { class: 'num' }, a.lastGood ? fmtBytes(a.lastGood.bytes) : '—'),
      h('td', {}, a.lastRun ? [statusBadge(a.lastRun.phase), ' ', h('span', { class: 'muted' }, fmtAgo(a.lastRun.startTime))] : '—'),
    ),
  );
  fill(
    el,
    scroller(h('table', { class: 'grid', id: 'apps-table' }, h('caption', { class: 'sr-only' }, 'Applications and their protection'), h('thead', {}, head), h('tbody', {}, rows)), 'Applications table'),
    h(
      'p',
      { class: 'muted', id: 'apps-count' },
      `Showing ${view.items.length} of ${view.total}`,
      view.next ? [' ', h('button', { type: 'button', id: 'apps-more', on: { click: () => void loadApplications({ more: true }) } }, `Load ${Math.min(PAGE, view.total - view.items.length)} more`)] : null,
    ),
  );
}

/** A backup of an application running now (from the event stream): its row says so until the run ends. */
export function applicationsProgress(type, data) {
  if (type !== 'run' || !data.namespace) return;
  const row = document.querySelector(`#apps-table tr[data-namespace="${CSS.escape(data.namespace)}"]`);
  const cell = row?.lastElementChild;
  if (!cell) return;
  cell.querySelector('.live-run')?.remove();
  if (data.phase === 'Running') cell.append(h('div', { class: 'live-run' }, statusBadge('running'), ` ${data.policy}${data.step ? `: ${data.step.slice(0, 80)}` : ''}`));
}

export function setupApplications() {
  let timer;
  byId('apps-search').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => void loadApplications(), 200);
  });
  byId('apps-state').addEventListener('change', () => void loadApplications());
  byId('apps-form').addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(timer);
    void loadApplications();
  });
}
