/**
 * The pods of an exported sweep do what the same jobs do locally. No cluster runs here, so the pods' containers
 * run on the real engine through an emulation of the kubelet (helpers/pod-emulation.ts), and each job's folder on
 * the claim is compared with its folder from a local run of the same sweep. The objects themselves are checked
 * against the official schemas in unit/export.test.ts.
 */
import { lstat, mkdir, readFile, readdir, readlink, realpath, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DockerSimManager, expandSweep, sweepManagerOptions, toArgoWorkflow, toKubernetes, type KubernetesObject, type SimJobOptions, type SweepSpec } from '../../src/index.js';
import { MONTE_CARLO, SHELL_IMAGE, describeEngine, useEngineSuite } from '../helpers/engine.js';
import { argoWorkflowPods, indexedJobPod, jobControllerOutcome, removeEmulatedContainers, runPod, type EmulatedNode, type PodRun } from '../helpers/pod-emulation.js';

const CLAIM = 'sim-outputs';
/** What a local run writes into a job folder besides the job's files; on a cluster that is the pod's log. */
const LOG_FILES = new Set(['log.txt', 'stdout.log', 'stderr.log']);

/** Every entry below a job folder (links not followed) with its kind, mode and content; the local logs left out. */
async function folderContents(folder: string, relative = ''): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  for (const name of (await readdir(path.join(folder, relative))).sort()) {
    const entry = path.posix.join(relative, name);
    if (LOG_FILES.has(name) && (relative === '' || /^\.attempt-\d+$/.test(relative))) continue;
    const full = path.join(folder, entry);
    const info = await lstat(full);
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isSymbolicLink()) entries[entry] = `link -> ${await readlink(full)}`;
    else if (info.isDirectory()) Object.assign(entries, { [entry]: `dir ${mode}` }, await folderContents(folder, entry));
    else entries[entry] = `file ${mode} ${(await readFile(full)).toString('base64')}`;
  }
  return entries;
}

function names(spec: SweepSpec): string[] {
  return Array.from(expandSweep(spec), (job) => job.name);
}

