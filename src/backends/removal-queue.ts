/**
 * Removals kept off the jobs' critical path: a finished attempt's container or service goes away while the next
 * job already runs. The run awaits them all before it ends; a failure is reported, never thrown.
 */
export class RemovalQueue {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly onFailure: (message: string, error: unknown) => void) {}

  /** Starts a removal; `what` names it in the warning if it fails. */
  add(what: string, remove: () => Promise<void>): void {
    const removal = remove()
      .catch((error: unknown) => this.onFailure(`${what} could not be removed: ${(error as Error).message}`, error))
      .finally(() => this.pending.delete(removal));
    this.pending.add(removal);
  }

  /** Resolves once every removal started so far (and any started meanwhile) ended. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}
