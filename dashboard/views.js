import { badge, fill, fmtAgo, fmtBytes, fmtDuration, fmtTime, h, scroller, statusBadge } from './dom.js';

export function renderHealth(el, health, who, cluster) {
  const kind = health.status === 'ok' ? 'ok' : health.status === 'degraded' ? 'degraded' : 'starting';
  return fill(
    el,
    badge(health.status, kind),
    h('span', {}, ` cluster ${cluster ?? '—'} · ${health.role}${health.leader ? ` (leader: ${health.leader})` : ''}`),
    h('span', {}, ` · last reconcile ${fmtAgo(health.lastReconcile)}`),
    health.reconciling ? h('span', {}, ' · ', badge('reconciling', 'running')) : null,
    health.queued ? h('span', {}, ' · ', badge('queued', 'waiting')) : null,
    health.lastError ? h('div', { class: 'error-line' }, `last error ${fmtAgo(health.lastError.time)}: ${health.lastError.message}`) : null,
  );
}

export function renderWho(el, who) {
  return fill(el, h('span', { id: 'whoami' }, who.name), ' ', badge(who.role, who.role === 'operate' ? 'ok' : 'info'));
}

/** Run history, newest first; failed runs show their error; `errorsOnly` keeps the runs that did not succeed. */
export function renderRuns(el, runs, { errorsOnly }) {
  const rows = errorsOnly ? runs.filter((r) => r.status.phase !== 'Succeeded') : runs;
  if (!rows.length) return fill(el, h('p', { class: 'empty' }, errorsOnly ? 'No failed runs.' : 'No runs yet. Runs appear when a policy selects a namespace and its schedule comes due, or after "Back up now".'));
  return fill(
    el,
    scroller(h(
      'table',
      { class: 'grid', id: 'runs-table' },
      h('thead', {}, h('tr', {}, ['started', 'type', 'namespace', 'policy', 'trigger', 'phase', 'duration', 'size', 'restore point / error'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            { dataset: { phase: r.status.phase } },
            h('td', {}, fmtTime(r.status.startTime)),
            h('td', {}, r.spec.type),
            h('td', {}, r.spec.namespace ?? '—'),
            h('td', {}, r.spec.policy ?? '—'),
            h('td', {}, r.spec.trigger),
            h('td', {}, statusBadge(r.status.phase)),
            h('td', {}, fmtDuration(r.status.startTime, r.status.endTime)),
            h('td', {}, fmtBytes(r.status.bytes)),
            h('td', { class: 'message' }, r.status.error ? h('span', { class: 'error-text' }, r.status.error) : (r.status.restorePoint ?? (r.status.expired ? `expired ${r.status.expired.length}` : ''))),
          ),
        ),
      ),
    ), 'Run history'),
  );
}

function retention(r) {
  return ['hourly', 'daily', 'weekly', 'monthly', 'yearly'].filter((k) => r[k]).map((k) => `${k} ${r[k]}`).join(', ') || 'none';
}

export function renderPlan(el, plan, health) {
  if (!plan) return fill(el, h('p', { class: 'empty' }, 'No plan yet.'));
  const commit = health?.lastCommit || plan.sourceCommit;
  return fill(
    el,
    h(
      'dl',
      { class: 'details', id: 'plan-source' },
      h('dt', {}, 'source commit'),
      h('dd', {}, h('code', { id: 'plan-commit' }, commit || '—')),
      h('dt', {}, 'plan hash'),
      h('dd', {}, h('code', {}, plan.hash)),
      h('dt', {}, 'catalog branch'),
      h('dd', {}, plan.config.catalog.branch),
      h('dt', {}, 'sync'),
      h('dd', {}, `${plan.config.sync.branch} every ${plan.config.sync.interval}`),
    ),
    scroller(h(
      'table',
      { class: 'grid', id: 'plan-policies' },
      h('thead', {}, h('tr', {}, ['policy', 'schedule', 'retention', 'profile', 'namespaces (CEL)', 'notes'].map((c) => h('th', {}, c)))),
      h(
        'tbody',
        {},
        plan.policies.map((p) =>
          h(
            'tr',
            { dataset: { policy: p.name } },
            h('td', {}, p.name, p.paused ? [' ', badge('paused', 'warn')] : null),
            h('td', {}, h('code', {}, p.schedule.source ?? p.schedule.normalized ?? '')),
            h('td', {}, retention(p.retention)),
            h('td', {}, p.profile),
            h('td', {}, h('code', { class: 'cel' }, p.selector.namespaces.source)),
            h('td', { class: 'message' }, p.description ?? '', (p.warnings ?? []).map((w) => h('div', { class: 'warn-text' }, w))),
          ),
        ),
      ),
    ), 'Policies of the plan'),
  );
}

export function renderBackupJobs(el, jobs) {
  if (!jobs.length) return fill(el);
  return fill(
    el,
    h(
      'ul',
      { class: 'jobs', id: 'backup-jobs' },
      jobs.slice(0, 8).map((j) =>
        h(
          'li',
          { dataset: { id: j.id, state: j.state } },
          statusBadge(j.state),
          ` ${j.policy}${j.namespace ? `/${j.namespace}` : ''} by ${j.requestedBy} · ${fmtAgo(j.created)}`,
          j.runs.filter((r) => r.restorePoint).map((r) => h('div', { class: 'muted' }, `→ ${r.restorePoint}`)),
          j.error ? h('div', { class: 'error-text' }, j.error) : null,
        ),
      ),
    ),
  );
}

export function renderRestores(el, data, id = 'restores-table') {
  const jobs = data.jobs ?? [];
  const recorded = data.recorded ?? [];
  if (!jobs.length && !recorded.length) return fill(el, h('p', { class: 'empty' }, 'No restores yet. Open a restore point and use "Restore this point…" to preview one.'));
  return fill(
    el,
    scroller(h(
      'table',
      { class: 'grid', id },
      h('thead', {}, h('tr', {}, ['requested', 'restore point', 'into', 'state', 'by', 'result'].map((c) => h('th', {}, c)))),
      h(
        'tbody',
        {},
        jobs.map((j) =>
          h(
            'tr',
            { dataset: { id: j.id } },
            h('td', {}, fmtTime(j.created)),
            h('td', {}, j.restorePoint.name),
            h('td', {}, j.targetNamespace),
            h('td', {}, statusBadge(j.state)),
            h('td', {}, j.requestedBy),
            h(
              'td',
              { class: 'message' },
              j.result ? `${j.result.summary.created} created, ${j.result.summary.updated} updated, ${j.result.summary.skipped} skipped, ${j.result.summary.failed} failed` : '',
              j.state === 'running' && j.progress?.length ? h('div', { class: 'muted' }, j.progress.at(-1).replace(/^\S+ /, '')) : null,
              j.error ? h('div', { class: 'error-text' }, j.error) : null,
            ),
          ),
        ),
        recorded.map((r) =>
          h(
            'tr',
            { dataset: { id: r.name } },
            h('td', {}, fmtTime(r.startTime)),
            h('td', {}, r.restorePoint),
            h('td', {}, r.target.namespace),
            h('td', {}, statusBadge(r.phase)),
            h('td', {}, r.restore ? `Restore ${r.restore}` : 'recorded'),
            h('td', { class: 'message' }, `${r.summary.created} created, ${r.summary.updated} updated, ${r.summary.skipped} skipped, ${r.summary.failed} failed`, (r.errors ?? []).map((e) => h('div', { class: 'error-text' }, e))),
          ),
        ),
      ),
    ), 'Restores'),
  );
}
