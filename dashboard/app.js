import { ApiError, call, get, tokenStore } from './api.js';
import { setupBackup, setupRestore, syncOptions } from './actions.js';
import { renderCompliance } from './compliance.js';
import { byId, fill, h } from './dom.js';
import { renderPointDetails, renderTimeline } from './timeline.js';
import { renderBackupJobs, renderHealth, renderPlan, renderRestores, renderRuns, renderWho } from './views.js';

const POLL_MS = Number(new URLSearchParams(location.search).get('poll') ?? 3000) || 3000;

const state = { who: undefined, plan: undefined, planHash: undefined, points: [], runs: [], runLimit: 100, moreRuns: false, selected: undefined, timer: undefined, generation: 0 };

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

/** The newest runs, and a button for the next 100 when the catalog holds more (kept across refreshes). */
function drawRuns() {
  const el = renderRuns(byId('runs'), state.runs, { errorsOnly: byId('runs-errors').checked });
  if (!state.moreRuns) return;
  const more = document.createElement('button');
  more.type = 'button';
  more.id = 'runs-more';
  more.textContent = `Load more (showing the newest ${state.runs.length})`;
  more.addEventListener('click', () => {
    state.runLimit += 100;
    void refresh();
  });
  (el ?? byId('runs')).append(more);
}

function showLogin(message) {
  clearTimeout(state.timer);
  state.generation++;
  byId('app').hidden = true;
  byId('login').hidden = false;
  fill(byId('login-message'), message ?? '');
  byId('token').focus();
}

async function signIn(token) {
  const who = await call('GET', '/whoami', undefined, token);
  tokenStore.set(token);
  state.who = who;
  byId('login').hidden = true;
  byId('app').hidden = false;
  renderWho(byId('who'), who);
  const canOperate = who.role === 'operate';
  for (const form of [byId('backup-form'), byId('restore-form')]) {
    form.dataset.allowed = canOperate ? 'yes' : '';
    for (const el of form.querySelectorAll('button, input, select, textarea')) el.disabled = !canOperate;
    form.title = canOperate ? '' : `${who.name} has the read role: these actions need operate`;
  }
  byId('restore-confirm').disabled = true;
  fill(byId('operate-note'), canOperate ? '' : `Signed in as ${who.name} with the read role: backups and restores need a token with the operate role.`);
  state.generation++;
  void poll(state.generation);
}

async function refresh() {
  const [health, compliance, points, runs, backups, restores] = await Promise.all([
    get('/health'),
    get('/reports/compliance'),
    getAll('/restorepoints?limit=1000'),
    get(`/runs?limit=${state.runLimit}`),
    get('/backups'),
    get('/restores?limit=50'),
  ]);
  if (!state.plan || health.planHash !== state.planHash) {
    state.plan = await get('/plan');
    state.planHash = health.planHash;
  }
  const plan = state.plan;
  renderHealth(byId('health'), health, state.who, plan.config.cluster);
  renderCompliance(byId('compliance'), compliance);
  state.points = points.items;
  state.runs = runs.items;
  state.moreRuns = Boolean(runs.metadata?.continue);
  drawTimeline();
  drawRuns();
  renderPlan(byId('plan'), plan, health);
  renderBackupJobs(byId('backup-jobs-list'), backups.items);
  renderRestores(byId('restores'), restores);
  // Form choices follow the plan and the catalog; the user's selections are kept.
  syncOptions(byId('backup-policy'), plan.policies.map((p) => p.name));
  const namespaces = [...new Set(state.points.map((p) => p.spec.namespace))].sort();
  syncOptions(byId('backup-namespace'), [{ value: '', label: 'every selected namespace' }, ...namespaces]);
  syncOptions(byId('restore-namespace'), namespaces);
  syncRestorePoints();
  syncTransforms(plan.transformSets.map((t) => t.name));
  fill(byId('updated'), `updated ${new Date().toISOString().slice(11, 19)} UTC`);
}

function drawTimeline() {
  const hours = Number(byId('timeline-range').value);
  const since = Number.isFinite(hours) && hours > 0 ? Date.now() - hours * 3600e3 : undefined;
  renderTimeline(byId('timeline'), state.points, { selected: state.selected?.metadata.name, onSelect: select, ...(since === undefined ? {} : { since }) });
  renderPointDetails(byId('rp-panel'), state.selected, { canRestore: state.who?.role === 'operate', onRestore: prefillRestore });
}

function select(rp) {
  state.selected = rp;
  drawTimeline();
}

function syncRestorePoints() {
  const ns = byId('restore-namespace').value;
  const names = state.points.filter((p) => p.spec.namespace === ns).map((p) => ({ value: p.metadata.name, label: `${p.metadata.name} (${p.spec.policy}, ${p.spec.phase})` }));
  syncOptions(byId('restore-point'), [{ value: 'latest', label: 'latest successful' }, ...names]);
}

function syncTransforms(names) {
  const box = byId('restore-transforms');
  const have = [...box.querySelectorAll('input')].map((i) => i.value).join(',');
  if (have === names.join(',')) return;
  const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  fill(box, names.length ? names.map((n) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: n, checked: checked.has(n), disabled: state.who?.role !== 'operate' }), ` ${n}`)) : h('span', { class: 'muted' }, 'none in the plan'));
}

function prefillRestore(rp) {
  byId('restore-namespace').value = rp.spec.namespace;
  syncRestorePoints();
  byId('restore-point').value = rp.metadata.name;
  byId('restore-form').dispatchEvent(new Event('change'));
  byId('restore-section').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

async function poll(generation) {
  if (generation !== state.generation) return;
  try {
    await refresh();
    fill(byId('poll-error'));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      tokenStore.clear();
      return showLogin(`Signed out: ${e.message}`);
    }
    fill(byId('poll-error'), h('span', { class: 'error-text' }, e.message));
  }
  if (generation === state.generation) state.timer = setTimeout(() => poll(generation), POLL_MS);
}

function main() {
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
  byId('timeline-range').addEventListener('change', drawTimeline);
  const again = () => {
    clearTimeout(state.timer);
    state.generation++;
    void poll(state.generation);
  };
  setupBackup({ onDone: again });
  setupRestore({ onDone: again });
  const token = tokenStore.get();
  if (token) signIn(token).catch((err) => showLogin(err.message));
  else showLogin();
}

main();
