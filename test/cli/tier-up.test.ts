import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { lazierTierUp } from '../../cli/tier-up.ts';

describe('lazierTierUp', () => {
  // V8 versions of Node 20.19 (11.3), 22 (12.4) and 24 (13.6), from `node -p process.versions.v8`.
  const table: [v8: string, flags: string][] = [
    ['11.3.244.8-node.30', '--interrupt-budget=1081344'],
    ['12.4.254.21-node.57', '--invocation-count-for-maglev=6400 --invocation-count-for-turbofan=48000'],
    ['13.6.233.17-node.63', '--invocation-count-for-maglev=6400 --invocation-count-for-turbofan=48000'],
  ];
  for (const [v8, flags] of table) it(`V8 ${v8}`, () => expect(lazierTierUp(v8)).toBe(flags));

  it('names only flags this Node knows, at 16× their defaults', () => {
    const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    for (const flag of lazierTierUp(process.versions.v8).split(' ')) {
      const [name, value] = flag.split('=');
      const fallback = new RegExp(`default: ${name}=(\\d+)`).exec(options);
      expect(fallback, `${name} in node --v8-options`).not.toBeNull();
      expect(Number(value)).toBe(16 * Number(fallback![1]));
    }
  });
});
