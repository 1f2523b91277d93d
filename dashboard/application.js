// An application's page (#/apps/NAMESPACE): its protection per policy, the restore point timeline (GFS tier in the
// tooltip and the list), runs with their phases and logs, restores, live progress, and a restore point's details.

import { get } from './api.js';
import { renderDetails } from './details.js';
import { badge, byId, fill, fmtAgo, fmtBytes, fmtDuration, fmtTime, h, scroller, stateBadge, statusBadge, statusWord } from './dom.js';
import { pointSize, renderTimeline } from './timeline.js';
import { renderRestores } from './views.js';

const LIST = 25;
const page = { ns: undefined, app: undefined, can: undefined, tiers: {}, points: [], shown: LIST, runs: [], runsNext: undefined, selected: undefined, progress: new Map(), openRuns: new Set(), ticket: 0 };
let hooks = { canRestore: () => false, onRestore: () => undefined };

export function setupApplication(callbacks) {
  hooks = callbacks;
  for (const id of ['app-range', 'app-policy', 'app-phase']) byId(id).addEventListener('change', () => void loadPoints().then((ok) => ok && drawPoints()));
}

/** Forgets the open application (sign-out): the next caller's first look at any page starts empty. */
export function closeApplication() {
  page.ns = undefined;
  page.app = undefined;
  page.ticket++;
}

/** Opens (or refreshes) the page of `ns`; `rp` names a restore point whose details to show. */
export async function openApplication(ns, rp) {
  const fresh = ns !== page.ns;
  if (fresh) {
    Object.assign(page, { ns, app: undefined, can: undefined, tiers: {}, points: [], shown: LIST, runs: [], runsNext: undefined, progress: new Map(), openRuns: new Set() });
    fill(byId('app-title'), ns);
    for (const id of ['app-head', 'app-timeline', 'app-points', 'app-runs', 'app-restores', 'app-rp', 'app-progress']) fill(byId(id));
  }
  page.selected = rp;
  const ticket = ++page.ticket;
  try {
    const [detail] = await Promise.all([get(`/applications/${encodeURIComponent(ns)}`), loadPoints(), orInPlace('app-runs', loadRuns), orInPlace('app-restores', loadRestores)]);
    if (ticket !== page.ticket) return;
    // Drawn once the points and their tiers are both in: the timeline never shows a point without its tier.
    page.app = detail.application;
    page.can = detail.can;
    page.tiers = detail.tiers;
    fill(byId('app-error'));
    renderHead();
    drawPoints();
    await showDetails();
  } catch (e) {
    if (ticket !== page.ticket) return;
    fill(byId('app-error'), h('span', { class: 'error-text' }, e.message));
  }
}

