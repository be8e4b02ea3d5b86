import { ValidationError } from '../errors/validation-error.js';
import { SimJob, type SimJobOptions } from '../job/sim-job.js';
import { NameSet } from '../util/name-set.js';

/** Where jobs come from: an array, any iterable or any async iterable (a generator, a stream of rows...). */
export type JobSource = Iterable<SimJob | SimJobOptions> | AsyncIterable<SimJob | SimJobOptions>;

/**
 * The jobs of one run, read one at a time as the run asks for them: first the jobs added one by one (or as an
 * array), then each source in the order it was added. Names are checked for duplicates as they come, by a
 * 64-bit fingerprint per name (see NameSet), so a million names cost some 16 MB, not a million strings.
 */
export class JobFeed {
  private readonly names = new NameSet();
  private heldIndex = 0;
  private sourceIndex = 0;
  private iterator: Iterator<SimJob | SimJobOptions> | AsyncIterator<SimJob | SimJobOptions> | undefined;
  private isExhausted = false;
  /** Jobs handed out so far. */
  count = 0;

  /**
   * @param held the jobs the manager holds that have not run yet
   * @param heldNames every name the manager holds, run or not (a streamed job may not reuse one)
   */
  constructor(
    private readonly held: readonly SimJob[],
    private readonly sources: readonly JobSource[],
    heldNames: Iterable<string>,
  ) {
    for (const name of heldNames) this.names.add(name);
  }

  /** True once every job was read. */
  get exhausted(): boolean {
    return this.isExhausted;
  }

  /** The next job, undefined when there is none left. Throws what the source throws, or a `ValidationError`. */
  async next(): Promise<SimJob | undefined> {
    if (this.heldIndex < this.held.length) {
      this.count += 1;
      return this.held[this.heldIndex++];
    }
    while (this.sourceIndex < this.sources.length) {
      this.iterator ??= iteratorOf(this.sources[this.sourceIndex] as JobSource);
      const step = await this.iterator.next();
      if (step.done) {
        this.iterator = undefined;
        this.sourceIndex += 1;
        continue;
      }
      const job = step.value instanceof SimJob ? step.value : new SimJob(step.value);
      if (!this.names.add(job.name)) {
        throw new ValidationError('name', job.name, `A job named '${job.name}' appears twice (job ${this.count + 1} of the run repeats an earlier name). Job names must be unique: they name the output folders.`);
      }
      this.count += 1;
      return job;
    }
    this.isExhausted = true;
    return undefined;
  }

  /** Stops reading: a generator's `finally` blocks run (its files or connections are closed). */
  async close(): Promise<void> {
    const iterator = this.iterator;
    this.iterator = undefined;
    this.sourceIndex = this.sources.length;
    this.heldIndex = this.held.length;
    await iterator?.return?.();
  }
}

function iteratorOf(source: JobSource): Iterator<SimJob | SimJobOptions> | AsyncIterator<SimJob | SimJobOptions> {
  if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
  return (source as Iterable<SimJob | SimJobOptions>)[Symbol.iterator]();
}
