import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sampleThreads } from '../bench/thread-cpu.ts';

/**
 * The bench's per-thread CPU sampler (test/bench/thread-cpu.ts) against the real /proc: a child whose main
 * thread and one worker thread each do a fixed amount of work (not a fixed time), and that waits for stdin
 * to close before it exits, so the last sample is taken while every thread is still there.
 */
const CHILD = String.raw`
const { Worker } = require('node:worker_threads');
const spin = "let x = 0; for (let i = 0; i < 5e7; i++) x = (x + i) | 0; x";
const w = new Worker(spin + "; require('node:worker_threads').parentPort.postMessage(1); setInterval(() => {}, 1000)", { eval: true });
const done = new Promise((r) => w.once('message', r));
eval(spin);
done.then(() => { process.stdout.write('ready\n'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0)); });
`;

describe.runIf(existsSync('/proc/self/schedstat'))('thread-cpu sampler', () => {
  it('sees the main thread and the worker of a command, and what each ran', async () => {
    const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
    const sampler = sampleThreads(child.pid!);
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
    });
    await new Promise((r) => setTimeout(r, 250)); // one more sample after both loops ended
    const t = sampler.stop()!;
    child.stdin.end();
    await new Promise((r) => child.on('close', r));
    expect(t.threads).toBeGreaterThanOrEqual(2);
    // both spinning threads ran: the two busiest are the main thread and the worker, in some order
    expect(t.top.length).toBeGreaterThanOrEqual(2);
    expect(t.top[0]!.run).toBeGreaterThan(0);
    expect(t.top[1]!.run).toBeGreaterThan(0);
    expect(t.top.slice(0, 2).filter((x) => x.main)).toHaveLength(1);
    expect(t.main!.run).toBe(t.top.find((x) => x.main)!.run);
    expect(t.runSeconds).toBeGreaterThanOrEqual(t.top[0]!.run + t.top[1]!.run - 0.011);
    expect(t.waitSeconds).toBeGreaterThanOrEqual(0);
  });

  it('with wrapper set, takes the child of the spawned process as the main thread', async () => {
    // sh stays as the parent (a command follows), as GNU time does in the bench
    const script = "let x=0; for (let i=0;i<3e7;i++) x=(x+i)|0; process.stdout.write('ready'); process.stdin.resume(); process.stdin.on('end',()=>process.exit(0))";
    const child = spawn('/bin/sh', ['-c', `"${process.execPath}" -e "${script}"; exit $?`], { stdio: ['pipe', 'pipe', 'inherit'] });
    const sampler = sampleThreads(child.pid!, true);
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 250));
    const t = sampler.stop()!;
    child.stdin.end();
    await new Promise((r) => child.on('close', r));
    expect(t.top[0]!.main).toBe(true);
    expect(t.top[0]!.run).toBeGreaterThan(0);
  });
});
