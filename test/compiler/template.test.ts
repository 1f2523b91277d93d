import { describe, expect, it } from 'vitest';
import { parseTemplate, renderArgs, renderTemplate, shellQuote, templateReferences, TemplateError } from '../../compiler/template.ts';

function errorOf(src: string, scope = {}): { message: string; offset: number } {
  try {
    parseTemplate(src, scope);
  } catch (e) {
    expect(e).toBeInstanceOf(TemplateError);
    return { message: (e as TemplateError).message, offset: (e as TemplateError).offset };
  }
  throw new Error(`no error for ${src}`);
}

const ctx = {
  namespace: 'shop',
  cluster: 'prod',
  workload: { kind: 'StatefulSet', name: 'db', namespace: 'shop' },
  restorePoint: { id: 'rp-1', policy: 'daily', namespace: 'shop' },
  artifacts: { dump: { path: "/data/it's.sql" } },
  phases: { down: { output: { originalReplicas: '3' } } },
};

describe('template parse errors (offset inside the string)', () => {
  it.each([
    ['{{ nmespace }}', 3, /unknown template variable "nmespace"/],
    ['x {{ namespace', 2, /unclosed "\{\{"/],
    ['a }} b', 2, /unexpected "\}\}"/],
    ['{{ }}', 2, /empty template expression/],
    ['{{ workload.image }}', 3, /"workload.image" is not a field of workload/],
    ['{{ namespace.name }}', 13, /"namespace" is a string and has no field "name"/],
    ['{{ phases.dump.path }}', 3, /write phases.PHASE.output.KEY/],
    ['{{ namespace | shout }}', 15, /unknown filter "shout"/],
    ['{{ namespace | default }}', 15, /filter default needs a "string" argument/],
    ['{{ namespace + 1 }}', 13, /unexpected character "\+"/],
    ['{{ namespace namespace }}', 13, /expected "\|" before a filter/],
  ])('%s', (src, offset, message) => {
    const e = errorOf(src);
    expect(e.offset).toBe(offset);
    expect(e.message).toMatch(message);
  });

  it('checks phase references against earlier phases', () => {
    const e = errorOf('{{ phases.later.output.x }}', { phases: ['down'] });
    expect(e).toEqual({ offset: 10, message: 'phase "later" is not an earlier phase of this action (earlier phases: down)' });
    expect(() => parseTemplate('{{ phases.down.output.x }}', { phases: ['down'] })).not.toThrow();
  });

  it('checks artifacts against what the backup action records', () => {
    expect(errorOf('{{ artifacts.dmp.path }}', { artifacts: { dump: ['path'] } })).toEqual({ offset: 13, message: 'unknown artifact "dmp" (the backup action records: dump)' });
    expect(errorOf('{{ artifacts.dump.file }}', { artifacts: { dump: ['path'] } })).toEqual({ offset: 18, message: 'artifact "dump" has no key "file" (keys: path)' });
  });

  it('workload is unavailable for a per-namespace binding', () => {
    expect(errorOf('{{ workload.name }}', { workload: false }).message).toMatch(/bound once per namespace/);
  });
});

describe('renderTemplate', () => {
  it('renders variables, literals and filters', () => {
    const t = parseTemplate('ns={{namespace}} wl={{ workload.kind | lower }}/{{ workload.name | upper }} n={{ phases.down.output.originalReplicas }} {{ "{{" }}');
    expect(renderTemplate(t, ctx)).toBe('ns=shop wl=statefulset/DB n=3 {{');
    expect(templateReferences(t)).toEqual(['namespace', 'phases.down.output.originalReplicas', 'workload.kind', 'workload.name']);
  });

  it('quote makes any value safe inside sh -c', () => {
    const t = parseTemplate('rm -f {{ artifacts.dump.path | quote }}');
    expect(renderTemplate(t, ctx)).toBe(`rm -f '/data/it'\\''s.sql'`);
    expect(shellQuote("$(reboot)")).toBe("'$(reboot)'");
  });

  it('a missing value is an error unless a default is given', () => {
    const t = parseTemplate('{{ phases.up.output.x }}');
    expect(() => renderTemplate(t, ctx)).toThrow(expect.objectContaining({ code: 'E_TEMPLATE_RENDER', message: '{{ phases.up.output.x }}: no value for "phases.up.output.x"' }));
    expect(renderTemplate(parseTemplate('{{ phases.up.output.x | default "1" }}'), ctx)).toBe('1');
  });

  it('does not read inherited properties', () => {
    expect(() => renderTemplate(parseTemplate('{{ restorePoint.id }}'), { restorePoint: Object.create({ id: 'x' }) })).toThrow(TemplateError);
  });

  it('renderArgs renders a whole args object; a lone template of digits becomes a number', () => {
    const args = { namespace: '{{ namespace }}', kind: '{{ workload.kind }}', replicas: '{{ phases.down.output.originalReplicas }}', waitForReady: true, command: ['echo', 'n={{ phases.down.output.originalReplicas }}'] };
    expect(renderArgs(args, ctx)).toEqual({ namespace: 'shop', kind: 'StatefulSet', replicas: 3, waitForReady: true, command: ['echo', 'n=3'] });
    expect(args.replicas).toBe('{{ phases.down.output.originalReplicas }}');
  });

  it('plain strings pass through untouched', () => {
    expect(renderTemplate(parseTemplate('no templates here'), {})).toBe('no templates here');
  });
});
