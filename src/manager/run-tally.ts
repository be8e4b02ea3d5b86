import type { JobResult, RunUsage } from '../job/job-result.js';

/** How many failed results, and names of jobs without output, a summary keeps (the counts are always exact). */
export const KEPT_IN_SUMMARY = 1000;
/** Up to this many jobs the median peak memory is exact; beyond, it comes from a histogram. */
const EXACT_MEDIAN_UP_TO = 10_000;
/** Peak memory histogram: 32 buckets per doubling, so the median is off by at most about 1%. */
const BUCKETS_PER_DOUBLING = 32;

/**
 * The counts and bounded lists of a run, kept as jobs end, so a run of a million jobs holds no million results.
 * Every result is in the manifest.
 */
export class RunTally {
  readonly counts = { total: 0, succeeded: 0, failed: 0, cancelled: 0, skipped: 0 };
  readonly failures: JobResult[] = [];
  readonly withoutOutput: string[] = [];
  withoutOutputCount = 0;
  private cpuMs: number | null = null;
  private peak: { bytes: number; job: string } | null = null;
  private readonly peaks = new Map<number, number>();
  private peakCount = 0;
  private peakValues: number[] | null = [];

  /** A job ended (any status). */
  add(result: JobResult): void {
    this.counts.total += 1;
    this.counts[result.status] += 1;
    if (result.status === 'failed' && this.failures.length < KEPT_IN_SUMMARY) this.failures.push(result);
    const { cpuMs, peakMemoryBytes } = result.usage;
    if (cpuMs !== undefined) this.cpuMs = (this.cpuMs ?? 0) + cpuMs;
    if (peakMemoryBytes !== undefined) {
      if (this.peak === null || peakMemoryBytes > this.peak.bytes) this.peak = { bytes: peakMemoryBytes, job: result.name };
      const bucket = peakMemoryBytes > 0 ? Math.floor(Math.log2(peakMemoryBytes) * BUCKETS_PER_DOUBLING) : -1;
      this.peaks.set(bucket, (this.peaks.get(bucket) ?? 0) + 1);
      this.peakCount += 1;
      if (this.peakCount > EXACT_MEDIAN_UP_TO) this.peakValues = null;
      else this.peakValues?.push(peakMemoryBytes);
    }
  }

  /** A job succeeded with nothing in its folder; true for the first one of the run. */
  addWithoutOutput(name: string): boolean {
    this.withoutOutputCount += 1;
    if (this.withoutOutput.length < KEPT_IN_SUMMARY) this.withoutOutput.push(name);
    return this.withoutOutputCount === 1;
  }

  get usage(): RunUsage {
    return { cpuMs: this.cpuMs, maxPeakMemory: this.peak, medianPeakMemoryBytes: this.medianPeak() };
  }

  private medianPeak(): number | null {
    if (this.peakCount === 0) return null;
    // The lower median, for an even count.
    if (this.peakValues !== null) return [...this.peakValues].sort((a, b) => a - b)[Math.floor((this.peakValues.length - 1) / 2)] ?? null;
    let seen = 0;
    for (const bucket of [...this.peaks.keys()].sort((a, b) => a - b)) {
      seen += this.peaks.get(bucket) ?? 0;
      if (seen * 2 >= this.peakCount) return bucket < 0 ? 0 : Math.round(2 ** ((bucket + 0.5) / BUCKETS_PER_DOUBLING));
    }
    return null;
  }
}
