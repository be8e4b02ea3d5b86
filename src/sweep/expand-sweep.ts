import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { closestName } from '../util/closest-name.js';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import { isDockerSimError } from '../errors/docker-sim-error.js';
import { SimJob, type SimJobOptions } from '../job/sim-job.js';
import type { JobSettings, PerAttempt, TemplateSpec } from '../job/job-settings.js';
import { parseMemory } from '../util/parse-memory.js';
import { parseCommand } from '../util/parse-command.js';
import type { DockerSimManagerOptions } from '../manager/docker-sim-manager-options.js';
import type { RegistryAuthenticator } from '../auth/registry-authenticator.js';
import { DockerConfigAuthenticator } from '../auth/docker-config-authenticator.js';
import { GhcrAuthenticator } from '../auth/ghcr-authenticator.js';
import { DockerHubAuthenticator } from '../auth/docker-hub-authenticator.js';
import { CustomRegistryAuthenticator } from '../auth/custom-registry-authenticator.js';
import { NameSet } from '../util/name-set.js';
import { durationMs, sweepKeysAt, sweepSchema, type SweepSpec } from './sweep-schema.js';
import { parameterRows, type ParameterAxis, type ParameterRow, type ParameterRows } from './parameter-rows.js';

// The public API imports the rows from here, with the rest of the sweep functions.
export { parameterRows, type ParameterAxis, type ParameterRow, type ParameterRows };

/** Where relative paths of a sweep are resolved: the folder of the sweep file. */
export interface SweepContext {
  /** @default process.cwd() */
  baseDir?: string;
}

/** `parameters.grid.seed[2]` from a schema issue's path. */
function fieldOf(pathParts: ReadonlyArray<PropertyKey>): string {
  return pathParts.reduce<string>((field, part) => (typeof part === 'number' ? `${field}[${part}]` : field ? `${field}.${String(part)}` : String(part)), '');
}

/** ` (did you mean 'maxWorkers'?)` for a misspelt key, or the library's name of a sweep key. */
function suggestKey(key: string, valid: readonly string[]): string {
  const nearest = closestName(key, valid);
  return nearest === undefined ? '' : ` (did you mean '${nearest}'?)`;
}

function schemaError(issues: readonly z.core.$ZodIssue[], value: unknown): ValidationError {
  const lines = issues.map((issue) => {
    const message =
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => `unknown key '${key}'${suggestKey(key, sweepKeysAt(issue.path))}`).join('; ')
        : issue.message.replace(/^Invalid input: /, '');
    return `${fieldOf(issue.path) || '(top level)'}: ${message}`;
  });
  const first = issues[0];
  let bad: unknown = value;
  for (const part of first?.path ?? []) bad = (bad as Record<PropertyKey, unknown> | undefined)?.[part as string];
  return new ValidationError(fieldOf(first?.path ?? []) || 'sweep', bad, `Invalid sweep file:\n  ${lines.join('\n  ')}`);
}

/**
 * Validates a sweep (the parsed YAML or JSON) against the schema. An invalid sweep is a `ValidationError`
 * whose `field` is the path of the first bad value, e.g. `parameters.grid.seed[2]`, and whose message lists
 * every problem.
 */
export function parseSweep(value: unknown): SweepSpec {
  const parsed = sweepSchema.safeParse(value);
  if (!parsed.success) throw schemaError(parsed.error.issues, value);
  return parsed.data;
}

const PLACEHOLDER = /\{\{|\}\}|\{([^{}]*)\}/g;

/** A text with `{name}` placeholders, split once: `parts[0] + row[keys[0]] + parts[1] + ...`. */
interface Pattern {
  /** Where it is in the sweep file: `name`, `command[2]`, `templates[0].target`. */
  readonly field: string;
  readonly text: string;
  readonly parts: readonly string[];
  readonly keys: readonly string[];
}

/**
 * Splits a text at its `{name}` placeholders (`{{` and `}}` are literal braces); a placeholder that names none of
 * `known` is an error, found here once rather than at every row.
 */
