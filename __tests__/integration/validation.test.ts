import { execFileSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  DockerSimManager,
  DockerUnavailableError,
  ImageNotFoundError,
  ImagePullError,
  RunInProgressError,
  SimJob,
  ValidationError,
  isDockerSimError,
  type DockerSimManagerOptions,
  type SimJobOptions,
} from '../../src/index.js';
import { MONTE_CARLO, describeEngine, packageContainers, useEngineSuite } from '../helpers/engine.js';

/** Runs `start` and expects it to reject with `errorClass` having created no container and no folder. */
async function expectRejectedBeforeAnything(
  start: () => Promise<unknown>,
  errorClass: new (...args: never[]) => Error,
  pattern: RegExp,
  untouched: string,
): Promise<Error> {
  const before = await readdir(untouched).catch(() => undefined);
  const containersBefore = (await packageContainers()).length;
  const error = (await start().then(
    () => undefined,
    (e: unknown) => e,
  )) as Error;
  expect(error).toBeInstanceOf(errorClass);
  expect(isDockerSimError(error)).toBe(true);
  expect(error.message).toMatch(pattern);
  expect((await packageContainers()).length).toBe(containersBefore);
  expect(await readdir(untouched).catch(() => undefined)).toEqual(before);
  return error;
}

describeEngine('bad input is refused before any container or folder is created', () => {
  const data = useEngineSuite();

  test('duplicate and invalid job names, maxWorkers < 1: ValidationError at once, naming field and value', () => {
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: data.dir });
    manager.addSimJob(new SimJob({ name: 'IT1' }));
    expect(() => manager.addSimJob(new SimJob({ name: 'IT1' }))).toThrow(/already added/);
    expect(() => manager.addSimJobs([{ name: 'a' }, { name: 'a' }])).toThrow(ValidationError);
    expect(manager.simJobs.map((j) => j.name)).toEqual(['IT1']); // nothing of the bad batch was added
    for (const name of ['', 'has space', 'slash/name', 'x'.repeat(129), '..']) {
      const error = (() => {
        try {
          new SimJob({ name });
        } catch (e) {
          return e as ValidationError;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(ValidationError);
      expect(error?.field).toBe('name');
    }
    for (const maxWorkers of [0, -1, 1.5, Number.NaN]) {
      expect(() => new DockerSimManager({ image: MONTE_CARLO, dataDirectory: data.dir, maxWorkers })).toThrow(
        new RegExp(`Expected \`maxWorkers\` to be an integer >= 1, got ${String(maxWorkers)} \\(number\\)`),
      );
    }
  });

  test('a missing template source: ValidationError naming the job and template, no container, no folder', async () => {
    const dataDirectory = path.join(data.dir, 'out');
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory });
    manager.addSimJob({ name: 'ok', command: '-i 10' });
    manager.addSimJob({ name: 'IT2', templates: ['./definitely-missing.yaml'] });
    const error = (await expectRejectedBeforeAnything(() => manager.startComputation(), ValidationError, /definitely-missing\.yaml' of job IT2 does not exist/, data.dir)) as ValidationError;
    expect(error.field).toBe('jobs[IT2].templates[0]');
  });

  test('dataDirectory that is a file, or lies under a file: ValidationError', async () => {
    const file = path.join(data.dir, 'a-file');
    await writeFile(file, 'x');
    for (const dataDirectory of [file, path.join(file, 'below')]) {
      const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory });
      manager.addSimJob({ name: 'IT1' });
      await expectRejectedBeforeAnything(() => manager.startComputation(), ValidationError, /is a file/, data.dir);
    }
  });

  test('dataDirectory without write permission: ValidationError', async () => {
    const readOnly = path.join(data.dir, 'read-only');
    await mkdir(readOnly);
    if (process.getuid?.() === 0) {
      // root may write anywhere, except on a read-only file system
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly]);
    } else {
      execFileSync('chmod', ['0555', readOnly]);
    }
    try {
      const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: path.join(readOnly, 'out') });
      manager.addSimJob({ name: 'IT1' });
      const error = (await expectRejectedBeforeAnything(() => manager.startComputation(), ValidationError, /is not writable/, readOnly)) as ValidationError;
      expect(error.field).toBe('dataDirectory');
    } finally {
      if (process.getuid?.() === 0) execFileSync('umount', [readOnly]);
    }
  });

  test('an output folder holding files from an earlier run is never overwritten', async () => {
    await mkdir(path.join(data.dir, 'job_IT1'));
    await writeFile(path.join(data.dir, 'job_IT1', 'pi.txt'), 'precious');
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: data.dir });
    manager.addSimJobs([{ name: 'IT0' }, { name: 'IT1' }]);
    await expectRejectedBeforeAnything(() => manager.startComputation(), ValidationError, /already holds files from an earlier run/, data.dir);
  });

  test("pullPolicy 'never' with an absent image: ImageNotFoundError that says how to fix it", async () => {
    const manager = new DockerSimManager({ image: 'docker-sim-manager/not-built-here', pullPolicy: 'never', dataDirectory: path.join(data.dir, 'out') });
    manager.addSimJob({ name: 'IT1' });
    await expectRejectedBeforeAnything(
      () => manager.startComputation(),
      ImageNotFoundError,
      /^Image docker-sim-manager\/not-built-here:latest is not on the engine at unix:\/\/\/\S+docker\.sock and pullPolicy is 'never'\. Build it/,
      data.dir,
    );
  });

  test('a pull that fails (no registry reachable): ImagePullError with the engine\'s reason, no container', async () => {
    const manager = new DockerSimManager({ image: '127.0.0.1:9/nothing/here:1.0', dataDirectory: path.join(data.dir, 'out') });
    manager.addSimJob({ name: 'IT1' });
    await expectRejectedBeforeAnything(() => manager.startComputation(), ImagePullError, /Cannot pull image 127\.0\.0\.1:9\/nothing\/here:1\.0: .*connection refused/, data.dir);
  });

  test('an unreachable engine: DockerUnavailableError naming the socket and the fix', async () => {
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: path.join(data.dir, 'out'), docker: { socketPath: '/tmp/no-such-docker.sock' } });
    manager.addSimJob({ name: 'IT1' });
    const error = (await expectRejectedBeforeAnything(
      () => manager.startComputation(),
      DockerUnavailableError,
      /Cannot reach the Docker engine at unix:\/\/\/tmp\/no-such-docker\.sock \(ENOENT\)\..*DOCKER_HOST/,
      data.dir,
    )) as DockerUnavailableError;
    expect(error.endpoint).toBe('unix:///tmp/no-such-docker.sock');
  });

  test('startComputation twice at once: RunInProgressError; jobs can be added between runs', async () => {
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: data.dir });
    manager.addSimJob({ name: 'IT1', command: '-o /mnt/data -i 10' });
    const first = manager.startComputation();
    await expect(manager.startComputation()).rejects.toBeInstanceOf(RunInProgressError);
    expect((await first).succeeded).toBe(1);
    manager.addSimJob({ name: 'IT2', command: '-o /mnt/data -i 10' });
    const second = await manager.startComputation();
    expect(second.results.map((r) => r.name)).toEqual(['IT2']); // only the jobs that had not run
    expect(await packageContainers()).toEqual([]);
  });
});

