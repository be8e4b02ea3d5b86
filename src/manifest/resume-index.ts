import { NameSet, fingerprint } from '../util/name-set.js';
import { manifestRecords } from './run-manifest.js';

/**
 * Which jobs a resumed run need not run again: those whose newest manifest record succeeded, with their spec
 * hash. Read by streaming the manifest and kept as fingerprints (about 24 bytes per job), so a manifest of a
 * million lines costs seconds and some 30 MB, not a million records in memory.
 */
export class ResumeIndex {
  private constructor(private readonly done: NameSet) {}

  /** Whether the newest record of `job` succeeded with this spec hash. */
  isDone(job: string, specHash: string): boolean {
    const value = this.done.get(job);
    return value !== undefined && value !== 0 && value === specKey(specHash);
  }

  /** Reads a manifest (none: an empty index); torn or foreign lines are skipped. */
  static async read(file: string): Promise<ResumeIndex> {
    const done = new NameSet();
    for await (const record of manifestRecords(file)) {
      // The newest record wins: a later failure means the job runs again.
      done.set(record.job, record.status === 'succeeded' && typeof record.specHash === 'string' ? specKey(record.specHash) : 0);
    }
    return new ResumeIndex(done);
  }
}

/** 32 bits of a spec hash, never 0 (0 marks "not succeeded"). */
function specKey(specHash: string): number {
  return fingerprint(specHash)[1] || 1;
}
