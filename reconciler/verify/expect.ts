import type { PlanVerifyExpect } from '../../compiler/plan/types.ts';

/** How one answer measured up to a check's `expect`: the result and the comparison made, in words. */
export interface Judgement {
  result: 'Passed' | 'Failed';
  message: string;
}

/**
 * Compares the answer a blueprint's verify action gave (`coffer-output result=`) with the policy's expectation. Every
 * condition given must hold; the message names the query, the answer and every condition that failed, so a Failed
 * VerificationResult says why without opening logs. Pure.
 */
export function judgeAnswer(query: string, answer: string, expect: PlanVerifyExpect): Judgement {
  const text = answer.trim();
  const failed: string[] = [];
  const held: string[] = [];
  const num = Number(text);
  const numeric = text !== '' && Number.isFinite(num);
  const bound = (name: 'at least' | 'at most', limit: number, ok: (n: number) => boolean) => {
    const cond = `${name} ${limit}`;
    if (!numeric) failed.push(`${cond} (not a number)`);
    else (ok(num) ? held : failed).push(cond);
  };
  if (expect.atLeast !== undefined) bound('at least', expect.atLeast, (n) => n >= expect.atLeast!);
  if (expect.atMost !== undefined) bound('at most', expect.atMost, (n) => n <= expect.atMost!);
  if (expect.equals !== undefined) (text === expect.equals.trim() ? held : failed).push(`equal to ${JSON.stringify(expect.equals.trim())}`);
  if (expect.exists !== undefined) (expect.exists === (text !== '') ? held : failed).push(expect.exists ? 'not empty' : 'empty');
  const said = text === '' ? 'an empty answer' : JSON.stringify(text.length > 200 ? `${text.slice(0, 197)}…` : text);
  if (failed.length) return { result: 'Failed', message: `${query} returned ${said}, expected ${failed.join(' and ')}` };
  return { result: 'Passed', message: `${query} returned ${said} (${held.join(' and ')})` };
}