function renderHead() {
  const a = page.app;
  fill(byId('app-title'), a.namespace, ' ', stateBadge(a.state), a.live ? null : [' ', badge('deleted from the cluster', 'info')]);
  const policySelect = byId('app-policy');
  const want = ['', ...a.policies.map((p) => p.name)];
  if ([...policySelect.options].map((o) => o.value).join() !== want.join()) {
    const keep = policySelect.value;
    fill(policySelect, want.map((v) => h('option', { value: v }, v || 'every policy')));
    policySelect.value = want.includes(keep) ? keep : '';
  }
  fill(
    byId('app-head'),
    h('p', { id: 'app-reason' }, a.reason),
    a.policies.length
      ? scroller(
          h(
            'table',
            { class: 'grid', id: 'app-policies' },
            h('thead', {}, h('tr', {}, ['policy', 'selects it', 'restore points', 'last good', 'last run', 'RPO', 'restore verification'].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              {},
              a.policies.map((p) =>
                h(
                  'tr',
                  { dataset: { policy: p.name } },
                  h('td', {}, p.name, p.paused ? [' ', badge('paused', 'warn')] : null),
                  h('td', {}, p.selects ? 'yes' : 'no (restore points remain)'),
                  h('td', { class: 'num' }, String(p.restorePoints)),
                  h('td', {}, p.lastGood ? `${fmtAgo(p.lastGood.startTime)} · ${fmtBytes(p.lastGood.bytes)}` : '—'),
                  h('td', {}, p.lastRun ? [statusBadge(p.lastRun.phase), ` ${fmtAgo(p.lastRun.startTime)}`] : 'never ran'),
                  h('td', { class: 'message' }, p.rpo ? p.rpo.message : '—'),
                  h('td', { class: 'message' }, p.verification ? p.verification.message : 'no verify: in the policy'),
                ),
              ),
            ),
          ),
          'Policies of this application',
        )
      : h('p', { class: 'empty' }, 'No policy selects this namespace. Add a policy whose selector picks it (for example the label backup.coffer.dev/enabled=true) and push it to the policy branch.'),
  );
}

/** Every restore point of the namespace in the chosen range (all pages: the timeline shows them all); false on error. */
async function loadPoints() {
  const ns = page.ns;
  const hours = Number(byId('app-range').value);
  const p = new URLSearchParams({ namespace: ns, limit: '1000' });
  if (hours > 0) p.set('since', new Date(Date.now() - hours * 3600e3).toISOString());
  if (byId('app-policy').value) p.set('policy', byId('app-policy').value);
  if (byId('app-phase').value) p.set('phase', byId('app-phase').value);
  const items = [];
  let next;
  try {
    do {
      const res = await get(`/restorepoints?${p}${next ? `&continue=${encodeURIComponent(next)}` : ''}`);
      items.push(...res.items);
      next = res.metadata?.continue;
    } while (next && ns === page.ns);
    fill(byId('app-points-error'));
  } catch (e) {
    fill(byId('app-points-error'), h('span', { class: 'error-text' }, e.message));
    return false;
  }
  if (ns !== page.ns) return false;
  page.points = items;
  page.shown = LIST;
  return true;
}

function drawPoints() {
  const select = (rp) => {
    location.hash = `#/apps/${encodeURIComponent(page.ns)}/${encodeURIComponent(rp.metadata.name)}`;
  };
  renderTimeline(byId('app-timeline'), page.points, { selected: page.selected, onSelect: select, tiers: page.tiers });
  const newest = [...page.points].sort((a, b) => b.spec.startTime.localeCompare(a.spec.startTime));
  if (!newest.length) return fill(byId('app-points'));
  fill(
    byId('app-points'),
    scroller(
      h(
        'table',
        { class: 'grid', id: 'app-points-table' },
        h('thead', {}, h('tr', {}, ['taken', 'restore point', 'policy', 'kept as', 'phase', 'size'].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          newest.slice(0, page.shown).map((rp) =>
            h(
              'tr',
              { dataset: { name: rp.metadata.name }, class: rp.metadata.name === page.selected ? 'selected' : undefined },
              h('td', {}, fmtTime(rp.spec.startTime)),
              h('td', {}, h('a', { href: `#/apps/${encodeURIComponent(page.ns)}/${encodeURIComponent(rp.metadata.name)}` }, rp.metadata.name)),
              h('td', {}, rp.spec.policy),
              h('td', {}, (page.tiers[rp.metadata.name] ?? []).map((t) => badge(t, 'tier'))),
              h('td', {}, statusBadge(rp.spec.phase)),
              h('td', { class: 'num' }, fmtBytes(pointSize(rp))),
            ),
          ),
        ),
      ),
      'Restore points, newest first',
    ),
    h(
      'p',
      { class: 'muted' },
      `Showing ${Math.min(page.shown, newest.length)} of ${newest.length}`,
      newest.length > page.shown
        ? [
            ' ',
            h(
              'button',
              {
                type: 'button',
                id: 'app-points-more',
                on: {
                  click: () => {
                    page.shown += 100;
                    drawPoints();
                  },
                },
              },
              `Show ${Math.min(100, newest.length - page.shown)} more`,
            ),
          ]
        : null,
    ),
  );
}

/** What the signed-in caller may do in the open application (`can` of GET /applications/NS), once it is loaded. */
export function applicationRights() {
  return page.app ? { namespace: page.ns, policies: page.app.policies.filter((p) => p.selects).map((p) => p.name), ...page.can } : undefined;
}

/** A section the caller may not read (a team without `list runs` there) says so in its place; the page still opens. */
async function orInPlace(id, load) {
  try {
    await load();
  } catch (e) {
    if (e.status !== 403) throw e;
    fill(byId(id), h('p', { class: 'error-text' }, e.message));
  }
}

async function loadRuns(more = false) {
  const ns = page.ns;
  const res = await get(`/runs?namespace=${encodeURIComponent(ns)}&limit=25${more && page.runsNext ? `&continue=${encodeURIComponent(page.runsNext)}` : ''}`);
  if (ns !== page.ns) return;
  page.runs = more ? [...page.runs, ...res.items] : res.items;
  page.runsNext = res.metadata?.continue;
  drawRuns();
}

function drawRuns() {
  const el = byId('app-runs');
  if (!page.runs.length) return fill(el, h('p', { class: 'empty' }, 'No runs yet. A policy that selects this namespace backs it up on its schedule, or use "Back up now".'));
  fill(
    el,
    h(
      'ul',
      { class: 'runs', id: 'app-runs-list' },
      page.runs.map((r) =>
        h(
          'li',
          { dataset: { run: r.metadata.name, phase: r.status.phase } },
          h(
            'details',
            { open: page.openRuns.has(r.metadata.name), on: { toggle: (e) => (e.target.open ? page.openRuns.add(r.metadata.name) : page.openRuns.delete(r.metadata.name)) } },
            h('summary', {}, statusBadge(r.status.phase), ` ${r.spec.type} · ${r.spec.policy ?? '—'} · ${fmtTime(r.status.startTime)} · ${fmtDuration(r.status.startTime, r.status.endTime)} · ${r.spec.trigger}`, r.status.restorePoint ? ` → ${r.status.restorePoint}` : ''),
            r.status.error ? h('p', { class: 'error-text' }, r.status.error) : null,
            r.status.log?.length ? h('pre', { class: 'log', tabindex: 0, 'aria-label': `Log of run ${r.metadata.name}` }, r.status.log.join('\n')) : h('p', { class: 'muted' }, 'no log lines recorded'),
          ),
        ),
      ),
    ),
    page.runsNext ? h('button', { type: 'button', id: 'app-runs-more', on: { click: () => void loadRuns(true) } }, 'Load older runs') : null,
  );
}

async function loadRestores() {
  const ns = page.ns;
  const res = await get(`/restores?source=${encodeURIComponent(ns)}&limit=100`);
  if (ns !== page.ns) return;
  renderRestores(byId('app-restores'), res, 'app-restores-table');
}

async function showDetails() {
  const el = byId('app-rp');
  if (!page.selected) return fill(el, h('p', { class: 'empty' }, 'Pick a restore point on the timeline or in the list to see what it holds and restore it.'));
  try {
    const d = await get(`/restorepoints/${encodeURIComponent(page.selected)}?namespace=${encodeURIComponent(page.ns)}`);
    renderDetails(el, d, {
      canRestore: hooks.canRestore() || page.can?.restore === true,
      onRestore: hooks.onRestore,
      onClose: () => {
        location.hash = `#/apps/${encodeURIComponent(page.ns)}`;
      },
    });
  } catch (e) {
    fill(el, h('p', { class: 'error-text', id: 'rp-error' }, e.message));
  }
}

/** A backup run's phases in order (`run-progress` events); the progress bar advances through them. */
const RUN_PHASES = ['export', 'hooks', 'volumes', 'manifests', 'commit'];

/** Live progress of this application's backups and restores, from the event stream. */
export function applicationProgress(type, data) {
  if (!page.ns) return;
  const run = type === 'run' || type === 'run-progress';
  const mine = run ? data.namespace === page.ns : data.namespace === page.ns || data.target === page.ns;
  if (!mine) return;
  const key = run ? `run ${data.policy}` : `restore ${data.id}`;
  const prev = page.progress.get(key) ?? {};
  if (type === 'run-progress') {
    // A new run of the same policy starts its bar again; counts only grow within one run.
    const same = prev.run === data.run;
    page.progress.set(key, { phase: 'Running', run: data.run, stage: data.phase, objects: data.objects, bytes: data.bytes, volumesDone: data.volumesDone, volumesTotal: data.volumesTotal, steps: same ? prev.steps : 0, ...(same && prev.step ? { step: prev.step } : {}) });
  } else {
    const phase = type === 'run' ? data.phase : statusWord(data.state);
    page.progress.set(key, { ...prev, phase, ...(phase !== 'Running' ? { stage: undefined } : {}), ...(data.step ? { step: data.step } : {}), ...(data.bytes !== undefined ? { bytes: data.bytes } : {}), ...(data.objects !== undefined ? { objects: data.objects } : {}), ...(data.summary ? { summary: data.summary } : {}), ...(data.error ? { error: data.error } : {}), steps: (prev.steps ?? 0) + (data.step ? 1 : 0) });
  }
  fill(
    byId('app-progress'),
    [...page.progress].map(([k, p]) =>
      h(
        'div',
        { class: 'progress', dataset: { key: k, phase: p.phase } },
        statusBadge(p.phase),
        ` ${k}`,
        p.stage ? [' · ', runBar(k, p)] : '',
        p.steps ? ` · step ${p.steps}` : '',
        p.objects !== undefined ? ` · ${p.objects} objects` : '',
        p.bytes !== undefined ? ` · ${fmtBytes(p.bytes)}` : '',
        p.summary ? ` · ${p.summary.created} created, ${p.summary.updated} updated, ${p.summary.skipped} skipped, ${p.summary.failed} failed` : '',
        p.step ? h('div', { class: 'muted step' }, p.step) : null,
        p.error ? h('div', { class: 'error-text' }, p.error) : null,
      ),
    ),
  );
}

/** Where a running backup is: a native progress bar over its phases (role progressbar), its text the counts. */
function runBar(key, p) {
  const n = RUN_PHASES.indexOf(p.stage) + 1;
  const text = [p.stage, p.volumesTotal ? `volumes ${p.volumesDone}/${p.volumesTotal}` : ''].filter(Boolean).join(', ');
  return h(
    'span',
    { class: 'run-bar' },
    h('progress', { value: n, max: RUN_PHASES.length, 'aria-label': `${key} progress`, 'aria-valuetext': `phase ${n} of ${RUN_PHASES.length}: ${text}`, dataset: { stage: p.stage } }),
    ` ${text}`,
  );
}
