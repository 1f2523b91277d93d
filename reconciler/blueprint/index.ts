/**
 * Blueprint execution: the function library (KubeExec, KubeTask, ScaleWorkload, Wait) and the phase runner.
 */
export { runAction, toHookRecords, DEFAULT_PHASE_TIMEOUT, type ActionSpec, type PhaseSpec, type PhaseResult, type ActionResult, type RunActionOptions } from './run.ts';
export { FUNCTIONS, lookupFunction, validateArgs } from './functions/index.ts';
export { renderArgs, type TemplateContext } from './template.ts';
export { PhaseError, FunctionArgsError, parseOutputLines, type BlueprintFunction, type FunctionContext, type FunctionResult } from './types.ts';
export { execInPod, readyPodOf, isPodReady, labelSelectorString, exitCodeOf } from './functions/KubeExec.ts';
export { parseDuration } from './functions/Wait.ts';
