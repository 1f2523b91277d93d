export { judgeAnswer, type Judgement } from './expect.ts';
export { verificationsDue, pairKey, type LastVerification, type VerifyPair, type VerifyDueReason } from './due.ts';
export { buildVerificationResult, verificationPath, verificationRun, type VerificationResultDoc } from './result.ts';
export { latestVerifications } from './store.ts';
export { runVerification, runDueVerifications, type VerificationOutcome, type VerifyContext } from './run.ts';
