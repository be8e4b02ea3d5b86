import path from 'node:path';
import type { DockerSimError } from '../errors/docker-sim-error.js';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import { parseCommand } from '../util/parse-command.js';
import { parseMemory } from '../util/parse-memory.js';

/**
 * A file to place in the container before it starts.
 * - `'./config.yaml'` or `{ source: './config.yaml' }`: a host file or folder, copied into `mountPath`.
 * - `{ source: './inputs', target: '/sim/inputs' }`: a host file or folder, copied to `target`.
 * - `{ content: 'seed=3\n', target: '/sim/config.txt', mode: 0o644 }`: in-memory content.
 */
export type TemplateSpec =
  | string
  | { source: string; target?: string }
  | { content: string | Uint8Array; target: string; mode?: number };

/** Settings a job has, and that the manager's `defaults` give every job. */
export interface JobSettings {
  /** Arguments appended to the image's entrypoint, as in `docker run IMAGE ARGS`. A string is split like a POSIX shell would. */
  command?: string | readonly string[];
  /** Files copied into the container (as tar streams) after it is created and before it starts. */
  templates?: readonly TemplateSpec[];
  /** Environment variables. The manager's defaults are merged with the job's (the job wins). */
  env?: Record<string, string>;
  workingDir?: string;
  /** `uid[:gid]` or a user name. Default on Linux with a local engine: the calling process's uid:gid. */
  user?: string;
  /** Extra container labels. The `docker-sim-manager.*` labels cannot be overridden. */
  labels?: Record<string, string>;
  /**
   * CPU limit in (fractional) cores, e.g. `1.5`; or a function of the attempt, e.g.
   * `({ attempt }) => attempt` to add a core on each retry.
   */
  cpus?: PerAttempt<number>;
  /**
   * Memory limit: bytes, or a size like `'512m'` or `'2g'`; or a function of the attempt, e.g.
   * `({ attempt }) => \`${2 * attempt}g\`` so that a job retried after an OOM kill (`retryOn: 'oom'`) gets more.
   */
  memory?: PerAttempt<number | string>;
  /** GPUs to request: `'all'` or a count. */
  gpus?: 'all' | number;
  /** Network mode, e.g. `'none'`. @default the engine's default network */
  network?: string;
  /** Overrides the image's entrypoint. A string is split like `command`. */
  entrypoint?: string | readonly string[];
  /** Extra container paths copied out after the job exits, into the job folder under their base names. */
  collect?: readonly string[];
  /**
   * How the job folder reaches the container: `'bind'` mounts the host folder; `'copy'` backs `mountPath` with
   * an anonymous volume and copies its contents out after exit (for remote engines); `'auto'` picks `bind` for
   * a local engine and `copy` for a remote one. @default 'auto'
   */
  outputMode?: OutputMode;
  /** Output (stdout + stderr) kept per job; the rest is dropped with one marker line. @default 1 GiB */
  maxLogBytes?: number;
  /** Bytes of outputs copied out of the container per job (copy mode and `collect`). @default 10 GiB */
  maxOutputBytes?: number;
  /** Files and folders copied out of the container per job. @default 100000 */
  maxOutputEntries?: number;
  /**
   * Wall-clock limit of one attempt, from its start; then SIGTERM, SIGKILL after `stopGracePeriodMs`, and
   * `JobTimeoutError`. Or a function of the attempt, e.g. `({ attempt }) => attempt * 60_000`.
   */
  timeoutMs?: PerAttempt<number>;
  /** Stop an attempt that wrote nothing to stdout or stderr for this long (`job:stalled`, then `JobStalledError`). */
  inactivityTimeoutMs?: number;
  /** How many times a failed attempt is retried, when `retryOn` says so. @default 0 */
  retries?: number;
  /** The wait before each retry: `initialDelayMs * factor^(retry - 1)`, at most `maxDelayMs`, spread by `jitter`. */
  backoff?: BackoffOptions;
  /**
   * Which failures are retried: any of `'exit-code'`, `'oom'`, `'timeout'`, `'stalled'`, `'engine-error'`, or a
   * function of the failure. @default ['engine-error']
   */
  retryOn?: RetryReason | readonly RetryReason[] | RetryPredicate;
  /** Mount the image's file system read-only (the mount path, templates' folders and `tmpfs` stay writable). */
  readOnlyRootfs?: boolean;
  /** Linux capabilities to drop, e.g. `['ALL']`. */
  capDrop?: readonly string[];
  /** Linux capabilities to add back, e.g. `['CHOWN']`. */
  capAdd?: readonly string[];
  /** Forbid gaining privileges through setuid binaries (`no-new-privileges`). */
  noNewPrivileges?: boolean;
  /** The most processes and threads the container may have. */
  pidsLimit?: number;
  /** Run an init process (tini) as PID 1 that forwards signals to the simulation and reaps zombies. */
  init?: boolean;
  /** Container paths backed by a private, writable in-memory file system, e.g. `['/tmp']`. */
  tmpfs?: readonly string[];
  /**
   * `'strict'`: read-only root file system with a writable `/tmp`, all capabilities dropped, no-new-privileges,
   * at most 1024 processes and no network. Options set explicitly win over the preset. @default 'default'
   */
  security?: 'default' | 'strict';
}

