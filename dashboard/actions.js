import { post } from './api.js';
import { badge, byId, fill, h, scroller } from './dom.js';

/** Replaces a select's options only when they changed, keeping the user's choice. */
export function syncOptions(select, options) {
  const want = options.map((o) => (typeof o === 'string' ? { value: o, label: o } : o));
  const have = [...select.options].map((o) => `${o.value}\u0000${o.textContent}`).join('\u0001');
  if (have === want.map((o) => `${o.value}\u0000${o.label}`).join('\u0001')) return;
  const keep = select.value;
  fill(select, want.map((o) => h('option', { value: o.value }, o.label)));
  if (want.some((o) => o.value === keep)) select.value = keep;
}

/** The on-demand backup form: policy + optional namespace, POST /api/v1/backups. */
export function setupBackup({ onDone }) {
  const form = byId('backup-form');
  const out = byId('backup-message');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const policy = byId('backup-policy').value;
    const namespace = byId('backup-namespace').value;
    const button = byId('backup-submit');
    button.disabled = true;
    fill(out, 'starting…');
    try {
      const job = await post('/backups', { policy, ...(namespace ? { namespace } : {}) });
      fill(out, badge('accepted', 'ok'), ` backup ${job.id} of ${policy}${namespace ? `/${namespace}` : ''}`);
      onDone();
    } catch (err) {
      fill(out, h('span', { class: 'error-text' }, err.message));
    } finally {
      button.disabled = !form.dataset.allowed;
    }
  });
}

const VERB = { created: 'would create', updated: 'would update', skipped: 'skip', failed: 'would fail' };

/** The restore body the form describes (the same JSON `POST /api/v1/restores` takes). */
export function restoreBody() {
  const namespace = byId('restore-namespace').value;
  const target = byId('restore-target').value.trim();
  const body = { restorePoint: byId('restore-point').value || 'latest', namespace };
  if (target && target !== namespace) body.namespaceMapping = { [namespace]: target };
  const include = byId('restore-include').value.trim();
  const exclude = byId('restore-exclude').value.trim();
  if (include) body.include = include;
  if (exclude) body.exclude = exclude;
  const existing = byId('restore-existing').value;
  if (existing !== 'skip') body.existing = existing;
  const transforms = [...document.querySelectorAll('#restore-transforms input:checked')].map((i) => i.value);
  if (transforms.length) body.transforms = transforms;
  if (!byId('restore-volumes').checked) body.volumes = false;
  return body;
}

/**
 * The restore form: a dry-run preview first (what would be created, skipped, replaced; which volumes), then a confirm
 * button that is enabled only while the form still says exactly what was previewed.
 */
export function setupRestore({ onDone }) {
  const form = byId('restore-form');
  const preview = byId('restore-preview');
  const confirm = byId('restore-confirm');
  const message = byId('restore-message');
  let previewed = '';
  const invalidate = () => {
    if (JSON.stringify(restoreBody()) !== previewed) {
      confirm.disabled = true;
      if (previewed) fill(message, 'The form changed: preview again before restoring.');
      previewed = '';
    }
  };
  form.addEventListener('input', invalidate);
  form.addEventListener('change', invalidate);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = restoreBody();
    const button = byId('restore-preview-button');
    button.disabled = true;
    confirm.disabled = true;
    fill(message, 'previewing…');
    fill(preview);
    try {
      const p = await post('/restores', { ...body, dryRun: true });
      renderPreview(preview, p);
      previewed = JSON.stringify(body);
      confirm.disabled = !form.dataset.allowed;
      fill(message, `Dry run of ${p.restorePoint.name}: nothing was changed. Confirm to restore into namespace ${p.targetNamespace}.`);
    } catch (err) {
      fill(message, h('span', { class: 'error-text' }, err.message));
    } finally {
      button.disabled = !form.dataset.allowed;
    }
  });
  confirm.addEventListener('click', async () => {
    const body = restoreBody();
    if (JSON.stringify(body) !== previewed) return invalidate();
    confirm.disabled = true;
    try {
      const job = await post('/restores', body);
      fill(message, badge('accepted', 'ok'), ` restore ${job.id} of ${job.restorePoint.name} into ${job.targetNamespace}`);
      previewed = '';
      onDone();
    } catch (err) {
      fill(message, h('span', { class: 'error-text' }, err.message));
      confirm.disabled = false;
    }
  });
}

export function renderPreview(el, p) {
  const s = p.summary;
  return fill(
    el,
    h('p', { id: 'preview-summary' }, h('strong', {}, `would be: ${s.created} created, ${s.updated} updated, ${s.skipped} skipped, ${s.failed} failed`), ` — ${p.restorePoint.namespace}/${p.restorePoint.name} → ${p.targetNamespace}`),
    scroller(h(
      'table',
      { class: 'grid', id: 'preview-table' },
      h('thead', {}, h('tr', {}, ['action', 'kind', 'name', 'reason'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        p.resources.map((r) =>
          h(
            'tr',
            { dataset: { action: r.action } },
            h('td', {}, badge(VERB[r.action] ?? r.action, r.action === 'skipped' ? 'skip' : r.action === 'failed' ? 'fail' : r.action === 'updated' ? 'warn' : 'pass')),
            h('td', {}, r.kind),
            h('td', {}, r.namespace ? `${r.namespace}/${r.name}` : r.name),
            h('td', { class: 'message' }, [r.reason, r.transforms?.length ? `transforms: ${r.transforms.join(', ')}` : ''].filter(Boolean).join('; ')),
          ),
        ),
      ),
    ), 'Restore preview'),
    p.volumes.length ? h('ul', { id: 'preview-volumes' }, p.volumes.map((v) => h('li', {}, `volume ${v.pvc}: would restore from ${v.from}${v.snapshotId ? ` (snapshot ${v.snapshotId.slice(0, 12)})` : ''}`))) : null,
    p.errors.map((e) => h('div', { class: 'error-text' }, e)),
  );
}
