/**
 * Coalesces reconcile requests (webhooks, API, polls) for the loop's `wake()` hook: any number of requests while a
 * reconcile runs queue exactly one more; a request while the loop sleeps wakes it now.
 *
 * The loop calls `wake()` each time it goes to sleep and may leave a sleep by timeout, so the pending waiter is dropped
 * the moment a reconcile starts (`beginReconcile`, called when the reconcile fetches the policy branch): a request
 * after that point must not be spent on a sleep that already ended. A request before it is served by that fetch.
 */
export class ReconcileTrigger {
  private pending = false;
  private waiter: (() => void) | undefined;
  private reasons: string[] = [];

  /** Ask for a reconcile. Returns true when it woke a sleeping loop, false when it was queued behind a running one. */
  request(reason: string): boolean {
    this.reasons.push(reason);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w();
      return true;
    }
    this.pending = true;
    return false;
  }

  /** For `runLoop({ wake })`: resolves when a reconcile is requested (at once if one was queued). */
  wake = (): Promise<void> => {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  };

  /** A reconcile started reading the policy branch: earlier requests are served by it. */
  beginReconcile(): string[] {
    this.waiter = undefined;
    const served = this.reasons;
    this.reasons = [];
    return served;
  }

  get queued(): boolean {
    return this.pending;
  }
}