/** The wait before retries. */
export interface BackoffOptions {
  /** @default 1000 */
  initialDelayMs?: number;
  /** @default 2 */
  factor?: number;
  /** @default 60000 */
  maxDelayMs?: number;
  /** Spread each delay by up to this fraction either way (0 to 1), so retries do not arrive together. @default 0.2 */
  jitter?: number;
}

/** Kinds of failure `retryOn` can name. */
export type RetryReason = 'exit-code' | 'oom' | 'timeout' | 'stalled' | 'engine-error';

/** A failed attempt, as `retryOn` functions see it. */
export interface AttemptFailure {
  /** What went wrong (`JobExitError`, `JobTimeoutError`, `JobStalledError`, `EngineError`...). */
  error: DockerSimError;
  /** Its kind, or undefined for failures no reason covers (for instance a template that cannot be read). */
  reason: RetryReason | undefined;
  /** The attempt that failed, from 1. */
  attempt: number;
  exitCode: number | null;
}

/** Decides whether a failed attempt is retried (within `retries`). */
export type RetryPredicate = (failure: AttemptFailure) => boolean;

/** What a limit given as a function is called with: the attempt about to run (1 for the first) and why the previous one failed. */
export interface AttemptInfo {
  attempt: number;
  previousError: DockerSimError | undefined;
}

/** A value, or a function of the attempt that gives it (evaluated before each attempt). */
export type PerAttempt<T> = T | ((info: AttemptInfo) => T);

/** The limits one attempt runs with. */
export interface AttemptLimits {
  nanoCpus?: number;
  memoryBytes?: number;
  timeoutMs?: number;
}

/** How a job's output folder reaches its container. */
export type OutputMode = 'auto' | 'bind' | 'copy';

/** A template after validation: absolute host paths, content as bytes. */
export type NormalizedTemplate =
  | { kind: 'path'; source: string; target?: string }
  | { kind: 'content'; content: Buffer; target: string; mode: number };

/** JobSettings after validation. */
export interface NormalizedSettings {
  argv?: string[];
  templates?: NormalizedTemplate[];
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
  /** The first attempt's limits: cpus, memory and timeoutMs as given, or as their functions give them for attempt 1. */
  nanoCpus?: number;
  memoryBytes?: number;
  /** The functions of `cpus`, `memory` and `timeoutMs` given per attempt (see `limitsForAttempt`). */
  perAttempt?: { cpus?: (info: AttemptInfo) => number; memory?: (info: AttemptInfo) => number | string; timeoutMs?: (info: AttemptInfo) => number; field: string };
  gpus?: 'all' | number;
  network?: string;
  entrypoint?: string[];
  collect?: string[];
  outputMode?: OutputMode;
  maxLogBytes?: number;
  maxOutputBytes?: number;
  maxOutputEntries?: number;
  timeoutMs?: number;
  inactivityTimeoutMs?: number;
  retries?: number;
  backoff?: Required<BackoffOptions>;
  retryOn?: readonly RetryReason[] | RetryPredicate;
  readOnlyRootfs?: boolean;
  capDrop?: string[];
  capAdd?: string[];
  noNewPrivileges?: boolean;
  pidsLimit?: number;
  init?: boolean;
  tmpfs?: string[];
  security?: 'default' | 'strict';
}

