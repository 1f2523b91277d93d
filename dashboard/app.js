import { ApiError, call, get, session, tokenStore } from './api.js';
import { setupBackup, setupRestore, syncOptions } from './actions.js';
import { applicationProgress, applicationRights, closeApplication, openApplication, setupApplication } from './application.js';
import { applicationsProgress, loadApplications, setupApplications } from './applications.js';
import { renderCompliance } from './compliance.js';
import { byId, fill, h } from './dom.js';
import { openEvents } from './live.js';
import { renderPointDetails, renderTimeline } from './timeline.js';
import { renderBackupJobs, renderHealth, renderPlan, renderRestores, renderRuns, renderWho } from './views.js';

const state = { who: undefined, plan: undefined, planHash: undefined, health: undefined, points: [], runs: [], runLimit: 100, moreRuns: false, selected: undefined, formsFor: undefined, events: undefined, wasDown: false, refreshTimer: undefined, view: undefined, generation: 0 };

/** Every page of a paged list (`limit` + `continue`, like the Kubernetes list API): the catalog has no silent cap. */
async function getAll(path) {
  const items = [];
  let next;
  do {
    const page = await get(next ? `${path}&continue=${encodeURIComponent(next)}` : path);
    items.push(...page.items);
    next = page.metadata?.continue;
  } while (next);
  return { items };
}

const canOperate = () => state.who?.role === 'operate';
/** Bound by RoleBindings only: rights differ per namespace, so the forms follow the application shown. */
const namespaced = () => state.who?.role === 'namespaced';
/** What a caller who may not read the plan (it is cluster-scoped) works with: the forms then offer the application's policies. */
const NO_PLAN = { config: {}, policies: [], transformSets: [] };

/** Enables a form's controls, or disables them saying why; a form that just became usable still needs a preview to confirm. */
function setAllowed(form, allowed, why) {
  if (form.dataset.allowed === (allowed ? 'yes' : '')) return;
  form.dataset.allowed = allowed ? 'yes' : '';
  for (const el of form.querySelectorAll('button, input, select, textarea')) el.disabled = !allowed;
  form.title = allowed ? '' : why;
  byId('restore-confirm').disabled = true;
}

/** A namespaced caller on an application's page: the forms offer exactly what `can` says they may do there. */
function followApplication(ns) {
  const rights = applicationRights();
  if (!namespaced() || rights?.namespace !== ns) return;
  setAllowed(byId('backup-form'), rights.backup, `${state.who.name} may not create backups in ${ns}`);
  setAllowed(byId('restore-form'), rights.restore, `${state.who.name} may not create restores in ${ns}`);
  syncOptions(byId('backup-policy'), rights.policies);
  // The target defaults to the application's own namespace, the one a team's restore right is for (set once per
  // application opened, so what the user types is kept across refreshes).
  if (state.formsFor !== ns) byId('restore-target').value = ns;
  state.formsFor = ns;
}

// ---- routing: #/ applications, #/apps/NS[/RESTORE-POINT] an application, #/overview everything at once ----

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'apps' && parts[1]) return { view: 'app', ns: parts[1], rp: parts[2] };
  if (parts[0] === 'overview') return { view: 'overview' };
  return { view: 'apps' };
}

async function route() {
  if (!state.who) return;
  const r = parseRoute();
  for (const v of ['apps', 'app', 'overview']) byId(`view-${v}`).hidden = v !== r.view;
  for (const [id, v] of [['nav-apps', 'apps'], ['nav-overview', 'overview']]) {
    if (v === r.view || (v === 'apps' && r.view === 'app')) byId(id).setAttribute('aria-current', 'page');
    else byId(id).removeAttribute('aria-current');
  }
  // One copy of the backup and restore forms, in the view that is shown.
  const actions = byId('actions');
  actions.hidden = r.view === 'apps';
  if (r.view === 'app') byId('app-actions').append(actions);
  if (r.view === 'overview') byId('overview-actions').append(actions);
  const changed = state.view !== r.view;
  state.view = r.view;
  if (changed) window.scrollTo(0, 0);
  await refreshView();
}

/** Reloads what the current view shows (on navigation, and when the event stream says something changed). */
async function refreshView() {
  const generation = state.generation;
  try {
    const r = parseRoute();
    const health = await get('/health');
    if (generation !== state.generation) return;
    state.health = health;
    if (!state.plan || health.planHash !== state.planHash) {
      state.plan = await get('/plan').catch((e) => {
        if (e.status === 403 && namespaced()) return NO_PLAN;
        throw e;
      });
      state.planHash = health.planHash;
    }
    renderHealth(byId('health'), health, state.who, state.plan.config.cluster);
    syncOptions(byId('backup-policy'), state.plan.policies.map((p) => p.name));
    syncTransforms(state.plan.transformSets.map((t) => t.name));
    if (r.view === 'apps') await loadApplications();
    else if (r.view === 'app') {
      await openApplication(r.ns, r.rp);
      syncNamespaces([r.ns]);
      followApplication(r.ns);
    } else await refreshOverview();
    fill(byId('updated'), `updated ${new Date().toISOString().slice(11, 19)} UTC`);
    fill(byId('poll-error'));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return; // session.onUnauthorized has taken over
    fill(byId('poll-error'), h('span', { class: 'error-text' }, e.message));
  }
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => void refreshView(), 250);
}

