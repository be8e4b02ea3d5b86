import path from 'node:path';
import type { ManifestRecord } from '../manifest/run-manifest.js';
import { Interner } from './interner.js';
import { canonicalTime, isoTime } from './iso-time.js';

/** A parameter's value as the manifest holds it. */
export type ParameterValue = string | number | boolean;

/**
 * The longest error message kept. The package's own messages (a summary plus at most ten stderr lines of 300
 * characters) fit whole; anything longer is cut with an ellipsis.
 */
export const MAX_MESSAGE_CHARS = 4_000;
/** Once this many characters of distinct messages are kept, further messages are cut to `SHORT_MESSAGE_CHARS`. */
const MESSAGE_BUDGET_CHARS = 32_000_000;
const SHORT_MESSAGE_CHARS = 300;

const STATUSES: ReadonlyArray<ManifestRecord['status']> = ['succeeded', 'failed', 'cancelled'];
/** Status indexes of the three statuses the package writes (any other string gets the next index). */
export const SUCCEEDED = 0;
export const FAILED = 1;
export const CANCELLED = 2;

const SPEC_HASH = /^sha256:[0-9a-f]{64}$/;
const HASH_BYTES = 32;

/** `sha256:<hex>` spec hashes as 32 bytes each (instead of a 71-character string); other hashes as given. */
class PackedHashes {
  private bytes = Buffer.alloc(HASH_BYTES * 1024);
  private readonly others = new Map<number, string>();

  set(index: number, hash: unknown): void {
    if (typeof hash === 'string' && SPEC_HASH.test(hash)) {
      const needed = (index + 1) * HASH_BYTES;
      if (needed > this.bytes.length) {
        const grown = Buffer.alloc(Math.max(needed, this.bytes.length * 2));
        this.bytes.copy(grown);
        this.bytes = grown;
      }
      this.bytes.write(hash.slice(7), index * HASH_BYTES, HASH_BYTES, 'hex');
      this.others.delete(index);
    } else {
      this.others.set(index, hash === undefined || hash === null ? '' : String(hash));
    }
  }

  get(index: number): string {
    return this.others.get(index) ?? `sha256:${this.bytes.toString('hex', index * HASH_BYTES, (index + 1) * HASH_BYTES)}`;
  }
}

/** A field as text, the way trace.csv has always written it (absent: empty). */
const text = (value: unknown): string => (value === null || value === undefined ? '' : String(value));
const numberOr = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : Number.NaN);

/** A message as kept: whole up to `limit` characters, else cut (never inside a surrogate pair) with an ellipsis. */
function clip(message: string, limit: number): string {
  if (message.length <= limit) return message;
  const end = /[\uD800-\uDBFF]/.test(message.charAt(limit - 2)) ? limit - 2 : limit - 1;
  // A copy, not a slice: V8 would keep the whole message alive behind a slice.
  return Buffer.from(`${message.slice(0, end)}…`, 'utf16le').toString('utf16le');
}

/** Growable columns: typed arrays (never scanned by the garbage collector), one slot per job, grown together. */
export interface ReportColumns {
  /** Ids into `statuses`. */
  status: Int32Array;
  /** Ids into `runs`. */
  run: Int32Array;
  exitCode: Float64Array;
  attempts: Float64Array;
  durationMs: Float64Array;
  /** Epoch ms; `NaN` when the job never started. */
  startedMs: Float64Array;
  finishedMs: Float64Array;
  slot: Float64Array;
  /** Ids into `engines`, -1: none. */
  engine: Int32Array;
  cpuMs: Float64Array;
  peakMemoryBytes: Float64Array;
  memoryLimitBytes: Float64Array;
  cpusLimit: Float64Array;
  /** Ids into `images`, -1: none. */
  imageId: Int32Array;
  imageDigest: Int32Array;
  /** Ids into `errorCodes` and `messages`, -1: none. */
  errorCode: Int32Array;
  errorMessage: Int32Array;
  /** Ids of each job's parameter names in their order (for trace.csv's column order). */
  signature: Int32Array;
}