function compile(text: string, field: string, known: readonly string[]): Pattern {
  const parts: string[] = [];
  const keys: string[] = [];
  let literal = '';
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    literal += text.slice(last, match.index);
    last = match.index + match[0].length;
    if (match[0] === '{{') literal += '{';
    else if (match[0] === '}}') literal += '}';
    else {
      const key = (match[1] ?? '').trim();
      if (!known.includes(key)) {
        throw new ValidationError(field, text, `${field}: placeholder {${key}} names no parameter (parameters: ${known.join(', ')}). Write {{ and }} for literal braces.`);
      }
      parts.push(literal);
      keys.push(key);
      literal = '';
    }
  }
  parts.push(literal + text.slice(last));
  return { field, text, parts, keys };
}

/** The text of a pattern with the row's values put in. */
function render(pattern: Pattern, row: ParameterRow): string {
  let text = pattern.parts[0] ?? '';
  for (let k = 0; k < pattern.keys.length; k++) text += String(row[pattern.keys[k] ?? '']) + (pattern.parts[k + 1] ?? '');
  return text;
}

function compileArgv(value: string | readonly string[], field: string, known: readonly string[]): Pattern[] {
  // Split first, then fill each argument: a value with spaces stays one argument.
  return parseCommand(value, field).map((arg, i) => compile(arg, `${field}[${i}]`, known));
}

/** A template of the sweep, its placeholders split once; `render(row)` gives the job's template. */
interface TemplatePattern {
  readonly patterns: readonly Pattern[];
  render(row: ParameterRow): TemplateSpec;
}

function compileTemplate(template: NonNullable<SweepSpec['templates']>[number], field: string, known: readonly string[], baseDir: string): TemplatePattern {
  if (typeof template === 'string') {
    const source = compile(template, field, known);
    return { patterns: [source], render: (row) => path.resolve(baseDir, render(source, row)) };
  }
  if ('content' in template) {
    const content = compile(template.content, `${field}.content`, known);
    const target = compile(template.target, `${field}.target`, known);
    const { mode } = template;
    return { patterns: [content, target], render: (row) => ({ content: render(content, row), target: render(target, row), ...(mode === undefined ? {} : { mode }) }) };
  }
  const source = compile(template.source, `${field}.source`, known);
  const target = template.target === undefined ? undefined : compile(template.target, `${field}.target`, known);
  return { patterns: target ? [source, target] : [source], render: (row) => ({ source: path.resolve(baseDir, render(source, row)), ...(target ? { target: render(target, row) } : {}) }) };
}

function authenticatorOf(auth: NonNullable<SweepSpec['auth']>): RegistryAuthenticator {
  if (auth === 'docker-config') return new DockerConfigAuthenticator();
  if (auth === 'ghcr') return new GhcrAuthenticator();
  if (auth === 'dockerhub') return new DockerHubAuthenticator();
  const username = process.env[auth.usernameEnv];
  const password = process.env[auth.passwordEnv];
  for (const [key, name, value] of [['usernameEnv', auth.usernameEnv, username], ['passwordEnv', auth.passwordEnv, password]] as const) {
    if (!value) throw new ValidationError(`auth.${key}`, name, `auth.${key}: the environment variable ${name} is not set; export it before running the sweep.`);
  }
  return new CustomRegistryAuthenticator({ registry: auth.registry, username: username ?? '', password: password ?? '' });
}

/** A limit that grows by `factor` with each retry (attempt n gets base * factor^(n-1)), or the value as it is. */
function grown(base: number, factor: number | undefined, round: (value: number) => number = (value) => value): PerAttempt<number> {
  if (factor === undefined || factor === 1) return base;
  return ({ attempt }) => round(base * factor ** (attempt - 1));
}

/** `growOnRetry` grows limits the sweep sets: one it does not set has nothing to grow. */
function checkGrowOnRetry(spec: SweepSpec): void {
  for (const [key, limit] of [['memory', spec.memory], ['cpus', spec.cpus], ['timeout', spec.timeout]] as const) {
    if (spec.growOnRetry?.[key] !== undefined && limit === undefined) {
      throw new ValidationError(`growOnRetry.${key}`, spec.growOnRetry[key], `growOnRetry.${key} multiplies \`${key}\` on each retry, but the sweep sets no \`${key}\`. Set one (it is the first attempt's), or remove growOnRetry.${key}.`);
    }
  }
}