// ---- the overview: compliance, all restore points, runs, plan ----

/** The newest runs, and a button for the next 100 when the catalog holds more (kept across refreshes). */
function drawRuns() {
  const el = renderRuns(byId('runs'), state.runs, { errorsOnly: byId('runs-errors').checked });
  if (!state.moreRuns) return;
  const more = h('button', { type: 'button', id: 'runs-more', on: { click: () => ((state.runLimit += 100), void refreshView()) } }, `Load more (showing the newest ${state.runs.length})`);
  (el ?? byId('runs')).append(more);
}

async function refreshOverview() {
  const hours = Number(byId('timeline-range').value);
  const since = hours > 0 ? `&since=${encodeURIComponent(new Date(Date.now() - hours * 3600e3).toISOString())}` : '';
  const [compliance, points, runs, backups, restores] = await Promise.all([get('/reports/compliance'), getAll(`/restorepoints?limit=1000${since}`), get(`/runs?limit=${state.runLimit}`), get('/backups'), get('/restores?limit=50')]);
  renderCompliance(byId('compliance'), compliance);
  state.points = points.items;
  state.runs = runs.items;
  state.moreRuns = Boolean(runs.metadata?.continue);
  drawTimeline();
  drawRuns();
  renderPlan(byId('plan'), state.plan, state.health);
  renderBackupJobs(byId('backup-jobs-list'), backups.items);
  renderRestores(byId('restores'), restores);
  syncNamespaces([...new Set(state.points.map((p) => p.spec.namespace))].sort());
}

function drawTimeline() {
  const hours = Number(byId('timeline-range').value);
  const since = Number.isFinite(hours) && hours > 0 ? Date.now() - hours * 3600e3 : undefined;
  renderTimeline(byId('timeline'), state.points, { selected: state.selected?.metadata.name, onSelect: select, ...(since === undefined ? {} : { since }) });
  renderPointDetails(byId('rp-panel'), state.selected, { canRestore: canOperate(), onRestore: prefillRestore });
}

function select(rp) {
  state.selected = rp;
  drawTimeline();
}

// ---- the forms' choices ----

function syncNamespaces(namespaces) {
  syncOptions(byId('backup-namespace'), [{ value: '', label: 'every selected namespace' }, ...namespaces]);
  syncOptions(byId('restore-namespace'), namespaces);
  if (namespaces.length === 1) byId('backup-namespace').value = namespaces[0];
  syncRestorePoints();
}

/** Restore points offered by the restore form: those of the namespace the current view has loaded. */
function syncRestorePoints() {
  const ns = byId('restore-namespace').value;
  const points = state.view === 'app' ? [...document.querySelectorAll('#app-timeline circle.rp')].map((c) => ({ name: c.dataset.name, policy: c.dataset.policy })) : state.points.filter((p) => p.spec.namespace === ns).map((p) => ({ name: p.metadata.name, policy: p.spec.policy }));
  syncOptions(byId('restore-point'), [{ value: 'latest', label: 'latest successful' }, ...points.map((p) => ({ value: p.name, label: `${p.name} (${p.policy})` }))]);
}

function syncTransforms(names) {
  const box = byId('restore-transforms');
  byId('restore-transforms-box').hidden = !names.length;
  const have = [...box.querySelectorAll('input')].map((i) => i.value).join(',');
  if (have === names.join(',')) return;
  const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  fill(box, names.map((n) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: n, checked: checked.has(n), disabled: !byId('restore-form').dataset.allowed }), ` ${n}`)));
}

function prefillRestore(rp) {
  if (!byId('restore-namespace').querySelector(`option[value="${CSS.escape(rp.spec.namespace)}"]`)) syncNamespaces([rp.spec.namespace]);
  byId('restore-namespace').value = rp.spec.namespace;
  syncRestorePoints();
  if (!byId('restore-point').querySelector(`option[value="${CSS.escape(rp.metadata.name)}"]`)) byId('restore-point').append(h('option', { value: rp.metadata.name }, `${rp.metadata.name} (${rp.spec.policy})`));
  byId('restore-point').value = rp.metadata.name;
  byId('restore-form').dispatchEvent(new Event('change'));
  byId('restore-section').scrollIntoView({ block: 'start' });
  byId('restore-target').focus();
}