const SETTING_KEYS: ReadonlySet<string> = new Set([
  'command',
  'templates',
  'env',
  'workingDir',
  'user',
  'labels',
  'cpus',
  'memory',
  'gpus',
  'network',
  'entrypoint',
  'collect',
  'outputMode',
  'maxLogBytes',
  'maxOutputBytes',
  'maxOutputEntries',
  'timeoutMs',
  'inactivityTimeoutMs',
  'retries',
  'backoff',
  'retryOn',
  'readOnlyRootfs',
  'capDrop',
  'capAdd',
  'noNewPrivileges',
  'pidsLimit',
  'init',
  'tmpfs',
  'security',
]);
const OUTPUT_MODES: readonly OutputMode[] = ['auto', 'bind', 'copy'];
export const RETRY_REASONS: readonly RetryReason[] = ['exit-code', 'oom', 'timeout', 'stalled', 'engine-error'];
const BACKOFF_DEFAULTS: Required<BackoffOptions> = { initialDelayMs: 1000, factor: 2, maxDelayMs: 60_000, jitter: 0.2 };
const CAPABILITY = /^(ALL|(CAP_)?[A-Z][A-Z_]*)$/;

function nanoCpusOf(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(field, value, 'a number of cores > 0, like 0.5 or 2');
  return Math.round(value * 1e9);
}

/** A setting's value for an attempt: the value, or what its function returns (a throw is a ValidationError naming the field). */
function evaluate(value: unknown, info: AttemptInfo, field: string): unknown {
  if (typeof value !== 'function') return value;
  try {
    return (value as (info: AttemptInfo) => unknown)(info);
  } catch (error) {
    throw new ValidationError(field, value, `The function given as \`${field}\` threw for attempt ${info.attempt}: ${(error as Error)?.message ?? describeValue(error)}`, { cause: error });
  }
}

/**
 * The limits an attempt runs with: the first attempt's as normalized, later ones from the functions given for
 * `cpus`, `memory` and `timeoutMs` (validated like the values; a bad one is a `ValidationError` naming the field
 * and the attempt).
 */
export function limitsForAttempt(settings: NormalizedSettings, info: AttemptInfo): AttemptLimits {
  const limits: AttemptLimits = {
    ...(settings.nanoCpus === undefined ? {} : { nanoCpus: settings.nanoCpus }),
    ...(settings.memoryBytes === undefined ? {} : { memoryBytes: settings.memoryBytes }),
    ...(settings.timeoutMs === undefined ? {} : { timeoutMs: settings.timeoutMs }),
  };
  const functions = settings.perAttempt;
  if (!functions || info.attempt === 1) return limits;
  const field = (key: string): string => `${functions.field}${key} (attempt ${info.attempt})`;
  if (functions.cpus) limits.nanoCpus = nanoCpusOf(evaluate(functions.cpus, info, field('cpus')), field('cpus'));
  if (functions.memory) limits.memoryBytes = parseMemory(evaluate(functions.memory, info, field('memory')) as string, field('memory'));
  if (functions.timeoutMs) limits.timeoutMs = duration(evaluate(functions.timeoutMs, info, field('timeoutMs')), field('timeoutMs'), 1);
  return limits;
}

function duration(value: unknown, field: string, minimum: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum) {
    fail(field, value, `a number of milliseconds >= ${minimum}`);
  }
  return value;
}