/** What a catalogue row gives: options merged over a valid manager and a valid job named J, and how to clean up. */
interface BadInputs {
  manager?: Record<string, unknown>;
  job?: Record<string, unknown>;
  cleanup?: () => void;
}

/** One bad input: where it is refused, the `ValidationError.field` named, and a message that shows the bad value. */
interface BadInput {
  label: string;
  /** `constructor`: `new DockerSimManager` or `new SimJob` throws at once; `start`: `startComputation()` rejects. */
  at: 'constructor' | 'start';
  inputs: BadInputs | ((dir: string) => Promise<BadInputs>);
  field: string;
  message: RegExp;
}

const isRoot = process.getuid?.() === 0;

/** A data directory whose nearest existing parent cannot be written (for root: a read-only tmpfs mount). */
async function notWritableDataDirectory(dir: string): Promise<BadInputs> {
  const readOnly = path.join(dir, 'read-only');
  await mkdir(readOnly);
  if (isRoot) execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly]);
  else execFileSync('chmod', ['0555', readOnly]);
  return {
    manager: { dataDirectory: path.join(readOnly, 'out') },
    cleanup: () => {
      if (isRoot) execFileSync('umount', [readOnly]);
      else execFileSync('chmod', ['0755', readOnly]);
    },
  };
}

/**
 * A template source that exists on the way but cannot be read. Permissions cannot hide a file from root, so as
 * root the path goes through a file (ENOTDIR); otherwise the file is made unreadable (EACCES).
 */