// ---- sign-in and the event stream ----

function showLogin(message) {
  state.generation++;
  state.who = undefined;
  state.events?.stop();
  state.events = undefined;
  clearTimeout(state.refreshTimer);
  byId('app').hidden = true;
  byId('nav').hidden = true;
  byId('sign-out').hidden = true;
  fill(byId('live'));
  fill(byId('who'));
  fill(byId('health'));
  // What the last caller was shown is not the next one's to see (another user may sign in on this page).
  for (const id of ['apps', 'apps-summary', 'apps-error', 'compliance', 'timeline', 'rp-panel', 'runs', 'plan', 'backup-jobs-list', 'restores', 'restore-message', 'restore-preview', 'backup-message']) fill(byId(id));
  closeApplication();
  for (const form of [byId('backup-form'), byId('restore-form')]) form.reset();
  state.formsFor = undefined;
  state.plan = undefined;
  state.points = [];
  state.selected = undefined;
  byId('login').hidden = false;
  fill(byId('login-message'), message ?? '');
  byId('token').focus();
}

function onEvent(type, data) {
  if (type === 'run' || type === 'run-progress' || type === 'restore') applicationProgress(type, data);
  applicationsProgress(type, data);
  // Progress lines only; a run's end comes with a catalog event, a restore's with its state.
  if ((type === 'run' && data.phase === 'Running') || type === 'run-progress' || (type === 'restore' && data.step)) return;
  if (type === 'hello') return;
  scheduleRefresh();
}

async function signIn(token) {
  const who = await call('GET', '/whoami', undefined, token);
  tokenStore.set(token);
  state.who = who;
  state.generation++;
  byId('login').hidden = true;
  byId('app').hidden = false;
  byId('nav').hidden = false;
  byId('sign-out').hidden = false;
  renderWho(byId('who'), who);
  for (const form of [byId('backup-form'), byId('restore-form')]) {
    delete form.dataset.allowed;
    setAllowed(form, canOperate(), namespaced() ? `${who.name} may act only in some namespaces: open one of your applications` : `${who.name} has the read role: these actions need operate`);
  }
  fill(
    byId('operate-note'),
    canOperate() ? '' : namespaced() ? `Signed in as ${who.name}, allowed in some namespaces only: the Applications view lists yours, and an application's page offers what you may do there.` : `Signed in as ${who.name} with the read role: backups and restores need a token with the operate role.`,
  );
  state.events?.stop();
  state.events = openEvents({
    onEvent,
    onState: (s, why) => {
      fill(byId('live'), s === 'live' ? h('span', { class: 'dot-live', dataset: { state: 'live' } }, '● live') : h('span', { class: 'dot-off', dataset: { state: 'reconnecting' }, title: why ?? '' }, '○ reconnecting…'));
      // Back after a break: what changed meanwhile is unknown until the stream replays it — reload to be sure.
      if (s === 'live' && state.wasDown) scheduleRefresh();
      state.wasDown = s !== 'live';
    },
    onUnauthorized: (message) => session.onUnauthorized?.(message),
  });
  await route();
}

function main() {
  session.onUnauthorized = (message) => {
    tokenStore.clear();
    showLogin(`Signed out: ${message}`);
  };
  byId('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = byId('token').value.trim();
    if (!token) return;
    try {
      await signIn(token);
      byId('token').value = '';
    } catch (err) {
      showLogin(err instanceof ApiError && err.status === 401 ? `Not accepted: ${err.message}` : err.message);
    }
  });
  byId('sign-out').addEventListener('click', () => {
    tokenStore.clear();
    showLogin('Signed out.');
  });
  byId('runs-errors').addEventListener('change', drawRuns);
  byId('restore-namespace').addEventListener('change', syncRestorePoints);
  byId('timeline-range').addEventListener('change', () => void refreshView());
  window.addEventListener('hashchange', () => void route());
  // "/" focuses the search box, as on most list pages.
  document.addEventListener('keydown', (e) => {
    if (e.key !== '/' || e.target.closest?.('input, select, textarea') || byId('view-apps').hidden) return;
    e.preventDefault();
    byId('apps-search').focus();
  });
  // "last reconcile 3m ago" keeps its meaning without asking the server again.
  setInterval(() => state.health && state.plan && renderHealth(byId('health'), state.health, state.who, state.plan.config.cluster), 30_000);
  setupApplications();
  setupApplication({ canRestore: canOperate, onRestore: prefillRestore });
  setupBackup({ onDone: scheduleRefresh });
  setupRestore({ onDone: scheduleRefresh });
  const token = tokenStore.get();
  if (token) signIn(token).catch((err) => showLogin(err.message));
  else showLogin();
}

main();