function normalizeBackoff(value: unknown, field: string): Required<BackoffOptions> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, value, 'an object like { initialDelayMs: 1000, factor: 2 }');
  const b = value as Record<string, unknown>;
  const unknown = Object.keys(b).find((key) => !Object.hasOwn(BACKOFF_DEFAULTS, key));
  if (unknown !== undefined) throw new ValidationError(`${field}.${unknown}`, b[unknown], `Unknown backoff option \`${unknown}\`; use initialDelayMs, factor, maxDelayMs or jitter.`);
  const out = { ...BACKOFF_DEFAULTS };
  if (b.initialDelayMs !== undefined) out.initialDelayMs = duration(b.initialDelayMs, `${field}.initialDelayMs`, 0);
  if (b.maxDelayMs !== undefined) out.maxDelayMs = duration(b.maxDelayMs, `${field}.maxDelayMs`, 0);
  if (b.factor !== undefined && (typeof b.factor !== 'number' || !Number.isFinite(b.factor) || b.factor < 1)) fail(`${field}.factor`, b.factor, 'a number >= 1');
  if (b.factor !== undefined) out.factor = b.factor as number;
  if (b.jitter !== undefined && (typeof b.jitter !== 'number' || !(b.jitter >= 0 && b.jitter <= 1))) fail(`${field}.jitter`, b.jitter, 'a fraction from 0 to 1');
  if (b.jitter !== undefined) out.jitter = b.jitter as number;
  return out;
}

function normalizeRetryOn(value: unknown, field: string): readonly RetryReason[] | RetryPredicate {
  if (typeof value === 'function') return value as RetryPredicate;
  const list = Array.isArray(value) ? value : [value];
  list.forEach((reason: unknown, i) => {
    if (!RETRY_REASONS.includes(reason as RetryReason)) {
      fail(Array.isArray(value) ? `${field}[${i}]` : field, reason, `one of ${RETRY_REASONS.map((r) => `'${r}'`).join(', ')}, or a function`);
    }
  });
  return [...new Set(list as RetryReason[])];
}

function capabilities(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) fail(field, value, "an array of capability names like ['ALL'] or ['NET_RAW']");
  return value.map((cap: unknown, i) => {
    if (typeof cap !== 'string' || !CAPABILITY.test(cap.toUpperCase())) fail(`${field}[${i}]`, cap, "a capability name like 'ALL' or 'NET_RAW'");
    return cap.toUpperCase();
  });
}

function fail(field: string, value: unknown, expectation: string): never {
  throw new ValidationError(field, value, `Expected \`${field}\` to be ${expectation}, got ${describeValue(value)}.`);
}

function stringRecord(value: unknown, field: string, kind: 'env' | 'labels'): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, value, 'an object of strings');
  const out: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (kind === 'env' && (key === '' || key.includes('=') || key.includes('\0'))) {
      throw new ValidationError(`${field}.${key}`, key, `Environment variable names must be non-empty and contain no '=', got ${describeValue(key)}.`);
    }
    if (typeof entry !== 'string') fail(`${field}.${key}`, entry, 'a string (convert numbers with String())');
    out[key] = entry;
  }
  return out;
}

function normalizeTemplate(template: unknown, field: string): NormalizedTemplate {
  if (typeof template === 'string') {
    if (template === '') fail(field, template, 'a non-empty path');
    return { kind: 'path', source: path.resolve(template) };
  }
  if (typeof template !== 'object' || template === null) fail(field, template, 'a path, { source, target? } or { content, target, mode? }');
  const t = template as Record<string, unknown>;
  if (t.target !== undefined && (typeof t.target !== 'string' || !t.target.startsWith('/'))) {
    fail(`${field}.target`, t.target, 'an absolute path inside the container');
  }
  if ('content' in t) {
    if (typeof t.target !== 'string') fail(`${field}.target`, t.target, 'an absolute path inside the container (required with content)');
    if (typeof t.content !== 'string' && !(t.content instanceof Uint8Array)) fail(`${field}.content`, t.content, 'a string or bytes');
    const mode = t.mode ?? 0o644;
    if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) fail(`${field}.mode`, mode, 'a file mode like 0o644');
    return { kind: 'content', content: Buffer.from(t.content), target: path.posix.normalize(t.target), mode };
  }
  if (typeof t.source !== 'string' || t.source === '') fail(`${field}.source`, t.source, 'a host path');
  return {
    kind: 'path',
    source: path.resolve(t.source),
    ...(typeof t.target === 'string' ? { target: path.posix.normalize(t.target) } : {}),
  };
}

