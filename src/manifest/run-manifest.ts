import { createReadStream } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { JobResult } from '../job/job-result.js';

/** One line of `manifest.jsonl`: how one job of one run ended. Field names are stable. */
export interface ManifestRecord {
  /** Format version. */
  v: 1;
  runId: string;
  job: string;
  /** Hash of what decides the job's outputs (image id, entrypoint, command, env, working dir, templates' content). */
  specHash: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  exitCode: number | null;
  attempts: number;
  imageId: string;
  imageDigest: string | null;
  /** ISO 8601 times; startedAt is null when the job never started. */
  startedAt: string | null;
  finishedAt: string;
  durationMs: number;
  /** The worker slot (0 to maxWorkers - 1, numbered across engines) that ran the job's last attempt. */
  slot: number | null;
  /** The engine that ran it (`'default'` with a single engine). */
  engine?: string | null;
  outputDir: string;
  /** The job's `parameters`, when it has any. */
  parameters?: Record<string, string | number | boolean>;
  /** What its last attempt used, where the engine could tell. */
  usage?: { cpuMs?: number; peakMemoryBytes?: number };
  /** The limits its last attempt ran with (cpus, memoryBytes, timeoutMs), when it had any. */
  limits?: { cpus?: number; memoryBytes?: number; timeoutMs?: number };
  error?: { code: string; message: string };
}

/** `<dataDirectory>/.docker-sim-manager/manifest.jsonl`. */
export function manifestPath(dataDirectory: string): string {
  return path.join(path.resolve(dataDirectory), '.docker-sim-manager', 'manifest.jsonl');
}

/**
 * The records of a run manifest, oldest first, streamed: a manifest of a million lines is never held in memory.
 * A line that is not a complete record (the last line of a run whose process was killed while writing it) is
 * skipped. Yields nothing when there is no manifest.
 *
 * @example
 * ```ts
 * for await (const record of manifestRecords(manifestPath('./out'))) {
 *   if (record.status === 'failed') console.log(record.job, record.error?.message);
 * }
 * ```
 */
export async function* manifestRecords(file: string): AsyncGenerator<ManifestRecord> {
  const input = createReadStream(file, { encoding: 'utf8', highWaterMark: 1024 * 1024 });
  const opened = new Promise<boolean>((resolve, reject) => {
    input.once('open', () => resolve(true));
    input.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? resolve(false) : reject(error)));
  });
  if (!(await opened)) return;
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (line.trim() === '') continue;
      let record: Partial<ManifestRecord>;
      try {
        record = JSON.parse(line) as Partial<ManifestRecord>;
      } catch {
        continue; // a torn last line: the job is treated as never recorded
      }
      if (record?.v === 1 && typeof record.job === 'string' && typeof record.status === 'string') yield record as ManifestRecord;
    }
  } finally {
    input.destroy();
  }
}

/**
 * Every job outcome of one run, from its manifest, as they ended: the way to go through all the results of a
 * sweep too big to keep in memory. Takes the run's summary (or its `manifestFile` and `runId`).
 *
 * @example
 * ```ts
 * const summary = await manager.startComputation();
 * for await (const record of readRunResults(summary)) {
 *   if (record.status === 'succeeded') console.log(record.job, record.durationMs, record.usage?.peakMemoryBytes);
 * }
 * ```
 */
export async function* readRunResults(run: { manifestFile: string; runId: string }): AsyncGenerator<ManifestRecord> {
  for await (const record of manifestRecords(run.manifestFile)) {
    if (record.runId === run.runId) yield record;
  }
}

/**
 * Every record of a run manifest, oldest first, in one array (see `manifestRecords` to stream a big one).
 * Resolves with [] when there is no manifest.
 *
 * @example
 * ```ts
 * const records = await readManifest(manifestPath('./out'));
 * console.log(records.filter((r) => r.status === 'failed').map((r) => r.job));
 * ```
 */
export async function readManifest(file: string): Promise<ManifestRecord[]> {
  const records: ManifestRecord[] = [];
  for await (const record of manifestRecords(file)) records.push(record);
  return records;
}

/** The newest record of each job. */
export function latestRecords(records: readonly ManifestRecord[]): Map<string, ManifestRecord> {
  const latest = new Map<string, ManifestRecord>();
  for (const record of records) latest.set(record.job, record);
  return latest;
}

/** A manifest record for a finished job. */
export function toRecord(
  runId: string,
  result: JobResult & { status: ManifestRecord['status'] },
  specHash: string,
  slot: number | null,
  parameters: Readonly<Record<string, string | number | boolean>> = {},
): ManifestRecord {
  return {
    v: 1,
    runId,
    job: result.name,
    specHash,
    status: result.status,
    exitCode: result.exitCode,
    attempts: result.attempts,
    imageId: result.imageId,
    imageDigest: result.imageDigest,
    startedAt: result.startedAt?.toISOString() ?? null,
    finishedAt: result.finishedAt.toISOString(),
    durationMs: result.durationMs,
    slot,
    engine: result.engine,
    outputDir: result.outputDir,
    ...(Object.keys(parameters).length > 0 ? { parameters: { ...parameters } } : {}),
    ...limitsOf(result),
    ...(Object.keys(result.usage).length > 0 ? { usage: { ...result.usage } } : {}),
    ...(result.error ? { error: { code: result.error.code, message: result.error.message } } : {}),
  };
}

/** The limits of a result's last attempt, as a record field (none when it had none). */
function limitsOf(result: JobResult): Pick<ManifestRecord, 'limits'> {
  const { attempt: _attempt, ...limits } = result.attemptLimits.at(-1) ?? { attempt: 0 };
  return Object.keys(limits).length > 0 ? { limits } : {};
}

/** Appends records to the manifest, one line and one write each, in order. */
export class ManifestWriter {
  private handle: Promise<FileHandle> | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  /** Resolves once the line is written (a process killed after that keeps it). */
  append(record: ManifestRecord): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    const write = this.queue.then(async () => {
      this.handle ??= this.open();
      await (await this.handle).write(line);
    });
    this.queue = write.catch(() => undefined);
    return write;
  }

  /**
   * Opens for appending. A file whose last line was torn (a process killed mid-write) first gets a newline,
   * so the next record starts a line of its own instead of being glued to the torn one.
   */
  private async open(): Promise<FileHandle> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const handle = await open(this.file, 'a+');
    const { size } = await handle.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) await handle.write('\n');
    }
    return handle;
  }

  async close(): Promise<void> {
    await this.queue;
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await (await handle).close();
  }
}
