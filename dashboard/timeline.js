import { fill, fmtBytes, fmtTime, h, s } from './dom.js';

const PALETTE = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4d7c0f'];
const WIDTH = 900;
const ROW = 34;
const LEFT = 130;
const RIGHT = 16;
const AXIS = 26;

/** Size of a restore point as the catalog records it: bytes read, else the volumes' sizes. */
export function pointSize(rp) {
  const st = rp.spec.stats;
  if (st && typeof st.bytesRead === 'number') return st.bytesRead;
  const vols = rp.spec.volumes ?? [];
  return vols.length ? vols.reduce((n, v) => n + (v.sizeBytes ?? 0), 0) : undefined;
}

/** Tick positions for a time range: a step from a fixed ladder giving 4–10 ticks. */
export function ticks(from, to) {
  const steps = [60e3, 300e3, 900e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 7 * 86400e3, 30 * 86400e3];
  const span = Math.max(1, to - from);
  const step = steps.find((st) => span / st < 10) ?? Math.ceil(span / 9 / steps.at(-1)) * steps.at(-1);
  const out = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t);
  return { step, ticks: out };
}

function tickLabel(t, step) {
  const iso = new Date(t).toISOString();
  return step >= 86400e3 ? iso.slice(5, 10) : step >= 3600e3 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}

/**
 * One row per namespace, every restore point a dot on a shared UTC time axis (colour = policy). Hovering or focusing
 * a dot shows its name, time, policy and size; clicking selects it (`onSelect`), e.g. to prefill the restore form.
 */
