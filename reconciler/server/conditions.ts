/**
 * What is wrong with Coffer's own input, as Kubernetes conditions (metav1.Condition's fields) in `/healthz`: the
 * policy source (reachable, credentials), the policy commit (compiles), webhook deliveries (signed with our secret).
 * None of these is fixed by a restart, so none fails the liveness probe; each is also a Kubernetes Event on the
 * Deployment (events.ts) so `kubectl describe deployment coffer` shows it.
 */
import { CompileFailed, formatDiagnostic } from '../../compiler/index.ts';

export type ConditionType = 'SourceReady' | 'PolicyValid' | 'WebhooksVerified';

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  /** CamelCase, stable: what alerting and tests match on. */
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export const CONDITION_TYPES: readonly ConditionType[] = ['SourceReady', 'PolicyValid', 'WebhooksVerified'];

/** A condition to set: the type, whether it holds, why. */
export type ConditionUpdate = Pick<Condition, 'type' | 'reason' | 'message'> & { status: boolean };

/** The current conditions, one per type, `Unknown` until observed. */
export class Conditions {
  private readonly byType = new Map<ConditionType, Condition>();

  constructor(now: Date) {
    for (const type of CONDITION_TYPES) this.byType.set(type, { type, status: 'Unknown', reason: 'NotObserved', message: initialMessage(type), lastTransitionTime: now.toISOString() });
  }

  /** Sets a condition; returns the status it had before (lastTransitionTime moves only when the status changes). */
  set(u: ConditionUpdate, now: Date): Condition['status'] {
    const old = this.byType.get(u.type)!;
    const status = u.status ? 'True' : 'False';
    this.byType.set(u.type, { type: u.type, status, reason: u.reason, message: u.message, lastTransitionTime: old.status !== status ? now.toISOString() : old.lastTransitionTime });
    return old.status;
  }

  list(): Condition[] {
    return CONDITION_TYPES.map((t) => this.byType.get(t)!);
  }
}

function initialMessage(type: ConditionType): string {
  switch (type) {
    case 'SourceReady':
      return 'the policy repository has not been fetched yet';
    case 'PolicyValid':
      return 'no policy commit has been compiled yet';
    case 'WebhooksVerified':
      return 'no webhook delivery received yet';
  }
}

/**
 * A reconcile that failed, as the conditions it says something about. Git failures carry an E_GIT_* code; a commit
 * that does not compile is a CompileFailed with diagnostics (file:line:col). A Git server that wants credentials
 * while none are configured is the missing-Secret case: deploy/ passes the `coffer-git` Secret as COFFER_GIT_TOKEN,
 * optional, so the pod starts without it and says so here.
 */
export function conditionsOfReconcileError(e: unknown, env: NodeJS.ProcessEnv): ConditionUpdate[] {
  const code = (e as { code?: string }).code ?? '';
  const message = (e as Error).message ?? String(e);
  if (code === 'E_GIT_AUTH') {
    return [
      env.COFFER_GIT_TOKEN
        ? { type: 'SourceReady', status: false, reason: 'GitAuthFailed', message }
        : { type: 'SourceReady', status: false, reason: 'GitTokenMissing', message: `${message} (deploy/: Secret coffer-git, key token, in Coffer's namespace)` },
    ];
  }
  if (code.startsWith('E_GIT')) return [{ type: 'SourceReady', status: false, reason: code === 'E_GIT_UNREACHABLE' ? 'GitUnreachable' : 'GitFetchFailed', message }];
  if (e instanceof CompileFailed) {
    const errors = e.diagnostics.filter((d) => d.severity === 'error');
    const shown = errors.slice(0, 5).map(formatDiagnostic).join('; ');
    return [
      { type: 'SourceReady', status: true, reason: 'Fetched', message: 'the policy branch was fetched' },
      { type: 'PolicyValid', status: false, reason: 'CompileFailed', message: `the policy commit does not compile: ${shown}${errors.length > 5 ? `; and ${errors.length - 5} more` : ''}` },
    ];
  }
  return [];
}