describeEngine('exported pods on the engine, through an emulated kubelet', () => {
  const data = useEngineSuite();
  let local: string;
  let claim: string;
  let node: EmulatedNode;

  beforeEach(async () => {
    local = path.join(data.dir, 'local');
    claim = path.join(data.dir, 'claim');
    node = { claims: { [CLAIM]: claim }, podsDir: path.join(data.dir, 'pods') };
    await Promise.all([mkdir(claim), mkdir(node.podsDir)]);
  });

  afterEach(() => removeEmulatedContainers());

  async function runLocally(spec: SweepSpec): Promise<void> {
    const manager = new DockerSimManager({ ...sweepManagerOptions(spec, { baseDir: data.dir }), dataDirectory: local });
    manager.addSimJobs(expandSweep(spec, { baseDir: data.dir }));
    const summary = await manager.startComputation();
    expect({ succeeded: summary.succeeded, failed: summary.failed }).toEqual({ succeeded: summary.total, failed: 0 });
  }

  function exportSweep(spec: SweepSpec, shell = true): Promise<KubernetesObject[]> {
    return toKubernetes({ options: sweepManagerOptions(spec, { baseDir: data.dir }), jobs: expandSweep(spec, { baseDir: data.dir }) }, { volumeClaim: CLAIM, shell });
  }

  /** Runs the pod of every completion index once, in order. */
  async function runEveryIndex(objects: readonly KubernetesObject[]): Promise<PodRun[]> {
    const completions = (objects.find((o) => o.kind === 'Job')?.spec as { completions: number }).completions;
    const runs: PodRun[] = [];
    for (let index = 0; index < completions; index++) runs.push(await runPod(indexedJobPod(objects, index), objects, node));
    return runs;
  }

  test('a grid sweep: every index of the Indexed Job fills job_<name> on the claim as the local run fills it', async () => {
    const table = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a]); // not UTF-8: a binaryData key
    await writeFile(path.join(data.dir, 'table.bin'), table);
    const grid: SweepSpec = {
      image: SHELL_IMAGE,
      maxWorkers: 2,
      name: 'grid-{seed}-{size}',
      entrypoint: ['/bin/sh', '-c'],
      command: [
        'cd /mnt/data; printf "%s\\n" "$0" "$@" > argv.txt; printf "MODE=%s\\nLABEL=%s\\n" "$MODE" "$LABEL" > env.txt; ' +
          'cp input/params.cfg seen-params.cfg; cp /etc/sim/table.bin seen-table.bin; mkdir -p out; echo "result $1 $2" > out/result.txt; echo "done $1 $2"',
        'sim',
        '--seed={seed}',
        '{size}',
      ],
      env: { MODE: 'sweep run', LABEL: 'seed {seed}, size {size}' },
      parameters: { grid: { seed: [1, 2], size: ['small', 'large'] } },
      templates: [
        { content: 'seed={seed}\nsize={size}\n', target: '/mnt/data/input/params.cfg' },
        { source: 'table.bin', target: '/etc/sim/table.bin' },
      ],
    };
    const jobs = names(grid);
    expect(jobs).toHaveLength(4);

    await runLocally(grid);
    const objects = await exportSweep(grid);
    const runs = await runEveryIndex(objects);

    expect(runs.map((run) => run.phase)).toEqual(jobs.map(() => 'Succeeded'));
    expect((await readdir(claim)).filter((name) => name.startsWith('job_')).sort()).toEqual(jobs.map((job) => `job_${job}`).sort());
    for (const [index, job] of jobs.entries()) {
      const onClaim = path.join(claim, `job_${job}`);
      const locally = path.join(local, `job_${job}`);
      expect(await folderContents(onClaim)).toEqual(await folderContents(locally));
      // kubectl logs shows what the local stdout.log holds.
      expect(runs[index]?.containers.at(-1)?.stdout).toBe(await readFile(path.join(locally, 'stdout.log'), 'utf8'));
      // The claim links each completion index to its job's folder.
      expect(await realpath(path.join(claim, '.docker-sim-manager', 'kubernetes', 'dsim-sweep', String(index)))).toBe(await realpath(onClaim));
    }
    // The comparison is about real content: one job's files, spelled out.
    const last = path.join(claim, 'job_grid-2-large');
    expect(await readFile(path.join(last, 'argv.txt'), 'utf8')).toBe('sim\n--seed=2\nlarge\n');
    expect(await readFile(path.join(last, 'env.txt'), 'utf8')).toBe('MODE=sweep run\nLABEL=seed 2, size large\n');
    expect(await readFile(path.join(last, 'input', 'params.cfg'), 'utf8')).toBe('seed=2\nsize=large\n');
    expect(await readFile(path.join(last, 'seen-table.bin'))).toEqual(table);
  });

  /** Job 2 fails its first attempt after writing a file and changing its template; the second attempt succeeds. */
  const flaky: SweepSpec = {
    image: SHELL_IMAGE,
    name: 'flaky-{k}',
    entrypoint: ['/bin/sh', '-c'],
    command: ['cd /mnt/data; if [ "$0" = 2 ] && [ ! -d .attempt-1 ]; then echo partial > partial.txt; echo changed >> input.cfg; exit 3; fi; echo "ok $0" > result.txt', '{k}'],
    parameters: { grid: { k: [1, 2] } },
    templates: [{ content: 'k={k}\n', target: '/mnt/data/input.cfg' }],
    retries: 1,
    retryOn: ['exit-code'],
  };

  async function expectFlakyFolders(): Promise<void> {
    const onClaim = path.join(claim, 'job_flaky-2');
    expect(await folderContents(onClaim)).toEqual(await folderContents(path.join(local, 'job_flaky-2')));
    expect(await folderContents(path.join(claim, 'job_flaky-1'))).toEqual(await folderContents(path.join(local, 'job_flaky-1')));
    expect(await readFile(path.join(onClaim, '.attempt-1', 'partial.txt'), 'utf8')).toBe('partial\n');
    expect(await readFile(path.join(onClaim, '.attempt-1', 'input.cfg'), 'utf8')).toBe('k=2\nchanged\n');
    expect(await readFile(path.join(onClaim, 'input.cfg'), 'utf8')).toBe('k=2\n');
    expect(await readFile(path.join(onClaim, 'result.txt'), 'utf8')).toBe('ok 2\n');
  }

  test("Argo: a retried job's pod sets the first attempt's files aside in .attempt-1/ and writes its template afresh", async () => {
    await runLocally(flaky);
    const objects = await toArgoWorkflow({ options: sweepManagerOptions(flaky, { baseDir: data.dir }), jobs: expandSweep(flaky, { baseDir: data.dir }) }, { volumeClaim: CLAIM });
    const [one, two] = argoWorkflowPods(objects);
    expect((await runPod(one?.pod as Parameters<typeof runPod>[0], objects, node)).phase).toBe('Succeeded');
    const first = await runPod(two?.pod as Parameters<typeof runPod>[0], objects, node);
    expect({ phase: first.phase, exitCode: first.containers.at(-1)?.exitCode }).toEqual({ phase: 'Failed', exitCode: 3 });
    // Argo's retryStrategy (limit 1, exit codes retried) makes the same pod again.
    expect((await runPod(two?.pod as Parameters<typeof runPod>[0], objects, node)).phase).toBe('Succeeded');
    await expectFlakyFolders();
  });

  test("a retried index sets the first attempt's files aside in .attempt-1/, as a local retry does", async () => {
    await runLocally(flaky);
    const objects = await exportSweep(flaky);

    expect((await runPod(indexedJobPod(objects, 0), objects, node)).phase).toBe('Succeeded');
    const first = await runPod(indexedJobPod(objects, 1), objects, node);
    expect({ phase: first.phase, exitCode: first.containers.at(-1)?.exitCode }).toEqual({ phase: 'Failed', exitCode: 3 });
    expect(jobControllerOutcome(objects, [first])).toBe('retry'); // backoffLimitPerIndex: 1, and exit 3 counts
    expect((await runPod(indexedJobPod(objects, 1), objects, node)).phase).toBe('Succeeded');
    await expectFlakyFolders();
  });

  test("shell: false with identical jobs: no prepare step, the image's own entrypoint, a folder index_<i> per index", async () => {
    const repeats: SweepSpec = {
      image: MONTE_CARLO,
      name: 'mc-{rep}',
      command: ['-o', '/mnt/data', '-r', '7', '-i', '2000'],
      parameters: { grid: { rep: [1, 2, 3] } },
      readOnlyRootfs: true,
      tmpfs: ['/tmp'],
      capDrop: ['ALL'],
      noNewPrivileges: true,
    };
    await runLocally(repeats);
    const objects = await exportSweep(repeats, false);
    const podSpec = (objects.find((o) => o.kind === 'Job')?.spec as { template: { spec: { initContainers?: unknown; containers: Array<{ command?: unknown; args: unknown }> } } }).template.spec;
    expect(podSpec.initContainers).toBeUndefined();
    expect(podSpec.containers[0]).toMatchObject({ args: repeats.command });
    expect(podSpec.containers[0]?.command).toBeUndefined();

    const runs = await runEveryIndex(objects);
    expect(runs.map((run) => run.phase)).toEqual(['Succeeded', 'Succeeded', 'Succeeded']);
    expect((await readdir(claim)).sort()).toEqual(['index_0', 'index_1', 'index_2']);
    const locally = path.join(local, 'job_mc-1');
    expect(Number(await readFile(path.join(locally, 'pi.txt'), 'utf8'))).toBeCloseTo(3.14, 0);
    for (const [index, run] of runs.entries()) {
      expect(await folderContents(path.join(claim, `index_${index}`))).toEqual(await folderContents(locally));
      expect(run.containers.map((c) => c.stdout)).toEqual([await readFile(path.join(locally, 'stdout.log'), 'utf8')]);
    }
  });

  describe('an argument with $(HOME), quotes, spaces and ; reaches the job unchanged', () => {
    // `$$(CC)` is how a Makefile writes `$(CC)` for the shell; CC is also an env variable of the job.
    const tricky = `it's "quoted"; echo $(HOME) $HOME \`id\` & make LD=$$(CC) \\ done`;
    const script = 'cd /mnt/data; n=0; for a in "$@"; do n=$((n + 1)); printf %s "$a" > "arg$n"; done; printf %s "$SHARED" > shared-env; printf %s "$PER_JOB" > per-job-env';
    const jobs: SimJobOptions[] = [1, 2].map((n) => ({
      name: `q${n}`,
      entrypoint: ['/bin/sh', '-c'],
      command: [script, 'sh', `${tricky} #${n}`, tricky],
      env: { CC: 'cc -O2', SHARED: tricky, PER_JOB: `${tricky} #${n}` },
    }));
    const source = (): { options: { image: string; dataDirectory: string }; jobs: SimJobOptions[] } => ({ options: { image: SHELL_IMAGE, dataDirectory: local }, jobs });

    async function expectValuesArrived(folder: string, n: number): Promise<void> {
      const read = (file: string): Promise<string> => readFile(path.join(folder, file), 'utf8');
      expect({ arg1: await read('arg1'), arg2: await read('arg2'), shared: await read('shared-env'), perJob: await read('per-job-env') }).toEqual({
        arg1: `${tricky} #${n}`,
        arg2: tricky,
        shared: tricky,
        perJob: `${tricky} #${n}`,
      });
    }

    test('through the Kubernetes per-index script', async () => {
      const objects = await toKubernetes(source(), { volumeClaim: CLAIM });
      expect((await runEveryIndex(objects)).map((run) => run.phase)).toEqual(['Succeeded', 'Succeeded']);
      for (const n of [1, 2]) await expectValuesArrived(path.join(claim, `job_q${n}`), n);
    });

    test("through Argo's item and input parameters", async () => {
      const objects = await toArgoWorkflow(source(), { volumeClaim: CLAIM });
      const pods = argoWorkflowPods(objects);
      expect(pods.map(({ item }) => item.name)).toEqual(['q1', 'q2']);
      for (const { pod } of pods) expect((await runPod(pod, objects, node)).phase).toBe('Succeeded');
      for (const n of [1, 2]) await expectValuesArrived(path.join(claim, `job_q${n}`), n);
    });
  });
});