/** Validates job settings (of a job, or of the manager's `defaults`); `prefix` names where they came from. */
export function normalizeSettings(settings: JobSettings, prefix: string): NormalizedSettings {
  if (typeof settings !== 'object' || settings === null) fail(prefix, settings, 'an object');
  const out: NormalizedSettings = {};
  const s = settings as Record<string, unknown>;
  if (s.command !== undefined) out.argv = parseCommand(s.command as string, `${prefix}command`);
  if (s.templates !== undefined) {
    if (!Array.isArray(s.templates)) fail(`${prefix}templates`, s.templates, 'an array');
    out.templates = s.templates.map((t, i) => normalizeTemplate(t, `${prefix}templates[${i}]`));
  }
  if (s.env !== undefined) out.env = stringRecord(s.env, `${prefix}env`, 'env');
  if (s.labels !== undefined) out.labels = stringRecord(s.labels, `${prefix}labels`, 'labels');
  for (const key of ['workingDir', 'user', 'network'] as const) {
    const value = s[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') fail(`${prefix}${key}`, value, 'a non-empty string');
    if (key === 'workingDir' && !value.startsWith('/')) fail(`${prefix}${key}`, value, 'an absolute path inside the container');
    out[key] = value;
  }
  for (const key of ['cpus', 'memory', 'timeoutMs'] as const) {
    if (typeof s[key] !== 'function') continue;
    out.perAttempt = { ...out.perAttempt, field: prefix, [key]: s[key] };
  }
  const first: AttemptInfo = { attempt: 1, previousError: undefined };
  if (s.cpus !== undefined) out.nanoCpus = nanoCpusOf(evaluate(s.cpus, first, `${prefix}cpus`), `${prefix}cpus`);
  if (s.memory !== undefined) out.memoryBytes = parseMemory(evaluate(s.memory, first, `${prefix}memory`) as string, `${prefix}memory`);
  if (s.gpus !== undefined) {
    if (s.gpus !== 'all' && !(typeof s.gpus === 'number' && Number.isInteger(s.gpus) && s.gpus >= 1)) {
      fail(`${prefix}gpus`, s.gpus, "'all' or a whole number >= 1");
    }
    out.gpus = s.gpus;
  }
  if (s.entrypoint !== undefined) out.entrypoint = parseCommand(s.entrypoint as string, `${prefix}entrypoint`);
  if (s.collect !== undefined) {
    if (!Array.isArray(s.collect)) fail(`${prefix}collect`, s.collect, 'an array of absolute container paths');
    out.collect = s.collect.map((entry: unknown, i) => {
      if (typeof entry !== 'string' || !entry.startsWith('/') || path.posix.normalize(entry) === '/') {
        fail(`${prefix}collect[${i}]`, entry, "an absolute container path other than '/'");
      }
      return path.posix.normalize(entry).replace(/\/$/, '');
    });
  }
  if (s.outputMode !== undefined) {
    if (!OUTPUT_MODES.includes(s.outputMode as OutputMode)) fail(`${prefix}outputMode`, s.outputMode, "'auto', 'bind' or 'copy'");
    out.outputMode = s.outputMode as OutputMode;
  }
  for (const key of ['maxLogBytes', 'maxOutputBytes', 'maxOutputEntries'] as const) {
    const value = s[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) fail(`${prefix}${key}`, value, 'a whole number >= 1');
    out[key] = value;
  }
  if (s.timeoutMs !== undefined) out.timeoutMs = duration(evaluate(s.timeoutMs, first, `${prefix}timeoutMs`), `${prefix}timeoutMs`, 1);
  if (s.inactivityTimeoutMs !== undefined) out.inactivityTimeoutMs = duration(s.inactivityTimeoutMs, `${prefix}inactivityTimeoutMs`, 1);
  if (s.retries !== undefined) {
    if (typeof s.retries !== 'number' || !Number.isInteger(s.retries) || s.retries < 0 || s.retries > 100) fail(`${prefix}retries`, s.retries, 'a whole number from 0 to 100');
    out.retries = s.retries;
  }
  if (s.backoff !== undefined) out.backoff = normalizeBackoff(s.backoff, `${prefix}backoff`);
  if (s.retryOn !== undefined) out.retryOn = normalizeRetryOn(s.retryOn, `${prefix}retryOn`);
  for (const key of ['readOnlyRootfs', 'noNewPrivileges', 'init'] as const) {
    const value = s[key];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') fail(`${prefix}${key}`, value, 'true or false');
    out[key] = value;
  }
  if (s.capDrop !== undefined) out.capDrop = capabilities(s.capDrop, `${prefix}capDrop`);
  if (s.capAdd !== undefined) out.capAdd = capabilities(s.capAdd, `${prefix}capAdd`);
  if (s.pidsLimit !== undefined) {
    if (typeof s.pidsLimit !== 'number' || !Number.isSafeInteger(s.pidsLimit) || s.pidsLimit < 1) fail(`${prefix}pidsLimit`, s.pidsLimit, 'a whole number >= 1');
    out.pidsLimit = s.pidsLimit;
  }
  if (s.tmpfs !== undefined) {
    if (!Array.isArray(s.tmpfs)) fail(`${prefix}tmpfs`, s.tmpfs, "an array of absolute container paths like ['/tmp']");
    out.tmpfs = s.tmpfs.map((entry: unknown, i) => {
      if (typeof entry !== 'string' || !entry.startsWith('/') || path.posix.normalize(entry) === '/' || entry.includes(':')) {
        fail(`${prefix}tmpfs[${i}]`, entry, "an absolute container path other than '/', like '/tmp'");
      }
      return path.posix.normalize(entry).replace(/\/$/, '');
    });
  }
  if (s.security !== undefined) {
    if (s.security !== 'default' && s.security !== 'strict') fail(`${prefix}security`, s.security, "'default' or 'strict'");
    out.security = s.security;
  }
  return out;
}

/** The `security: 'strict'` preset; options set explicitly win over it. */
const STRICT: NormalizedSettings = {
  readOnlyRootfs: true,
  tmpfs: ['/tmp'],
  capDrop: ['ALL'],
  noNewPrivileges: true,
  pidsLimit: 1024,
  network: 'none',
};

/** Applies the `security` preset under the settings given explicitly. */
export function applySecurityPreset(settings: NormalizedSettings): NormalizedSettings {
  if (settings.security !== 'strict') return settings;
  const tmpfs = [...new Set([...(STRICT.tmpfs ?? []), ...(settings.tmpfs ?? [])])];
  return { ...STRICT, ...settings, tmpfs };
}

/** Settings keys, for spotting misspelled options. */
/** The names of the job settings (for suggestions when one is misspelt). */
export const JOB_SETTING_KEYS = SETTING_KEYS;

export function unknownKeys(options: object, allowed: ReadonlySet<string>): string[] {
  return Object.keys(options).filter((key) => !allowed.has(key) && !SETTING_KEYS.has(key));
}

/** Merges the manager's defaults under a job's own settings. */
export function mergeSettings(defaults: NormalizedSettings, own: NormalizedSettings): NormalizedSettings {
  const merged: NormalizedSettings = { ...defaults, ...own };
  if (defaults.env || own.env) merged.env = { ...defaults.env, ...own.env };
  if (defaults.labels || own.labels) merged.labels = { ...defaults.labels, ...own.labels };
  if (defaults.templates || own.templates) merged.templates = [...(defaults.templates ?? []), ...(own.templates ?? [])];
  if (defaults.collect || own.collect) merged.collect = [...new Set([...(defaults.collect ?? []), ...(own.collect ?? [])])];
  if (defaults.tmpfs || own.tmpfs) merged.tmpfs = [...new Set([...(defaults.tmpfs ?? []), ...(own.tmpfs ?? [])])];
  if (defaults.perAttempt) {
    // A job's own cpus, memory or timeoutMs (a value or a function) replaces the default's function.
    const inherited = { ...defaults.perAttempt };
    if (own.nanoCpus !== undefined) delete inherited.cpus;
    if (own.memoryBytes !== undefined) delete inherited.memory;
    if (own.timeoutMs !== undefined) delete inherited.timeoutMs;
    merged.perAttempt = { ...inherited, ...own.perAttempt, field: own.perAttempt?.field ?? defaults.perAttempt.field };
  }
  return merged;
}