export function renderTimeline(el, allPoints, { now = Date.now(), onSelect, selected, since, tiers = {} } = {}) {
  const points = since === undefined ? allPoints : allPoints.filter((p) => Date.parse(p.spec.startTime) >= since);
  if (!points.length) return fill(el, h('p', { class: 'muted' }, allPoints.length ? 'No restore points in this range.' : 'No restore points yet.'));
  const namespaces = [...new Set(points.map((p) => p.spec.namespace))].sort();
  const policies = [...new Set(points.map((p) => p.spec.policy))].sort();
  const colour = (p) => PALETTE[policies.indexOf(p) % PALETTE.length];
  const times = points.map((p) => Date.parse(p.spec.startTime));
  let from = since ?? Math.min(...times);
  let to = Math.max(now, ...times);
  const pad = Math.max((to - from) * 0.04, 60e3);
  if (since === undefined) from -= pad;
  to += pad;
  const x = (t) => LEFT + ((t - from) / (to - from)) * (WIDTH - LEFT - RIGHT);
  const height = namespaces.length * ROW + AXIS;
  const { step, ticks: tk } = ticks(from, to);
  const tip = h('div', { class: 'tooltip', id: 'timeline-tooltip', role: 'tooltip', hidden: true });
  const show = (rp, evt) => {
    fill(
      tip,
      h('div', { class: 'tip-name' }, rp.metadata.name),
      h('div', {}, fmtTime(rp.spec.startTime)),
      h('div', {}, `policy ${rp.spec.policy} · ${rp.spec.phase}`),
      h('div', {}, `size ${fmtBytes(pointSize(rp))}`),
      ...(tiers[rp.metadata.name]?.length ? [h('div', {}, `kept as ${tiers[rp.metadata.name].join(', ')}`)] : []),
      // On-demand points live outside the policy's GFS: say what keeps them.
      ...(rp.spec.pinned ? [h('div', {}, 'on demand · pinned until deleted')] : rp.spec.expires ? [h('div', {}, `on demand · expires ${fmtTime(rp.spec.expires)}`)] : []),
    );
    tip.hidden = false;
    const box = el.getBoundingClientRect();
    const target = evt.target.getBoundingClientRect();
    tip.style.left = `${Math.min(target.left - box.left + 12, box.width - 260)}px`;
    tip.style.top = `${target.top - box.top + 14}px`;
  };
  const hide = () => (tip.hidden = true);
  const svg = s(
    'svg',
    { class: 'timeline', viewBox: `0 0 ${WIDTH} ${height}`, width: '100%', role: 'group', 'aria-label': 'restore points over time, one row per namespace' },
    tk.map((t) => [
      s('line', { x1: x(t), x2: x(t), y1: 0, y2: height - AXIS + 4, class: 'tick' }),
      s('text', { x: x(t), y: height - 8, class: 'tick-label', 'text-anchor': 'middle' }, tickLabel(t, step)),
    ]),
    s('line', { x1: x(now), x2: x(now), y1: 0, y2: height - AXIS + 4, class: 'now' }),
    namespaces.map((ns, i) => {
      const y = i * ROW + ROW / 2;
      return s(
        'g',
        { class: 'ns-row', dataset: { namespace: ns } },
        s('text', { x: 8, y: y + 4, class: 'ns-label' }, ns),
        s('line', { x1: LEFT, x2: WIDTH - RIGHT, y1: y, y2: y, class: 'lane' }),
        points
          .filter((p) => p.spec.namespace === ns)
          .map((rp) =>
            s(
              'circle',
              {
                class: `rp${rp.spec.phase === 'Succeeded' ? '' : ' rp-partial'}${selected === rp.metadata.name ? ' rp-selected' : ''}`,
                cx: x(Date.parse(rp.spec.startTime)),
                cy: y,
                r: 7,
                fill: colour(rp.spec.policy),
                tabindex: 0,
                'aria-label': `${rp.metadata.name}, ${fmtTime(rp.spec.startTime)}, policy ${rp.spec.policy}`,
                role: 'button',
                dataset: { name: rp.metadata.name, namespace: ns, policy: rp.spec.policy, tiers: (tiers[rp.metadata.name] ?? []).join(' ') },
                on: {
                  mouseenter: (e) => show(rp, e),
                  focus: (e) => show(rp, e),
                  mouseleave: hide,
                  blur: hide,
                  click: () => onSelect?.(rp),
                  keydown: (e) => {
                    if (e.key !== 'Enter' && e.key !== ' ') return;
                    e.preventDefault();
                    onSelect?.(rp);
                  },
                },
              },
              s('title', {}, `${rp.metadata.name} — ${fmtTime(rp.spec.startTime)} — ${rp.spec.policy} — ${fmtBytes(pointSize(rp))}${tiers[rp.metadata.name]?.length ? ` — ${tiers[rp.metadata.name].join(', ')}` : ''}${rp.spec.pinned ? ' — pinned' : rp.spec.expires ? ` — expires ${fmtTime(rp.spec.expires)}` : ''}`),
            ),
          ),
      );
    }),
  );
  const legend = h(
    'div',
    { class: 'legend' },
    policies.map((p) => h('span', { class: 'legend-item' }, h('span', { class: 'swatch', dataset: { policy: p } }), p)),
    h('span', { class: 'muted' }, ` · ${points.length} restore point${points.length === 1 ? '' : 's'} · red line: now`),
  );
  fill(el, legend, h('div', { class: 'timeline-wrap' }, svg, tip));
  // Swatch colours are set through the CSSOM (allowed by the CSP), never through a style attribute.
  for (const sw of el.querySelectorAll('.swatch')) sw.style.background = colour(sw.dataset.policy);
  return el;
}

/** The details panel of a selected restore point. */
export function renderPointDetails(el, rp, { canRestore, onRestore }) {
  if (!rp) return fill(el, h('p', { class: 'muted' }, 'Click a restore point for its details.'));
  const sp = rp.spec;
  return fill(
    el,
    h(
      'dl',
      { class: 'details', id: 'rp-details' },
      [
        ['name', rp.metadata.name],
        ['namespace', sp.namespace],
        ['policy', sp.policy],
        ['taken', fmtTime(sp.startTime)],
        ['phase', sp.phase],
        ['size', fmtBytes(pointSize(rp))],
        ['added to repository', fmtBytes(sp.stats?.bytesAdded)],
        ['volumes', (sp.volumes ?? []).map((v) => v.pvc).join(', ') || 'none'],
        ['source commit', (sp.sourceCommit ?? '').slice(0, 12)],
        ['trigger', sp.trigger ?? '—'],
      ].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    h('button', { type: 'button', disabled: !canRestore, title: canRestore ? 'Prefill the restore form' : 'needs the operate role', on: { click: () => onRestore(rp) } }, 'Restore this point…'),
  );
}