/** The settings every job of the sweep shares, as the manager's `defaults`. */
function sharedSettings(spec: SweepSpec): JobSettings {
  checkGrowOnRetry(spec);
  const settings: JobSettings = {
    ...(spec.workingDir === undefined ? {} : { workingDir: spec.workingDir }),
    ...(spec.user === undefined ? {} : { user: spec.user }),
    ...(spec.labels === undefined ? {} : { labels: spec.labels }),
    ...(spec.cpus === undefined ? {} : { cpus: grown(spec.cpus, spec.growOnRetry?.cpus) }),
    ...(spec.memory === undefined ? {} : { memory: grown(parseMemory(spec.memory, 'memory'), spec.growOnRetry?.memory, Math.round) }),
    ...(spec.gpus === undefined ? {} : { gpus: spec.gpus }),
    ...(spec.network === undefined ? {} : { network: spec.network }),
    ...(spec.collect === undefined ? {} : { collect: spec.collect }),
    ...(spec.outputMode === undefined ? {} : { outputMode: spec.outputMode }),
    ...(spec.maxLogBytes === undefined ? {} : { maxLogBytes: spec.maxLogBytes }),
    ...(spec.maxOutputBytes === undefined ? {} : { maxOutputBytes: spec.maxOutputBytes }),
    ...(spec.maxOutputEntries === undefined ? {} : { maxOutputEntries: spec.maxOutputEntries }),
    ...(spec.timeout === undefined ? {} : { timeoutMs: grown(durationMs(spec.timeout), spec.growOnRetry?.timeout, Math.round) }),
    ...(spec.inactivityTimeout === undefined ? {} : { inactivityTimeoutMs: durationMs(spec.inactivityTimeout) }),
    ...(spec.retries === undefined ? {} : { retries: spec.retries }),
    ...(spec.retryOn === undefined ? {} : { retryOn: spec.retryOn }),
    ...(spec.security === undefined ? {} : { security: spec.security }),
    ...(spec.readOnlyRootfs === undefined ? {} : { readOnlyRootfs: spec.readOnlyRootfs }),
    ...(spec.tmpfs === undefined ? {} : { tmpfs: spec.tmpfs }),
    ...(spec.capDrop === undefined ? {} : { capDrop: spec.capDrop }),
    ...(spec.capAdd === undefined ? {} : { capAdd: spec.capAdd }),
    ...(spec.noNewPrivileges === undefined ? {} : { noNewPrivileges: spec.noNewPrivileges }),
    ...(spec.pidsLimit === undefined ? {} : { pidsLimit: spec.pidsLimit }),
    ...(spec.init === undefined ? {} : { init: spec.init }),
  };
  if (spec.backoff) {
    const { initialDelay, maxDelay, factor, jitter } = spec.backoff;
    settings.backoff = {
      ...(initialDelay === undefined ? {} : { initialDelayMs: durationMs(initialDelay) }),
      ...(maxDelay === undefined ? {} : { maxDelayMs: durationMs(maxDelay) }),
      ...(factor === undefined ? {} : { factor }),
      ...(jitter === undefined ? {} : { jitter }),
    };
  }
  return settings;
}

