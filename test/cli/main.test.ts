import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { capture } from '../cli-capture.ts';


describe('coffer CLI entry', () => {
  it('lists commands on --help and exits 0', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.out()).toMatch(/validate\s+Validate a policy repository/);
  });

  it('rejects an unknown verb like kubectl does, with exit 1', async () => {
    const c = capture();
    expect(await main(['frobnicate'], c.io)).toBe(1);
    expect(c.err()).toContain('unknown command "frobnicate" for "coffer"');
  });
});

describe('reconciler verbs reject bad flags before touching anything', () => {
  it.each([
    [['reconcile'], 'coffer reconcile needs --once'],
    [['backup', '--source', '.'], '--policy is required'],
    [['run', '--interval', 'soon'], '--interval "soon": expected a duration'],
    [['run', '--shutdown-timeout', 'forever'], '--shutdown-timeout "forever": expected a duration'],
    [['run', '--leader-elect-lease-duration', '0s'], '--leader-elect-lease-duration "0s": expected a duration of at least 1s'],
    [['run', '--leader-elect-lease-duration', 'long'], '--leader-elect-lease-duration "long": expected a duration of at least 1s'],
    [['reconcile', '--once', '--concurrency', '0'], '--concurrency "0": expected a positive integer'],
    [['reconcile', '--once', '--author', 'nobody'], '--author "nobody": expected "Name <email@example.com>"'],
  ])('coffer %j', async (argv, message) => {
    const c = capture();
    expect(await main(argv, c.io)).toBe(1);
    expect(c.err()).toContain(message);
  });
});
