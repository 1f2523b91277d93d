/**
 * The V8 flags that make its optimizing compilers 16× slower to step in, for verbs that exit within a second
 * (cli/bin.ts). V8 11 (Node 20) counts bytecode executed (`--interrupt-budget`); V8 12+ (Node 22, 24) dropped that
 * flag, printing "unrecognized flag" on stderr when it is set, and counts invocations instead.
 */
export function lazierTierUp(v8Version: string): string {
  return Number.parseInt(v8Version, 10) < 12 ? '--interrupt-budget=1081344' : '--invocation-count-for-maglev=6400 --invocation-count-for-turbofan=48000';
}