/** The manager options a sweep describes (relative paths from `baseDir`); `defaults` holds the shared job settings. */
export function sweepManagerOptions(spec: SweepSpec, context: SweepContext = {}): DockerSimManagerOptions {
  const baseDir = path.resolve(context.baseDir ?? process.cwd());
  return {
    image: spec.image,
    dataDirectory: path.resolve(baseDir, spec.dataDirectory ?? 'out'),
    ...(spec.tag === undefined ? {} : { tag: spec.tag }),
    ...(spec.pullPolicy === undefined ? {} : { pullPolicy: spec.pullPolicy }),
    ...(spec.maxWorkers === undefined ? {} : { maxWorkers: spec.maxWorkers }),
    ...(spec.mountPath === undefined ? {} : { mountPath: spec.mountPath }),
    ...(spec.stopGracePeriod === undefined ? {} : { stopGracePeriodMs: durationMs(spec.stopGracePeriod) }),
    ...(spec.pinDigest === undefined ? {} : { pinDigest: spec.pinDigest }),
    ...(spec.failFast === undefined ? {} : { failFast: spec.failFast }),
    ...(spec.maxFailures === undefined ? {} : { maxFailures: spec.maxFailures }),
    ...(spec.executionMode === undefined ? {} : { executionMode: spec.executionMode }),
    ...(spec.recycleAfter === undefined ? {} : { recycleAfter: spec.recycleAfter }),
    ...(spec.backend === undefined ? {} : { backend: spec.backend }),
    ...(spec.slurm === undefined ? {} : { slurm: spec.slurm }),
    ...(spec.auth === undefined ? {} : { auth: authenticatorOf(spec.auth) }),
    defaults: sharedSettings(spec),
  };
}

/**
 * The jobs of a sweep, made one at a time as they are read: a sweep of a million jobs holds its lists of values,
 * not a million `SimJob`s. Each iteration starts from the first job and makes new `SimJob`s; names that repeat
 * and jobs that fail validation are `ValidationError`s thrown by the iterator, at that job.
 */
export interface SweepJobs extends Iterable<SimJob> {
  /** How many jobs: the number of parameter rows. */
  readonly count: number;
  [Symbol.iterator](): Iterator<SimJob, undefined>;
}

/** A sweep with its placeholders split and checked: what making job `i` needs. */
interface JobPlan {
  readonly rows: ParameterRows;
  /** Digits of `{index}`: those of the job count. */
  readonly width: number;
  readonly name: Pattern;
  readonly command: readonly Pattern[] | undefined;
  readonly entrypoint: readonly Pattern[] | undefined;
  readonly env: ReadonlyArray<readonly [string, Pattern]> | undefined;
  readonly templates: readonly TemplatePattern[] | undefined;
  /** True when the name pattern alone makes every name different (only `{index}` in it): no duplicate check. */
  readonly namesAreDistinct: boolean;
}

/** The values the placeholders of row `i` take: `{index}` (unless a parameter is named so) and the row. */
function placeholderValues(plan: JobPlan, i: number, parameters: ParameterRow): ParameterRow {
  return { index: String(i + 1).padStart(plan.width, '0'), ...parameters };
}

function nameAt(plan: JobPlan, i: number): string {
  return render(plan.name, placeholderValues(plan, i, plan.rows.at(i)));
}

function duplicateName(plan: JobPlan, name: string, earlier: number, later: number, why = ''): ValidationError {
  return new ValidationError('name', name, `name: '${plan.name.text}' gives the same job name '${name}' to rows ${earlier + 1} and ${later + 1}${why}; add a parameter that differs (or {index}) to the name.`);
}

