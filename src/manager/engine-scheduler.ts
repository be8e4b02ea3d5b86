/** A place to run one attempt: an engine and one of its worker slots. */
export interface EngineSlot {
  engine: number;
  /** The slot on that engine, 0 to its maxWorkers - 1. */
  slot: number;
}

interface Waiter {
  canRun(engine: number): boolean;
  resolve(slot: EngineSlot | undefined): void;
}

/**
 * Hands out worker slots across engines, first come first served: at most `capacity` attempts per engine at
 * once, each job only on engines it can run on, and the emptiest engine first so work spreads. An engine marked
 * down gets nothing more; a job that no live engine can run is told so (undefined).
 */
export class EngineScheduler {
  private readonly free: number[][];
  private readonly down = new Set<number>();
  private readonly waiters: Waiter[] = [];

  /** When `signal` aborts, every waiting job is told there is no slot (one listener for all of them). */
  constructor(
    capacities: readonly number[],
    private readonly signal?: AbortSignal,
  ) {
    this.free = capacities.map((capacity) => Array.from({ length: capacity }, (_, i) => capacity - 1 - i));
    signal?.addEventListener(
      'abort',
      () => {
        for (const waiter of this.waiters.splice(0)) waiter.resolve(undefined);
      },
      { once: true },
    );
  }

  /** Resolves with a slot once one is free on an engine `canRun` accepts; undefined if none is left alive or the run was aborted. */
  acquire(canRun: (engine: number) => boolean): Promise<EngineSlot | undefined> {
    return new Promise((resolve) => {
      if (this.signal?.aborted) return resolve(undefined);
      this.waiters.push({ canRun, resolve });
      this.dispatch();
    });
  }

  release(slot: EngineSlot): void {
    this.free[slot.engine]?.push(slot.slot);
    this.dispatch();
  }

  /** The engine takes no more work (it stopped answering). */
  markDown(engine: number): void {
    this.down.add(engine);
    this.dispatch();
  }

  isDown(engine: number): boolean {
    return this.down.has(engine);
  }

  /** Engines still taking work. */
  get liveEngines(): number[] {
    return this.free.map((_, engine) => engine).filter((engine) => !this.down.has(engine));
  }

  private dispatch(): void {
    for (let i = 0; i < this.waiters.length; ) {
      const waiter = this.waiters[i] as Waiter;
      const live = this.liveEngines.filter((engine) => waiter.canRun(engine));
      if (live.length === 0) {
        this.waiters.splice(i, 1);
        waiter.resolve(undefined);
        continue;
      }
      let best: number | undefined;
      for (const engine of live) {
        const freeCount = this.free[engine]?.length ?? 0;
        if (freeCount > 0 && (best === undefined || freeCount > (this.free[best]?.length ?? 0))) best = engine;
      }
      if (best === undefined) {
        i += 1; // everything it can use is busy: later waiters may fit elsewhere
        continue;
      }
      this.waiters.splice(i, 1);
      waiter.resolve({ engine: best, slot: this.free[best]?.pop() ?? 0 });
    }
  }
}