const INT_COLUMNS = ['status', 'run', 'engine', 'imageId', 'imageDigest', 'errorCode', 'errorMessage', 'signature'] as const;
const FLOAT_COLUMNS = ['exitCode', 'attempts', 'durationMs', 'startedMs', 'finishedMs', 'slot', 'cpuMs', 'peakMemoryBytes', 'memoryLimitBytes', 'cpusLimit'] as const;
const INITIAL_CAPACITY = 1024;

function newColumns(capacity: number): ReportColumns {
  const columns: Partial<Record<keyof ReportColumns, Int32Array | Float64Array>> = {};
  for (const name of INT_COLUMNS) columns[name] = new Int32Array(capacity);
  for (const name of FLOAT_COLUMNS) columns[name] = new Float64Array(capacity);
  return columns as ReportColumns;
}

/** Absent, a number, a string (an id into the parameter strings), a boolean (0 or 1). */
const ABSENT = 0;
const NUMBER = 1;
const STRING = 2;
const BOOLEAN = 3;

/** One parameter's values: a kind and a number per job (9 bytes), strings interned once. */
class ParameterColumn {
  kind: Uint8Array;
  value: Float64Array;

  constructor(capacity: number) {
    this.kind = new Uint8Array(capacity);
    this.value = new Float64Array(capacity);
  }

  grow(capacity: number): void {
    const kind = new Uint8Array(capacity);
    kind.set(this.kind);
    this.kind = kind;
    const value = new Float64Array(capacity);
    value.set(this.value);
    this.value = value;
  }
}

/**
 * The newest record of each job of a run manifest in a compact, column-oriented form: one typed array per
 * field, repeated strings (run ids, images, engines, error codes and messages, parameter values) interned once,
 * spec hashes as bytes, in the order the jobs first appear in the manifest. It holds what the report and
 * trace.csv need in about 250 bytes per job (a parsed record takes a kilobyte or two), so a manifest of a million
 * records is read without holding its records.
 *
 * Absent numbers are `NaN`; absent interned ids are `-1`. Columns have room for more jobs than `jobCount`: read
 * indexes below it.
 */
export class ReportData {
  /** Job names, in the order the jobs first appear. */
  readonly names: string[] = [];
  /** Status names; ids 0, 1, 2 are succeeded, failed, cancelled. */
  readonly statuses = new Interner(STATUSES);
  readonly runs = new Interner();
  readonly engines = new Interner();
  readonly images = new Interner();
  readonly errorCodes = new Interner();
  /** Error messages, clipped (see `MAX_MESSAGE_CHARS`). */
  readonly messages = new Interner();
  /** Every parameter name seen, first seen first. */
  readonly parameterNames: string[] = [];

  private cols = newColumns(INITIAL_CAPACITY);
  private capacity = INITIAL_CAPACITY;
  private readonly parameterColumns: ParameterColumn[] = [];
  private readonly parameterStrings = new Interner();
  private readonly indexOf = new Map<string, number>();
  private readonly parameterIndex = new Map<string, number>();
  private readonly signatures = new Interner();
  private readonly hashes = new PackedHashes();
  /** startedAt / finishedAt text that `toISOString()` of its time would not give back, kept verbatim. */
  private readonly startedText = new Map<number, string>();
  private readonly finishedText = new Map<number, string>();
  /** Output folders other than `<base>/job_<name>`, relative to the base and `/`-separated (null: none recorded). */
  private readonly folders = new Map<number, string | null>();
  private messageChars = 0;
  private lastParameters: { names: readonly string[]; ids: number[]; signature: number } | undefined;

  /** `baseDirectory`: what output folders are relative to (default: each folder's parent). */
  constructor(private readonly baseDirectory?: string) {}

  /** The newest record of each job of `records`. */
  static from(records: Iterable<ManifestRecord>, baseDirectory?: string): ReportData {
    const data = new ReportData(baseDirectory);
    for (const record of records) data.add(record);
    return data;
  }

  get jobCount(): number {
    return this.names.length;
  }