async function unreadableTemplate(dir: string): Promise<BadInputs> {
  const file = path.join(dir, 'params.yaml');
  await writeFile(file, 'alpha: 1\n');
  if (isRoot) return { job: { templates: [path.join(file, 'inner.txt')] } };
  execFileSync('chmod', ['0000', file]);
  return { job: { templates: [file] }, cleanup: () => execFileSync('chmod', ['0644', file]) };
}

const BAD_INPUTS: BadInput[] = [
  // manager options
  { label: 'maxWorkers 0', at: 'constructor', inputs: { manager: { maxWorkers: 0 } }, field: 'maxWorkers', message: /got 0 \(number\)/ },
  { label: 'maxWorkers -1', at: 'constructor', inputs: { manager: { maxWorkers: -1 } }, field: 'maxWorkers', message: /got -1 \(number\)/ },
  { label: 'maxWorkers 1.5', at: 'constructor', inputs: { manager: { maxWorkers: 1.5 } }, field: 'maxWorkers', message: /got 1\.5 \(number\)/ },
  { label: 'maxWorkers NaN', at: 'constructor', inputs: { manager: { maxWorkers: Number.NaN } }, field: 'maxWorkers', message: /got NaN \(number\)/ },
  { label: "maxWorkers '4'", at: 'constructor', inputs: { manager: { maxWorkers: '4' } }, field: 'maxWorkers', message: /got '4' \(string\)/ },
  { label: "dataDirectory ''", at: 'constructor', inputs: { manager: { dataDirectory: '' } }, field: 'dataDirectory', message: /got '' \(string\)/ },
  { label: 'dataDirectory of blanks', at: 'constructor', inputs: { manager: { dataDirectory: '   ' } }, field: 'dataDirectory', message: /got ' {3}' \(string\)/ },
  {
    label: 'dataDirectory that is a file',
    at: 'start',
    inputs: async (dir) => {
      await writeFile(path.join(dir, 'a-file'), 'x');
      return { manager: { dataDirectory: path.join(dir, 'a-file') } };
    },
    field: 'dataDirectory',
    message: /\/a-file' is a file, not a folder/,
  },
  { label: 'dataDirectory under a read-only folder', at: 'start', inputs: notWritableDataDirectory, field: 'dataDirectory', message: /\/read-only\/out' is not writable by this user \(its nearest existing parent '\S+\/read-only' is not\)/ },
  { label: "failFast 'yes'", at: 'constructor', inputs: { manager: { failFast: 'yes' } }, field: 'failFast', message: /got 'yes' \(string\)/ },
  { label: 'maxFailures 0', at: 'constructor', inputs: { manager: { maxFailures: 0 } }, field: 'maxFailures', message: /got 0 \(number\)\. Use failFast: true/ },
  { label: 'maxFailures 2.5', at: 'constructor', inputs: { manager: { maxFailures: 2.5 } }, field: 'maxFailures', message: /got 2\.5 \(number\)/ },
  { label: "resume 'true'", at: 'constructor', inputs: { manager: { resume: 'true' } }, field: 'resume', message: /got 'true' \(string\)/ },
  { label: 'handleSignals 1', at: 'constructor', inputs: { manager: { handleSignals: 1 } }, field: 'handleSignals', message: /got 1 \(number\)/ },
  { label: 'defaults.retries -1', at: 'constructor', inputs: { manager: { defaults: { retries: -1 } } }, field: 'defaults.retries', message: /got -1 \(number\)/ },
  { label: 'defaults.backoff.jitter -0.1', at: 'constructor', inputs: { manager: { defaults: { backoff: { jitter: -0.1 } } } }, field: 'defaults.backoff.jitter', message: /got -0\.1 \(number\)/ },
  // job names
  { label: "job name ''", at: 'constructor', inputs: { job: { name: '' } }, field: 'name', message: /got '' \(string\)/ },
  { label: "job name '.'", at: 'constructor', inputs: { job: { name: '.' } }, field: 'name', message: /`name` cannot be '\.' or '\.\.'/ },
  { label: "job name 'ünï'", at: 'constructor', inputs: { job: { name: 'ünï' } }, field: 'name', message: /got 'ünï' \(string\)/ },
  { label: 'job name of 129 characters', at: 'constructor', inputs: { job: { name: 'x'.repeat(129) } }, field: 'name', message: /got 'x{77}\.\.\.' \(string\)/ },
  { label: 'job name 42', at: 'constructor', inputs: { job: { name: 42 } }, field: 'name', message: /got 42 \(number\)/ },
  // resources
  { label: "memory 'lots'", at: 'constructor', inputs: { job: { memory: 'lots' } }, field: 'jobs[J].memory', message: /got 'lots' \(string\)/ },
  { label: 'memory -1', at: 'constructor', inputs: { job: { memory: -1 } }, field: 'jobs[J].memory', message: /got -1 \(number\)/ },
  { label: "memory '1k' (below the engine's 6m)", at: 'constructor', inputs: { job: { memory: '1k' } }, field: 'jobs[J].memory', message: /at least 6m.*got '1k' \(string\)/ },
  { label: 'cpus 0', at: 'constructor', inputs: { job: { cpus: 0 } }, field: 'jobs[J].cpus', message: /got 0 \(number\)/ },
  { label: 'cpus -2', at: 'constructor', inputs: { job: { cpus: -2 } }, field: 'jobs[J].cpus', message: /got -2 \(number\)/ },
  // timeouts and retries
  { label: 'timeoutMs -1', at: 'constructor', inputs: { job: { timeoutMs: -1 } }, field: 'jobs[J].timeoutMs', message: /got -1 \(number\)/ },
  { label: 'timeoutMs NaN', at: 'constructor', inputs: { job: { timeoutMs: Number.NaN } }, field: 'jobs[J].timeoutMs', message: /got NaN \(number\)/ },
  { label: 'inactivityTimeoutMs 0', at: 'constructor', inputs: { job: { inactivityTimeoutMs: 0 } }, field: 'jobs[J].inactivityTimeoutMs', message: /got 0 \(number\)/ },
  { label: 'retries -1', at: 'constructor', inputs: { job: { retries: -1 } }, field: 'jobs[J].retries', message: /got -1 \(number\)/ },
  { label: 'retries 1.5', at: 'constructor', inputs: { job: { retries: 1.5 } }, field: 'jobs[J].retries', message: /got 1\.5 \(number\)/ },
  { label: 'retries 101', at: 'constructor', inputs: { job: { retries: 101 } }, field: 'jobs[J].retries', message: /from 0 to 100, got 101 \(number\)/ },
  { label: 'backoff.factor 0.5', at: 'constructor', inputs: { job: { backoff: { factor: 0.5 } } }, field: 'jobs[J].backoff.factor', message: /got 0\.5 \(number\)/ },
  { label: 'backoff.jitter 2', at: 'constructor', inputs: { job: { backoff: { jitter: 2 } } }, field: 'jobs[J].backoff.jitter', message: /got 2 \(number\)/ },
  { label: 'backoff.initialDelayMs -5', at: 'constructor', inputs: { job: { backoff: { initialDelayMs: -5 } } }, field: 'jobs[J].backoff.initialDelayMs', message: /got -5 \(number\)/ },
  { label: 'backoff with a misspelled key', at: 'constructor', inputs: { job: { backoff: { initialDelay: 5 } } }, field: 'jobs[J].backoff.initialDelay', message: /Unknown backoff option `initialDelay`/ },
  { label: "retryOn 'sometimes'", at: 'constructor', inputs: { job: { retryOn: 'sometimes' } }, field: 'jobs[J].retryOn', message: /got 'sometimes' \(string\)/ },
  { label: "retryOn ['oom', 'never']", at: 'constructor', inputs: { job: { retryOn: ['oom', 'never'] } }, field: 'jobs[J].retryOn[1]', message: /got 'never' \(string\)/ },
  // environment and commands
  { label: 'env {A: 1}', at: 'constructor', inputs: { job: { env: { A: 1 } } }, field: 'jobs[J].env.A', message: /got 1 \(number\)/ },
  { label: "env {'A=B': 'x'}", at: 'constructor', inputs: { job: { env: { 'A=B': 'x' } } }, field: 'jobs[J].env.A=B', message: /got 'A=B' \(string\)/ },
  { label: 'command with an unbalanced quote', at: 'constructor', inputs: { job: { command: '-o /mnt/data -r "1' } }, field: 'jobs[J].command', message: /unbalanced " quote at position 16: '-o \/mnt\/data -r "1' \(string\)/ },
  { label: 'entrypoint with an unbalanced quote', at: 'constructor', inputs: { job: { entrypoint: "sh -c 'exit" } }, field: 'jobs[J].entrypoint', message: /unbalanced ' quote at position 6: 'sh -c 'exit' \(string\)/ },
  // templates
  {
    label: 'a missing template file',
    at: 'start',
    inputs: async (dir) => ({ job: { templates: [path.join(dir, 'inputs', 'missing.yaml')] } }),
    field: 'jobs[J].templates[0]',
    message: /\/inputs\/missing\.yaml' of job J does not exist/,
  },
  { label: 'an unreadable template file', at: 'start', inputs: unreadableTemplate, field: 'jobs[J].templates[0]', message: /params\.yaml(\/inner\.txt)?' of job J cannot be read \((ENOTDIR|EACCES)\)/ },
  // hardening
  { label: "capDrop ['not a cap']", at: 'constructor', inputs: { job: { capDrop: ['not a cap'] } }, field: 'jobs[J].capDrop[0]', message: /got 'not a cap' \(string\)/ },
  { label: "capAdd 'NET_RAW' (not an array)", at: 'constructor', inputs: { job: { capAdd: 'NET_RAW' } }, field: 'jobs[J].capAdd', message: /got 'NET_RAW' \(string\)/ },
  { label: 'pidsLimit 0', at: 'constructor', inputs: { job: { pidsLimit: 0 } }, field: 'jobs[J].pidsLimit', message: /got 0 \(number\)/ },
  { label: "security 'paranoid'", at: 'constructor', inputs: { job: { security: 'paranoid' } }, field: 'jobs[J].security', message: /got 'paranoid' \(string\)/ },
  { label: "readOnlyRootfs 'yes'", at: 'constructor', inputs: { job: { readOnlyRootfs: 'yes' } }, field: 'jobs[J].readOnlyRootfs', message: /got 'yes' \(string\)/ },
  { label: "tmpfs ['relative']", at: 'constructor', inputs: { job: { tmpfs: ['relative'] } }, field: 'jobs[J].tmpfs[0]', message: /got 'relative' \(string\)/ },
  { label: "tmpfs ['/scratch:size=1g'] (options are not paths)", at: 'constructor', inputs: { job: { tmpfs: ['/scratch:size=1g'] } }, field: 'jobs[J].tmpfs[0]', message: /got '\/scratch:size=1g' \(string\)/ },
  {
    label: "a read-only-rootfs job whose template targets '/etc/x'",
    at: 'start',
    inputs: { job: { readOnlyRootfs: true, templates: [{ content: 'x', target: '/etc/x' }] } },
    field: 'jobs[J].templates[0].target',
    message: /template 0 cannot be written to \/etc\/x/,
  },
  {
    label: "security: 'strict' in defaults with a template outside the mount path",
    at: 'start',
    inputs: { manager: { defaults: { security: 'strict' } }, job: { templates: [{ content: 'x', target: '/mnt/data/ok' }, { content: 'y', target: '/sim/in.txt' }] } },
    field: 'jobs[J].templates[1].target',
    message: /template 1 cannot be written to \/sim\/in\.txt/,
  },
];

/** Calls a constructor that must throw a ValidationError at once, with no container and no folder created. */
async function expectThrownBeforeAnything(make: () => unknown, pattern: RegExp, untouched: string): Promise<ValidationError> {
  const before = await readdir(untouched);
  const containersBefore = (await packageContainers()).length;
  let thrown: unknown;
  try {
    make();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ValidationError);
  expect(isDockerSimError(thrown)).toBe(true);
  expect((thrown as Error).message).toMatch(pattern);
  expect((await packageContainers()).length).toBe(containersBefore);
  expect(await readdir(untouched)).toEqual(before);
  return thrown as ValidationError;
}

describeEngine('the validation catalogue: each bad input names its field and shows its value, before anything exists', () => {
  const data = useEngineSuite();

  test.each(BAD_INPUTS)('$label is refused naming $field', async ({ at, inputs, field, message }) => {
    const given = typeof inputs === 'function' ? await inputs(data.dir) : inputs;
    const make = (): DockerSimManager => {
      const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: path.join(data.dir, 'out'), ...given.manager } as DockerSimManagerOptions);
      manager.addSimJob(new SimJob({ name: 'J', command: '-o /mnt/data -i 10', ...given.job } as SimJobOptions));
      return manager;
    };
    try {
      if (at === 'constructor') {
        const error = await expectThrownBeforeAnything(make, message, data.dir);
        expect(error.field).toBe(field);
      } else {
        const manager = make(); // valid until the run looks at the disk
        const error = (await expectRejectedBeforeAnything(() => manager.startComputation(), ValidationError, message, data.dir)) as ValidationError;
        expect(error.field).toBe(field);
      }
    } finally {
      given.cleanup?.();
    }
  });
});
