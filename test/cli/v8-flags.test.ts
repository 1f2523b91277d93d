import { describe, expect, it } from 'vitest';
import { startedWithSemiSpaceFlag } from '../../cli/v8-flags.ts';
import { MOVER_NODE_OPTIONS } from '../../reconciler/volumes/mover.ts';

// Node passes V8 options from its command line and from NODE_OPTIONS alike; V8 reads `_` and `-` in a name the same.
describe('startedWithSemiSpaceFlag', () => {
  it.each([
    { name: "the mover's NODE_OPTIONS", execArgv: [], nodeOptions: MOVER_NODE_OPTIONS, want: true },
    { name: 'among other options', execArgv: [], nodeOptions: '--enable-source-maps  --max-semi-space-size=4 --trace-warnings', want: true },
    { name: 'on the command line', execArgv: ['--max-semi-space-size=2'], nodeOptions: '', want: true },
    { name: "with V8's underscores", execArgv: ['--max_semi_space_size=2'], nodeOptions: '', want: true },
    { name: 'its value as the next word', execArgv: ['--max-semi-space-size', '2'], nodeOptions: '', want: true },
    { name: 'none', execArgv: [], nodeOptions: '', want: false },
    { name: 'another heap flag', execArgv: ['--max-old-space-size=512'], nodeOptions: '--max-semi-space', want: false },
    { name: 'a longer name that starts the same', execArgv: ['--max-semi-space-size-x=1'], nodeOptions: '', want: false },
  ])('$name: $want', ({ execArgv, nodeOptions, want }) => {
    expect(startedWithSemiSpaceFlag(execArgv, nodeOptions)).toBe(want);
  });
});