  /** The columns, each with a slot per job (and room for more). */
  get columns(): Readonly<ReportColumns> {
    return this.cols;
  }

  /** Adds a record; a job already seen keeps its place and takes the newer record's values. */
  add(record: ManifestRecord): void {
    let i = this.indexOf.get(record.job);
    if (i === undefined) {
      i = this.names.length;
      if (i === this.capacity) this.grow();
      this.indexOf.set(record.job, i);
      this.names.push(record.job);
    }
    const c = this.cols;
    c.status[i] = this.statuses.id(String(record.status));
    c.run[i] = this.runs.id(text(record.runId));
    c.exitCode[i] = numberOr(record.exitCode);
    c.attempts[i] = numberOr(record.attempts);
    c.durationMs[i] = numberOr(record.durationMs);
    c.startedMs[i] = this.time(this.startedText, i, record.startedAt);
    c.finishedMs[i] = this.time(this.finishedText, i, record.finishedAt);
    c.slot[i] = numberOr(record.slot);
    c.engine[i] = typeof record.engine === 'string' ? this.engines.id(record.engine) : -1;
    c.cpuMs[i] = numberOr(record.usage?.cpuMs);
    c.peakMemoryBytes[i] = numberOr(record.usage?.peakMemoryBytes);
    c.memoryLimitBytes[i] = numberOr(record.limits?.memoryBytes);
    c.cpusLimit[i] = numberOr(record.limits?.cpus);
    c.imageId[i] = this.images.id(text(record.imageId));
    c.imageDigest[i] = typeof record.imageDigest === 'string' ? this.images.id(record.imageDigest) : -1;
    c.errorCode[i] = record.error?.code === undefined ? -1 : this.errorCodes.id(String(record.error.code));
    c.errorMessage[i] = record.error?.message === undefined ? -1 : this.message(String(record.error.message));
    this.hashes.set(i, record.specHash);
    this.setFolder(i, record.job, record.outputDir);
    this.setParameters(i, record.parameters);
  }

  /** The record's `specHash`. */
  specHash(i: number): string {
    return this.hashes.get(i);
  }

  /** The record's `startedAt`, exactly as written. */
  startedAt(i: number): string | null {
    const ms = this.cols.startedMs[i] ?? Number.NaN;
    return this.startedText.get(i) ?? (Number.isNaN(ms) ? null : isoTime(ms));
  }

  /** The record's `finishedAt`, exactly as written. */
  finishedAt(i: number): string {
    const ms = this.cols.finishedMs[i] ?? Number.NaN;
    return this.finishedText.get(i) ?? (Number.isNaN(ms) ? '' : isoTime(ms));
  }

  /** The value of parameter `k` (an index into `parameterNames`) for job `i`. */
  parameter(k: number, i: number): ParameterValue | undefined {
    const column = this.parameterColumns[k];
    if (!column) return undefined;
    const value = column.value[i] ?? Number.NaN;
    switch (column.kind[i]) {
      case NUMBER:
        return value;
      case STRING:
        return this.parameterStrings.values[value];
      case BOOLEAN:
        return value === 1;
      default:
        return undefined;
    }
  }

  /** Output folders that are not `job_<name>` (the only ones the page needs to be told about). */
  unusualFolders(): ReadonlyMap<number, string | null> {
    return this.folders;
  }

  /**
   * Indexes into `parameterNames` of the parameters of the newest records, in the order trace.csv has always
   * listed them: the jobs in order, each job's names in its record's order.
   */
  reportedParameters(): number[] {
    const seenSignatures = new Set<number>();
    const names = new Set<number>();
    for (let i = 0; i < this.jobCount; i++) {
      const id = this.cols.signature[i] ?? 0;
      if (seenSignatures.has(id)) continue;
      seenSignatures.add(id);
      for (const k of (this.signatures.values[id] ?? '').split('\0')) if (k !== '') names.add(Number(k));
    }
    return [...names];
  }