function jobAt(plan: JobPlan, i: number, parameters: ParameterRow, name: string): SimJob {
  const row = placeholderValues(plan, i, parameters);
  const options: SimJobOptions = {
    name,
    parameters,
    ...(plan.command === undefined ? {} : { command: plan.command.map((arg) => render(arg, row)) }),
    ...(plan.entrypoint === undefined ? {} : { entrypoint: plan.entrypoint.map((arg) => render(arg, row)) }),
    ...(plan.env === undefined ? {} : { env: Object.fromEntries(plan.env.map(([key, value]) => [key, render(value, row)])) }),
    ...(plan.templates === undefined ? {} : { templates: plan.templates.map((template) => template.render(row)) }),
  };
  try {
    return new SimJob(options);
  } catch (error) {
    if (isDockerSimError(error) && error.code === 'E_VALIDATION') {
      throw new ValidationError((error as ValidationError).field, (error as ValidationError).value, `Job ${i + 1} of the sweep (${describeValue(parameters)}): ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** ` (seed=1, n=10 and seed=11, n=0)`: the parameters of two rows, for a name they share. */
function rowsText(plan: JobPlan, earlier: number, later: number): string {
  const text = (i: number): string => Object.entries(plan.rows.at(i)).map(([key, value]) => `${key}=${String(value)}`).join(', ');
  return plan.rows.axes.length === 0 ? '' : ` (${text(earlier)} and ${text(later)})`;
}

function* jobsOf(plan: JobPlan): Generator<SimJob, undefined, undefined> {
  const { count } = plan.rows;
  // Every name seen, by fingerprint, with its row (about 16 bytes a name). Two different names can share a
  // fingerprint (about 3 in 10^8 for a million names): a repeat is confirmed by making the earlier row's name
  // again, and the rare name that only shares a fingerprint is remembered exactly.
  const seen = plan.namesAreDistinct ? undefined : new NameSet(Math.min(count, 65_536));
  const sharedFingerprint = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const parameters = plan.rows.at(i);
    const name = render(plan.name, placeholderValues(plan, i, parameters));
    if (seen && !seen.add(name, i)) {
      const earlier = seen.get(name) ?? 0;
      if (earlier < i && nameAt(plan, earlier) === name) throw duplicateName(plan, name, earlier, i, rowsText(plan, earlier, i));
      const exact = sharedFingerprint.get(name);
      if (exact !== undefined) throw duplicateName(plan, name, exact, i, rowsText(plan, exact, i));
      sharedFingerprint.set(name, i);
    }
    yield jobAt(plan, i, parameters, name);
  }
}

/** Two rows certain to get the same name, and why. */
interface CertainDuplicate {
  earlier: number;
  later: number;
  why: string;
}

/**
 * Two rows certain to get the same name, found from the parameter lists alone: an axis with two positions
 * that agree on every parameter the name uses gives the same name to the rows that differ only there (the
 * earliest such pair). Undefined when the name uses `{index}` or no axis has such positions.
 */
function certainDuplicate(plan: JobPlan, usesIndex: boolean): CertainDuplicate | undefined {
  if (usesIndex) return undefined;
  const used = new Set(plan.name.keys);
  let found: CertainDuplicate | undefined;
  let stride = 1;
  for (let a = plan.rows.axes.length - 1; a >= 0; a--) {
    const axis = plan.rows.axes[a] as ParameterAxis;
    const keys = axis.names.filter((name) => used.has(name));
    const first = new Map<string, number>();
    for (let k = 0; k < axis.size && (found === undefined || k * stride < found.later); k++) {
      const values = axis.valuesAt(k);
      // A list row without a parameter named `index` gets the job's {index} there: a different name.
      if (keys.some((key) => !(key in values))) continue;
      const projection = JSON.stringify(keys.map((key) => String(values[key])));
      const earlier = first.get(projection);
      if (earlier !== undefined) {
        const why = keys.length === 0 ? 'which the name does not use' : `at positions ${earlier + 1} and ${k + 1}, which give ${keys.join(', ')} the same value${keys.length > 1 ? 's' : ''}`;
        found = { earlier: earlier * stride, later: k * stride, why: ` (they differ only in ${axis.section}, ${why})` };
        break;
      }
      first.set(projection, k);
    }
    stride *= axis.size;
  }
  return found;
}

/** A list row that lacks a parameter a placeholder uses (every other section gives each row all its parameters). */
function checkListRows(spec: SweepSpec, patterns: readonly Pattern[]): void {
  const list = spec.parameters?.list;
  if (!list) return;
  const own = new Set([...Object.keys(spec.parameters?.grid ?? {}), ...Object.keys(spec.parameters?.zip ?? {}), 'index']);
  list.forEach((row, k) => {
    for (const pattern of patterns) {
      const missing = pattern.keys.find((key) => !own.has(key) && !(key in row));
      if (missing !== undefined) {
        throw new ValidationError(
          pattern.field,
          pattern.text,
          `${pattern.field}: placeholder {${missing}} has no value in parameters.list[${k}] (it gives: ${Object.keys(row).join(', ') || 'nothing'}). Give every list row a '${missing}', or remove the placeholder.`,
        );
      }
    }
  });
}

/**
 * The jobs of a sweep: one per parameter row, with `{parameter}` placeholders (and `{index}`, 1-based and
 * zero-padded) filled in the name, command, entrypoint, env values and templates. Jobs are made as they are
 * read (`count` is known at once), so a sweep of millions of jobs costs no memory per job until it is read.
 *
 * What can be checked for the whole sweep is checked here, before any job is read: the schema, the parameters,
 * placeholders that name no parameter, a name that is certain to repeat, and the first job. A job that fails
 * validation, and a name that repeats, are `ValidationError`s thrown while iterating, naming the rows.
 *
 * @example
 * ```ts
 * const jobs = expandSweep({ image: 'sim', name: 's{seed}', command: '-r {seed}', parameters: { grid: { seed: [1, 2] } } });
 * console.log(jobs.count, Array.from(jobs, (job) => job.name)); // 2 ['s1', 's2']
 * ```
 */
export function expandSweep(spec: SweepSpec, context: SweepContext = {}): SweepJobs {
  const sweep = parseSweep(spec);
  const baseDir = path.resolve(context.baseDir ?? process.cwd());
  const rows = parameterRows(sweep);
  const parameterNames = rows.axes.flatMap((axis) => axis.names);
  const known = [...new Set(['index', ...parameterNames])];
  const name = compile(sweep.name ?? '{index}', 'name', known);
  const command = sweep.command === undefined ? undefined : compileArgv(sweep.command, 'command', known);
  const entrypoint = sweep.entrypoint === undefined ? undefined : compileArgv(sweep.entrypoint, 'entrypoint', known);
  const env = sweep.env === undefined ? undefined : Object.entries(sweep.env).map(([key, value]) => [key, compile(String(value), `env.${key}`, known)] as const);
  const templates = sweep.templates?.map((template, k) => compileTemplate(template, `templates[${k}]`, known, baseDir));
  checkListRows(sweep, [name, ...(command ?? []), ...(entrypoint ?? []), ...(env ?? []).map(([, value]) => value), ...(templates ?? []).flatMap((template) => template.patterns)]);
  const usesIndex = name.keys.includes('index') && !parameterNames.includes('index');
  const plan: JobPlan = {
    rows,
    width: String(rows.count).length,
    name,
    command,
    entrypoint,
    env,
    templates,
    namesAreDistinct: rows.count === 1 || (usesIndex && name.keys.every((key) => key === 'index')),
  };
  const duplicate = certainDuplicate(plan, usesIndex);
  if (duplicate) throw duplicateName(plan, nameAt(plan, duplicate.earlier), duplicate.earlier, duplicate.later, duplicate.why);
  jobAt(plan, 0, rows.at(0), nameAt(plan, 0));
  return Object.freeze({ count: rows.count, [Symbol.iterator]: () => jobsOf(plan) });
}

/** A sweep file read, validated and expanded. */
export interface LoadedSweep {
  file: string;
  spec: SweepSpec;
  options: DockerSimManagerOptions;
  /** The jobs, made as they are read (`Array.from(sweep.jobs)` makes them all). */
  jobs: SweepJobs;
}

/**
 * Reads a sweep file (YAML, or JSON for `.json`), validates it, and expands it into manager options and jobs.
 * Relative paths in it (dataDirectory, templates) are resolved from the file's folder. Everything
 * `expandSweep` checks up front is checked here; the jobs themselves are made as they are read.
 */
export async function loadSweepFile(file: string): Promise<LoadedSweep> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    throw new ValidationError('sweep', file, `Cannot read the sweep file ${file}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = absolute.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ValidationError('sweep', file, `The sweep file ${file} is not valid ${absolute.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`, { cause: error });
  }
  const spec = parseSweep(value);
  const baseDir = path.dirname(absolute);
  return { file: absolute, spec, options: sweepManagerOptions(spec, { baseDir }), jobs: expandSweep(spec, { baseDir }) };
}
