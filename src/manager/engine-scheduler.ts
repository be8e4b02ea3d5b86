import { FifoQueue } from '../util/fifo-queue.js';

/** A place to run one attempt: an engine and one of its worker slots. */
export interface EngineSlot {
  engine: number;
  /** The slot on that engine, 0 to its maxWorkers - 1. */
  slot: number;
}

interface Waiter {
  /** Arrival order, for first come first served across groups. */
  order: number;
  resolve(slot: EngineSlot | undefined): void;
}

/** The jobs that can run on the same engines wait in one queue. */
interface WaitGroup {
  engines: readonly number[];
  waiters: FifoQueue<Waiter>;
}

/**
 * Hands out worker slots across engines, first come first served: at most `capacity` attempts per engine at
 * once, each job only on engines it can run on, and the emptiest engine first so work spreads. An engine marked
 * down gets nothing more; a job that no live engine can run is told so (undefined).
 *
 * Jobs wait in one queue per set of engines they can use (in practice one or a few sets), so taking or giving
 * back a slot costs O(groups + engines) whatever the number of jobs waiting.
 */
export class EngineScheduler {
  private readonly free: number[][];
  private readonly down = new Set<number>();
  private readonly groups = new Map<string, WaitGroup>();
  /** Per engine, the groups that can use it. */
  private readonly groupsOf: WaitGroup[][];
  private arrivals = 0;

  /** When `signal` aborts, every waiting job is told there is no slot (one listener for all of them). */
  constructor(
    capacities: readonly number[],
    private readonly signal?: AbortSignal,
  ) {
    this.free = capacities.map((capacity) => Array.from({ length: capacity }, (_, i) => capacity - 1 - i));
    this.groupsOf = capacities.map(() => []);
    signal?.addEventListener('abort', () => this.failWaiters(() => true), { once: true });
  }

  /**
   * Resolves with a slot on one of `engines` once one is free; undefined if none of them is left alive or the
   * run was aborted.
   */
  acquire(engines: readonly number[]): Promise<EngineSlot | undefined> {
    return new Promise((resolve) => {
      if (this.signal?.aborted) return resolve(undefined);
      const live = engines.filter((engine) => !this.down.has(engine) && this.free[engine] !== undefined);
      if (live.length === 0) return resolve(undefined);
      // A free slot means no waiter can use it (slots are handed on as they are released): take the emptiest.
      let best: number | undefined;
      for (const engine of live) {
        const count = (this.free[engine] as number[]).length;
        if (count > 0 && (best === undefined || count > (this.free[best] as number[]).length)) best = engine;
      }
      if (best !== undefined) return resolve({ engine: best, slot: (this.free[best] as number[]).pop() as number });
      this.groupFor(engines).waiters.push({ order: this.arrivals++, resolve });
    });
  }

  release(slot: EngineSlot): void {
    this.free[slot.engine]?.push(slot.slot);
    this.handOn(slot.engine);
  }

  /** The engine takes no more work (it stopped answering); jobs that can run nowhere else are told so. */
  markDown(engine: number): void {
    this.down.add(engine);
    this.failWaiters((group) => group.engines.every((candidate) => this.down.has(candidate)));
  }

  isDown(engine: number): boolean {
    return this.down.has(engine);
  }

  /** Engines still taking work. */
  get liveEngines(): number[] {
    return this.free.map((_, engine) => engine).filter((engine) => !this.down.has(engine));
  }

  /** Gives an engine's free slots to the oldest waiters that can use it. */
  private handOn(engine: number): void {
    const free = this.free[engine];
    if (free === undefined || this.down.has(engine)) return;
    while (free.length > 0) {
      let oldest: WaitGroup | undefined;
      for (const group of this.groupsOf[engine] ?? []) {
        const head = group.waiters.peek();
        if (head !== undefined && (oldest === undefined || head.order < (oldest.waiters.peek() as Waiter).order)) oldest = group;
      }
      if (oldest === undefined) return;
      (oldest.waiters.shift() as Waiter).resolve({ engine, slot: free.pop() as number });
    }
  }

  private groupFor(engines: readonly number[]): WaitGroup {
    const key = engines.join(',');
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { engines: [...engines], waiters: new FifoQueue() };
      this.groups.set(key, group);
      for (const engine of engines) this.groupsOf[engine]?.push(group);
    }
    return group;
  }

  private failWaiters(which: (group: WaitGroup) => boolean): void {
    for (const group of this.groups.values()) {
      if (which(group)) for (const waiter of group.waiters.drain()) waiter.resolve(undefined);
    }
  }
}
