// The story of one restore point (GET /api/v1/restorepoints/NAME?namespace=NS): what it holds (objects by kind,
// volumes with sizes and dedup ratio), how it was made (hooks, the policy commit, the run's log) and what was
// restored from it — with the restore button that leads to the preview-then-confirm flow.

import { badge, fill, fmtBytes, fmtDuration, fmtTime, h, scroller, statusBadge } from './dom.js';

const ratio = (r) => (r === undefined ? '—' : `${r}×`);

export function renderDetails(el, d, { canRestore, onRestore, onClose }) {
  const rp = d.restorePoint;
  const sp = rp.spec;
  const run = d.run;
  return fill(
    el,
    h(
      'div',
      { class: 'details-head' },
      h('h3', { id: 'rp-title' }, rp.metadata.name),
      h('button', { type: 'button', id: 'rp-close', 'aria-label': 'Close the restore point details', on: { click: onClose } }, 'Close'),
    ),
    h(
      'dl',
      { class: 'details', id: 'rp-details' },
      [
        ['phase', statusBadge(sp.phase)],
        ['policy', sp.policy],
        ['kept as', d.tiers.length ? d.tiers.map((t) => badge(t, 'tier')) : '—'],
        ['taken', `${fmtTime(sp.startTime)} (${fmtDuration(sp.startTime, sp.endTime)})`],
        ['trigger', sp.trigger ?? 'schedule'],
        ['size', `${fmtBytes(sp.stats?.bytesRead)} read, ${fmtBytes(sp.stats?.bytesAdded)} added to the repository (dedup ${ratio(d.dedup)})`],
        ['policy commit', h('code', { id: 'rp-commit' }, sp.sourceCommit || '—')],
        ['plan hash', h('code', {}, sp.planHash)],
        ['repository', `${sp.repository.profile} · ${sp.repository.location}`],
        ...(sp.pinned ? [['on demand', 'pinned until deleted']] : sp.expires ? [['on demand', `expires ${fmtTime(sp.expires)}`]] : []),
        ['catalog file', h('code', {}, d.path)],
      ].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    h('button', { type: 'button', id: 'rp-restore', disabled: !canRestore, title: canRestore ? 'Prefill the restore form with this point, then preview' : 'needs a token with the operate role', on: { click: () => onRestore(rp) } }, 'Restore this point…'),
    h('h4', {}, `Objects by kind (${d.objects.reduce((n, o) => n + o.count, 0)})`),
    d.objects.length
      ? scroller(
          h(
            'table',
            { class: 'grid', id: 'rp-objects' },
            h('thead', {}, h('tr', {}, ['kind', 'count', 'names'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, d.objects.map((o) => h('tr', { dataset: { kind: o.kind } }, h('td', {}, o.kind), h('td', { class: 'num' }, String(o.count)), h('td', { class: 'message' }, o.names.join(', '))))),
          ),
          'Objects of the restore point',
        )
      : h('p', { class: 'empty' }, 'No objects recorded (the policy exports no manifests).'),
    h('h4', {}, `Volumes (${d.volumes.length})`),
    d.volumes.length
      ? scroller(
          h(
            'table',
            { class: 'grid', id: 'rp-volumes' },
            h('thead', {}, h('tr', {}, ['PVC', 'phase', 'size', 'added', 'dedup', 'storage class', 'snapshot'].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              {},
              d.volumes.map((v) =>
                h(
                  'tr',
                  { dataset: { pvc: v.pvc } },
                  h('td', {}, v.pvc),
                  h('td', {}, statusBadge(v.phase), v.error ? h('div', { class: 'error-text' }, v.error) : null),
                  h('td', { class: 'num' }, fmtBytes(v.sizeBytes)),
                  h('td', { class: 'num' }, fmtBytes(v.bytesAdded)),
                  h('td', { class: 'num' }, ratio(v.dedup)),
                  h('td', {}, v.storageClass ?? '—'),
                  h('td', {}, h('code', {}, (v.snapshotId ?? v.volumeSnapshot ?? '—').slice(0, 16))),
                ),
              ),
            ),
          ),
          'Volumes of the restore point',
        )
      : h('p', { class: 'empty' }, 'No volumes: this application keeps no data in PersistentVolumeClaims, or the policy skips them.'),
    h('h4', {}, 'Hooks'),
    Array.isArray(sp.hooks) && sp.hooks.length
      ? h('ul', { id: 'rp-hooks', class: 'hooks' }, sp.hooks.map((hk) => h('li', {}, h('pre', { class: 'log' }, JSON.stringify(hk, null, 2)))))
      : h('p', { class: 'empty' }, 'No blueprint hooks ran for this restore point.'),
    h('h4', {}, 'Run log'),
    run
      ? [
          h('p', {}, `Run ${run.metadata.name} · `, statusBadge(run.status.phase), ` · ${fmtDuration(run.status.startTime, run.status.endTime)}`),
          run.status.log?.length ? h('pre', { class: 'log', id: 'rp-log', tabindex: 0, 'aria-label': 'Run log' }, run.status.log.join('\n')) : h('p', { class: 'empty' }, 'The run logged nothing.'),
        ]
      : h('p', { class: 'empty' }, 'The run record of this restore point is not in the catalog.'),
    h('h4', {}, `Restored from it (${d.restores.length})`),
    d.restores.length
      ? h('ul', { id: 'rp-restores' }, d.restores.map((r) => h('li', {}, statusBadge(r.phase), ` ${fmtTime(r.startTime)} → ${r.target.namespace}: ${r.summary.created} created, ${r.summary.updated} updated, ${r.summary.skipped} skipped, ${r.summary.failed} failed`)))
      : h('p', { class: 'empty' }, 'Never restored. Use "Restore this point…" to preview a restore.'),
  );
}
