export { judgeAnswer, type Judgement } from './expect.ts';
export { verificationsDue, pairKey, type LastVerification, type VerifyPair, type VerifyDueReason } from './due.ts';
export { buildVerificationResult, verificationPath, verificationRun, type VerificationResultDoc, type VerificationTrigger } from './result.ts';
export { latestVerifications } from './store.ts';
export { runVerification, runDueVerifications, type VerificationOutcome, type VerificationOptions, type VerifyContext } from './run.ts';
export { verifyNow, chooseVerifyTarget, VerifyRequestError, type ManualVerifyRequest } from './manual.ts';