  private grow(): void {
    const capacity = Math.ceil(this.capacity * 1.5);
    const grown = newColumns(capacity);
    for (const name of INT_COLUMNS) grown[name].set(this.cols[name]);
    for (const name of FLOAT_COLUMNS) grown[name].set(this.cols[name]);
    this.cols = grown;
    for (const column of this.parameterColumns) column.grow(capacity);
    this.capacity = capacity;
  }

  /** Parses an ISO time; keeps the text when converting back would not give it exactly. */
  private time(texts: Map<number, string>, i: number, value: unknown): number {
    if (typeof value !== 'string') {
      texts.delete(i);
      return Number.NaN;
    }
    const canonical = canonicalTime(value);
    if (!Number.isNaN(canonical)) {
      texts.delete(i);
      return canonical;
    }
    const ms = Date.parse(value);
    if (!Number.isNaN(ms) && new Date(ms).toISOString() === value) texts.delete(i);
    else texts.set(i, value);
    return ms;
  }

  private message(message: string): number {
    const clipped = clip(message, this.messageChars > MESSAGE_BUDGET_CHARS ? SHORT_MESSAGE_CHARS : MAX_MESSAGE_CHARS);
    const count = this.messages.values.length;
    const id = this.messages.id(clipped);
    if (id === count) this.messageChars += clipped.length;
    return id;
  }

  private setFolder(i: number, job: string, outputDir: unknown): void {
    if (typeof outputDir !== 'string') {
      this.folders.set(i, null);
      return;
    }
    const usual = `job_${job}`;
    // The usual case without path arithmetic: the folder is <base>/job_<name>.
    const isUsual =
      this.baseDirectory === undefined
        ? outputDir.endsWith(usual) && outputDir.at(-usual.length - 1) === path.sep
        : outputDir.length === this.baseDirectory.length + usual.length + 1 && outputDir.startsWith(this.baseDirectory) && outputDir.endsWith(usual) && outputDir[this.baseDirectory.length] === path.sep;
    if (isUsual) {
      this.folders.delete(i);
      return;
    }
    const relative = path.relative(this.baseDirectory ?? path.dirname(outputDir), outputDir).split(path.sep).join('/');
    if (relative === usual) this.folders.delete(i);
    else this.folders.set(i, relative);
  }

  private setParameters(i: number, parameters: ManifestRecord['parameters']): void {
    const names = parameters !== null && typeof parameters === 'object' ? Object.keys(parameters) : [];
    // Consecutive records mostly name the same parameters in the same order: reuse the previous lookup.
    const last = this.lastParameters;
    const isSame = last !== undefined && last.names.length === names.length && names.every((name, n) => name === last.names[n]);
    const known = isSame ? last : this.lookUpParameters(names);
    this.lastParameters = known;
    if (known.ids.length < this.parameterColumns.length) for (const column of this.parameterColumns) column.kind[i] = ABSENT;
    const values = parameters as Record<string, unknown>;
    known.ids.forEach((k, n) => {
      const column = this.parameterColumns[k];
      if (!column) return;
      const value = values[names[n] ?? ''];
      if (typeof value === 'number') {
        column.kind[i] = NUMBER;
        column.value[i] = value;
      } else if (typeof value === 'boolean') {
        column.kind[i] = BOOLEAN;
        column.value[i] = value ? 1 : 0;
      } else if (value === undefined || value === null) {
        column.kind[i] = ABSENT;
      } else {
        column.kind[i] = STRING;
        column.value[i] = this.parameterStrings.id(String(value));
      }
    });
    this.cols.signature[i] = known.signature;
  }

  private lookUpParameters(names: readonly string[]): { names: readonly string[]; ids: number[]; signature: number } {
    const ids = names.map((name) => {
      let k = this.parameterIndex.get(name);
      if (k === undefined) {
        k = this.parameterNames.length;
        this.parameterIndex.set(name, k);
        this.parameterNames.push(name);
        this.parameterColumns.push(new ParameterColumn(this.capacity));
      }
      return k;
    });
    return { names, ids, signature: this.signatures.id(ids.join('\0')) };
  }
}
