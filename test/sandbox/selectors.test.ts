import { describe, expect, it } from 'vitest';
import { labelMatcher, parseLabelSelector, fieldMatcher, requirementsFromObject, formatRequirements, matchRequirements } from '../../sandbox/api/selectors.ts';
import { ApiError } from '../../sandbox/api/errors.ts';

const labels = { app: 'web', tier: 'front', env: 'prod' };

describe('label selectors', () => {
  it.each([
    ['app=web', true],
    ['app==web', true],
    ['app=db', false],
    ['app!=db', true],
    ['app!=web', false],
    ['missing!=x', true],
    ['tier in (front,back)', true],
    ['tier in (back)', false],
    ['tier notin (back)', true],
    ['tier notin (front, back)', false],
    ['env', true],
    ['owner', false],
    ['!owner', true],
    ['!env', false],
    ['app=web,tier in (front),!owner', true],
    ['app=web,tier in (back)', false],
    ['', true],
  ])('%s → %s', (sel, want) => {
    expect(labelMatcher(sel)(labels)).toBe(want);
  });

  it('treats a missing label map as empty', () => {
    expect(labelMatcher('!a')(undefined)).toBe(true);
    expect(labelMatcher('a')(undefined)).toBe(false);
  });

  it('rejects malformed selectors with a 400', () => {
    for (const bad of ['app=we b', '-bad=x', 'a in (b']) {
      expect(() => parseLabelSelector(bad), bad).toThrow(ApiError);
      try {
        parseLabelSelector(bad);
      } catch (e) {
        expect((e as ApiError).code).toBe(400);
      }
    }
  });

  it('converts LabelSelector objects and formats them back', () => {
    const reqs = requirementsFromObject({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }, { key: 'legacy', operator: 'DoesNotExist' }] });
    expect(formatRequirements(reqs)).toBe('app=web,tier in (front,back),!legacy');
    expect(matchRequirements(reqs)(labels)).toBe(true);
    expect(matchRequirements(reqs)({ ...labels, legacy: 'y' })).toBe(false);
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };
  it.each([
    ['metadata.name=p', true],
    ['metadata.name!=p', false],
    ['metadata.namespace=ns,status.phase=Running', true],
    ['status.phase==Pending', false],
    ['spec.nodeName=n1', true],
    ['spec.nodeName=', false],
  ])('%s → %s', (sel, want) => {
    expect(fieldMatcher(sel, ['status.phase', 'spec.nodeName'], 'Pod')(pod)).toBe(want);
  });
  it('refuses fields the kind does not index, like the real server', () => {
    expect(() => fieldMatcher('spec.foo=x', ['status.phase'], 'Pod')).toThrow('field label not supported: spec.foo');
  });
});
