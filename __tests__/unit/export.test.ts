/**
 * `toKubernetes` and `toArgoWorkflow` over the sweep-file features. Every generated object is validated offline
 * against the official schemas and the API server's own rules (helpers/kubernetes-schemas.ts): no cluster runs
 * here. The pods' containers themselves run on a real engine in integration/kubernetes-pods.test.ts.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { expandSweep, sweepManagerOptions, toArgoWorkflow, toKubernetes, toYaml, ValidationError, type ClusterOptions, type KubernetesObject, type SweepSpec } from '../../src/index.js';
import { dsim } from '../helpers/cli.js';
import { validateKubernetesObjects } from '../helpers/kubernetes-schemas.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GOLDEN = path.join(HERE, '..', 'fixtures', 'export');
const CLUSTER: ClusterOptions = { volumeClaim: 'sim-outputs', name: 'mc' };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-export-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The sweep as `dsim export` reads it: manager options and jobs, relative paths from `dir`. */
function source(spec: SweepSpec): { options: ReturnType<typeof sweepManagerOptions>; jobs: ReturnType<typeof expandSweep> } {
  return { options: sweepManagerOptions(spec, { baseDir: dir }), jobs: expandSweep(spec, { baseDir: dir }) };
}

function valid(objects: readonly KubernetesObject[]): readonly KubernetesObject[] {
  expect(validateKubernetesObjects(objects)).toEqual([]);
  return objects;
}

function only(objects: readonly KubernetesObject[], kind: string): KubernetesObject {
  const found = objects.filter((object) => object.kind === kind);
  expect(found).toHaveLength(1);
  return found[0] as KubernetesObject;
}

// Loosely typed access to generated objects' fields, for assertions.
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const spec = (object: KubernetesObject): Any => object.spec as Any;

/** A Monte Carlo grid: per-job arguments, a per-job env value, a per-job template in the folder, a shared one outside. */
const GRID: SweepSpec = {
  image: 'registry.example.org/lab/mc:1.0',
  maxWorkers: 4,
  name: 'mc-{seed}-{n}',
  entrypoint: ['python', '/sim.py'],
  command: ['--seed', '{seed}', '--iterations', '{n}'],
  env: { SIM_MODE: 'fast', SEED: '{seed}' },
  parameters: { grid: { seed: [1, 2, 3], n: [1000, 10000] } },
  templates: [
    { content: 'seed={seed}\n', target: '/mnt/data/input.cfg' },
    { content: 'shared\n', target: '/etc/sim/shared.cfg', mode: 0o600 },
  ],
  cpus: 1.5,
  memory: '512m',
  timeout: '30m',
  retries: 2,
  retryOn: ['oom', 'engine-error'],
  security: 'strict',
};

/** The index files of a Kubernetes export, by key. */
function indexFiles(objects: readonly KubernetesObject[]): Record<string, string> {
  return Object.assign({}, ...objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name?.includes('-jobs-')).map((o) => o.data as Record<string, string>));
}

describe('Kubernetes: one Indexed Job per sweep', () => {
  test('a grid sweep: completions, parallelism, per-index retries, resources, deadline, hardening; each index its own job', async () => {
    const objects = valid(await toKubernetes(source(GRID), CLUSTER));
    const job = only(objects, 'Job');
    expect(spec(job)).toMatchObject({ completionMode: 'Indexed', completions: 6, parallelism: 4, backoffLimitPerIndex: 2, ttlSecondsAfterFinished: 86_400 });
    const pod = spec(job).template.spec;
    expect(pod).toMatchObject({ restartPolicy: 'Never', activeDeadlineSeconds: 1800, terminationGracePeriodSeconds: 10 });
    const [main] = pod.containers;
    expect(main.resources).toEqual({ requests: { cpu: '1500m', memory: String(512 * 1024 ** 2) }, limits: { cpu: '1500m', memory: String(512 * 1024 ** 2) } });
    expect(main.securityContext).toEqual({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(main.volumeMounts).toContainEqual({ name: 'tmpfs-0', mountPath: '/tmp' });
    // network: 'none' of the strict preset: a NetworkPolicy that selects the sweep's pods and allows nothing.
    expect(spec(only(objects, 'NetworkPolicy'))).toEqual({ podSelector: { matchLabels: { 'docker-sim-manager.run': 'mc' } }, policyTypes: ['Ingress', 'Egress'] });
    // Disruptions (drain, eviction: the cluster's engine errors) and OOM kills (137) count against the index's
    // retries; any other non-zero exit fails the index at once.
    expect(spec(job).podFailurePolicy.rules).toEqual([
      { action: 'Count', onPodConditions: [{ type: 'DisruptionTarget' }] },
      { action: 'Count', onExitCodes: { containerName: 'main', operator: 'In', values: [137] } },
      { action: 'FailIndex', onExitCodes: { containerName: 'main', operator: 'NotIn', values: [0] } },
    ]);
    // Index 3 is the fourth job of the grid (seed 2, n 10000): its folder, its template, its argv and env.
    const files = indexFiles(objects);
    expect(Object.keys(files)).toHaveLength(6);
    expect(files['3.sh']).toBe(
      ['# job mc-2-10000', 'folder=job_mc-2-10000', 'prepare() { put 0 t0-3 input.cfg 644; :; }', 'run() { export SEED=2; exec python /sim.py --seed 2 --iterations 10000; }', ''].join('\n'),
    );
    expect(main.env).toContainEqual({ name: 'SIM_MODE', value: 'fast' });
    expect(main.env.map((e: Any) => e.name)).not.toContain('SEED');
    // The job folder is the index's link, made by the prepare step; the shared template is mounted read-only.
    expect(main.volumeMounts).toContainEqual({ name: 'outputs', mountPath: '/mnt/data', subPathExpr: '.docker-sim-manager/kubernetes/mc/$(DSIM_INDEX)' });
    expect(main.volumeMounts).toContainEqual({ name: 'template-1', mountPath: '/etc/sim/shared.cfg', readOnly: true, subPath: 't1' });
    expect(pod.volumes).toContainEqual({ name: 'template-1', projected: { defaultMode: 0o600, sources: [{ configMap: { name: 'mc-t1-0' } }] } });
    expect(pod.initContainers.map((c: Any) => c.name)).toEqual(['prepare']);
  });

  test('zip and list parameters, names that need sanitising as labels, a user, GPUs, init and failFast', async () => {
    const objects = valid(
      await toKubernetes(
        source({
          image: 'sim:2',
          name: '{case}',
          command: ['--case', '{case}', '--mesh', '{mesh}'],
          entrypoint: ['/bin/solver'],
          parameters: { zip: { case: ['Wing.A_01', 'Wing.B_02'], mesh: ['fine', 'coarse'] } },
          user: '1000:100',
          gpus: 1,
          init: true,
          failFast: true,
          labels: { project: 'cfd' },
        }),
        { ...CLUSTER, namespace: 'lab', serviceAccount: 'runner', imagePullSecrets: ['regcred'], nodeSelector: { 'nvidia.com/gpu.present': 'true' }, tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }], labels: { team: 'aero' } },
      ),
    );
    const job = only(objects, 'Job');
    const pod = spec(job).template.spec;
    expect(spec(job)).toMatchObject({ completions: 2, maxFailedIndexes: 0, backoffLimitPerIndex: 0 });
    expect(pod).toMatchObject({ securityContext: { runAsUser: 1000, runAsGroup: 100 }, shareProcessNamespace: true, serviceAccountName: 'runner', imagePullSecrets: [{ name: 'regcred' }] });
    expect(pod.containers[0].resources).toEqual({ limits: { 'nvidia.com/gpu': 1 } });
    expect(spec(job).template.metadata.labels).toMatchObject({ project: 'cfd', team: 'aero', 'docker-sim-manager.run': 'mc' });
    for (const object of objects) expect(object.metadata.namespace).toBe('lab');
    expect(indexFiles(objects)['1.sh']).toContain("folder=job_Wing.B_02\n");
  });

  test('jobs that share their command and env need no script: the image runs as it is, the prepare step only makes the folder', async () => {
    const objects = valid(await toKubernetes(source({ image: 'sim:3', command: ['--fast'], parameters: { list: [{ k: 1 }, { k: 2 }] } }), CLUSTER));
    const main = spec(only(objects, 'Job')).template.spec.containers[0];
    expect(main.command).toBeUndefined();
    expect(main.args).toEqual(['--fast']);
    expect(main.volumeMounts.map((m: Any) => m.name)).not.toContain('jobs');
    expect(Object.values(indexFiles(objects)).every((file) => !file.includes('run()'))).toBe(true);
  });

  test('shell: false (an image without /bin/sh): no prepare step, a folder per completion index, identical jobs only', async () => {
    const same: SweepSpec = { image: 'distroless-sim:1', command: ['--all'], parameters: { grid: { k: [1, 2, 3] } } };
    const objects = valid(await toKubernetes(source(same), { ...CLUSTER, shell: false }));
    const pod = spec(only(objects, 'Job')).template.spec;
    expect(pod.initContainers).toBeUndefined();
    expect(pod.containers[0].volumeMounts[0]).toEqual({ name: 'outputs', mountPath: '/mnt/data', subPathExpr: 'index_$(DSIM_INDEX)' });
    await expect(toKubernetes(source({ ...same, command: ['--k', '{k}'] }), { ...CLUSTER, shell: false })).rejects.toThrow(/kubernetes.shell is false.*export to Argo/s);
    // A template that goes into the job folder needs the prepare step, on both targets.
    const inFolder = { ...same, templates: [{ content: 'x', target: '/mnt/data/in.txt' }] };
    await expect(toKubernetes(source(inFolder), { ...CLUSTER, shell: false })).rejects.toMatchObject({ field: 'templates[0].target' });
    await expect(toArgoWorkflow(source(inFolder), { ...CLUSTER, shell: false })).rejects.toMatchObject({ field: 'templates[0].target' });
  });

  test('$( in a value is escaped: Kubernetes would expand it', async () => {
    const objects = valid(await toKubernetes(source({ image: 'sim:1', command: ['echo', '$(HOME)'], env: { GREETING: 'hi $(USER)' } }), CLUSTER));
    const main = spec(only(objects, 'Job')).template.spec.containers[0];
    expect(main.args).toEqual(['echo', '$$(HOME)']);
    expect(main.env).toContainEqual({ name: 'GREETING', value: 'hi $$(USER)' });
  });

  test('a big sweep stays below the API limits by construction: ConfigMaps split, more than 100,000 jobs become several Jobs', async () => {
    const objects = await toKubernetes(source({ image: 'sim:1', maxWorkers: 64, name: 'case-{i}', entrypoint: ['/bin/sim'], command: ['--i', '{i}', '--tag', 'a-long-argument-{i}'], parameters: { grid: { i: Array.from({ length: 100_001 }, (_, i) => i) } } }), CLUSTER);
    expect(validateKubernetesObjects(objects)).toEqual([]);
    const jobs = objects.filter((o) => o.kind === 'Job');
    expect(jobs.map((j) => [j.metadata.name, spec(j).completions, spec(j).parallelism])).toEqual([
      ['mc-p0', 100_000, 32],
      ['mc-p1', 1, 1],
    ]);
    const maps = objects.filter((o) => o.kind === 'ConfigMap');
    expect(maps.length).toBeGreaterThan(5);
    // Every index of every part is in exactly one ConfigMap, and each Job projects exactly its own.
    const p0Keys = maps.filter((m) => m.metadata.name?.startsWith('mc-p0-jobs-')).flatMap((m) => Object.keys(m.data as object));
    expect(new Set(p0Keys).size).toBe(100_000);
    const sources = spec(jobs[0] as KubernetesObject).template.spec.volumes.find((v: Any) => v.name === 'jobs').projected.sources.map((s: Any) => s.configMap.name);
    expect(sources).toEqual(maps.filter((m) => m.metadata.name?.startsWith('mc-p0-jobs-')).map((m) => m.metadata.name));
  }, 120_000);
});

describe('Argo Workflows: one Workflow, one template fanned out', () => {
  test('a grid sweep: items carry only what differs; retries, deadline, parallelism, podGC and TTL', async () => {
    const objects = valid(await toArgoWorkflow(source(GRID), CLUSTER));
    const workflow = only(objects, 'Workflow');
    const s = spec(workflow);
    expect(s).toMatchObject({ entrypoint: 'sweep', parallelism: 4, podGC: { strategy: 'OnPodSuccess' }, ttlStrategy: { secondsAfterCompletion: 86_400 } });
    const [sweep, job] = s.templates;
    const step = sweep.steps[0][0];
    expect(step.withItems).toHaveLength(6);
    expect(step.withItems[3]).toEqual({ i: '3', name: 'mc-2-10000', label: 'mc-2-10000', a1: '2', a3: '10000', e0: '2' });
    expect(job.container.command).toEqual(['python', '/sim.py']);
    expect(job.container.args).toEqual(['--seed', '{{inputs.parameters.a1}}', '--iterations', '{{inputs.parameters.a3}}']);
    expect(job.container.env).toEqual([
      { name: 'SIM_MODE', value: 'fast' },
      { name: 'SEED', value: '{{inputs.parameters.e0}}' },
    ]);
    expect(job.container.volumeMounts[0]).toEqual({ name: 'outputs', mountPath: '/mnt/data', subPath: 'job_{{inputs.parameters.name}}' });
    // The template that goes into the job folder is written there by the prepare step, which also sets an
    // earlier attempt's files aside; the one outside is mounted.
    expect(job.container.volumeMounts[1]).toEqual({ name: 'template-1', mountPath: '/etc/sim/shared.cfg', readOnly: true, subPath: 't1' });
    const [prepare] = job.initContainers;
    expect(prepare.volumeMounts[0]).toEqual({ name: 'outputs', mountPath: '/dsim/folder', subPath: 'job_{{inputs.parameters.name}}' });
    expect(prepare.command[2]).toMatch(/\nput 0 t0-\{\{inputs\.parameters\.i\}\} input\.cfg 644\n$/);
    expect(job.activeDeadlineSeconds).toBe(1800);
    expect(job.retryStrategy).toEqual({ limit: 2, retryPolicy: 'Always', expression: 'lastRetry.status == "Error" || (asInt(lastRetry.exitCode) == 137 && !(lastRetry.message matches "deadline"))' });
    expect(job.metadata.labels).toEqual({ 'docker-sim-manager.job': '{{inputs.parameters.label}}' });
  });

  test('every reason retried: no expression; a backoff as Argo writes it; failFast on the fan-out', async () => {
    const objects = valid(
      await toArgoWorkflow(source({ image: 'sim:1', command: ['-r', '{r}'], parameters: { grid: { r: [1, 2] } }, retries: 3, retryOn: ['exit-code', 'oom', 'timeout', 'engine-error'], backoff: { initialDelay: '5s', factor: 3, maxDelay: '2m' }, failFast: true }), CLUSTER),
    );
    const [sweep, job] = spec(only(objects, 'Workflow')).templates;
    expect(job.retryStrategy).toEqual({ limit: 3, retryPolicy: 'Always', backoff: { duration: '5s', factor: 3, cap: '120s' } });
    expect(JSON.parse(job.podSpecPatch)).toEqual({ terminationGracePeriodSeconds: 10 });
    expect(sweep.failFast).toBe(true);
  });

  test('a large fan-out moves its items into ConfigMaps read with withParam; the Workflow stays small', async () => {
    const objects = await toArgoWorkflow(source({ image: 'sim:1', maxWorkers: 16, name: 'tile-{x}-{y}', command: ['--x', '{x}', '--y', '{y}'], parameters: { grid: { x: Array.from({ length: 300 }, (_, i) => i), y: Array.from({ length: 300 }, (_, i) => i) } } }), CLUSTER);
    expect(validateKubernetesObjects(objects)).toEqual([]);
    const workflow = only(objects, 'Workflow');
    expect(Buffer.byteLength(JSON.stringify(workflow))).toBeLessThan(64 * 1024);
    const s = spec(workflow);
    const maps = objects.filter((o) => o.kind === 'ConfigMap');
    expect(s.arguments.parameters).toEqual(maps.map((m, n) => ({ name: `items-${n}`, valueFrom: { configMapKeyRef: { name: m.metadata.name, key: 'items' } } })));
    expect(s.templates[0].steps[0].map((step: Any) => step.withParam)).toEqual(maps.map((_, n) => `{{workflow.parameters.items-${n}}}`));
    const items = maps.flatMap((m) => JSON.parse((m.data as Record<string, string>).items as string) as Any[]);
    expect(items).toHaveLength(90_000);
    expect(items[90_000 - 1]).toMatchObject({ name: 'tile-299-299', a1: '299', a3: '299' });
  }, 60_000);
});

describe('what a target cannot express is refused, naming the job, the setting and the target', () => {
  const refusal = async (sweep: Partial<SweepSpec>, target: 'kubernetes' | 'argo', cluster: ClusterOptions = CLUSTER): Promise<ValidationError> => {
    const run = target === 'kubernetes' ? toKubernetes : toArgoWorkflow;
    const error = await run(source({ image: 'sim:1', command: ['x'], ...sweep } as SweepSpec), cluster).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  };

  test.each([
    [{ memory: '1g', growOnRetry: { memory: 2 }, retries: 2, retryOn: 'oom' as const }, /memory.*cannot express.*same resources/s],
    [{ inactivityTimeout: '5m' }, /inactivityTimeout.*watches a job's output/s],
    [{ timeout: '1m', growOnRetry: { timeout: 2 }, retries: 2, retryOn: 'timeout' as const }, /`timeout`.*same resources and deadline/s],
    [{ labels: { project: 'my sweep' } }, /not a Kubernetes label value/],
    [{ collect: ['/tmp/out'] }, /collect.*under the mount path/s],
    [{ maxLogBytes: 1000 }, /maxLogBytes/],
    [{ pidsLimit: 100 }, /pidsLimit.*podPidsLimit/s],
    [{ gpus: 'all' as const }, /gpus.*give the number/is],
    [{ network: 'host' }, /network.*only network 'none'/s],
    [{ user: 'simuser' }, /user.*numeric ids/s],
    [{ env: { API_TOKEN: 'abcdef' } }, /API_TOKEN.*looks like a secret.*envFromSecrets/s],
    [{ executionMode: 'pool' as const }, /executionMode 'pool'/],
  ])('%j on both targets', async (sweep, message) => {
    for (const target of ['kubernetes', 'argo'] as const) {
      const error = await refusal(sweep, target);
      expect(error.message).toMatch(message);
      if (!('executionMode' in sweep) && !('labels' in sweep)) expect(error.message).toMatch(target === 'kubernetes' ? /Kubernetes|Job/ : /Argo/);
      // A secret's value is never printed, not even in the error.
      expect(error.message).not.toContain('abcdef');
    }
  });

  test('Kubernetes: a backoff, a timeout retried apart from exit codes, a process that differs without an entrypoint', async () => {
    expect((await refusal({ retries: 1, backoff: { initialDelay: '1s' } }, 'kubernetes')).message).toMatch(/backoff cannot be set.*--to argo/s);
    expect((await refusal({ retries: 1, timeout: '1m', retryOn: ['timeout'] }, 'kubernetes')).field).toBe('retryOn');
    const error = await refusal({ command: ['-n', '{n}'], parameters: { grid: { n: [1, 2] } } }, 'kubernetes');
    expect(error.field).toBe('entrypoint');
    expect(error.message).toMatch(/docker image inspect/);
  });

  test('Kubernetes: maxFailures becomes maxFailedIndexes, never above the completions', async () => {
    const spec3 = async (maxFailures: number): Promise<Any> => spec(only(valid(await toKubernetes(source({ image: 'sim:1', command: ['x'], parameters: { grid: { k: [1, 2, 3] } }, maxFailures }), CLUSTER)), 'Job'));
    expect((await spec3(2)).maxFailedIndexes).toBe(1);
    expect((await spec3(10)).maxFailedIndexes).toBe(3);
  });

  test('Argo: maxFailures, argument lists of different lengths, a value with {{', async () => {
    expect((await refusal({ maxFailures: 3 }, 'argo')).message).toMatch(/failFast/);
    const options = { image: 'sim:1', dataDirectory: dir };
    const lengths = await toArgoWorkflow({ options, jobs: [{ name: 'a', command: ['-n', '1'] }, { name: 'b', command: ['-n', '1', '-v'] }] }, CLUSTER).catch((e: unknown) => e);
    expect(lengths).toMatchObject({ field: 'jobs[b].command', message: expect.stringMatching(/fixed list of arguments/) });
    const braces = await toArgoWorkflow({ options, jobs: [{ name: 'a', env: { X: '{{workflow.name}}' } }] }, CLUSTER).catch((e: unknown) => e);
    expect(braces).toMatchObject({ field: 'jobs[a].env.X', message: expect.stringMatching(/'\{\{' starts an Argo variable/) });
  });

  test('bad cluster options name the field; a missing volumeClaim says what to add', async () => {
    expect((await refusal({}, 'kubernetes', {} as ClusterOptions)).field).toBe('kubernetes.volumeClaim');
    expect((await refusal({}, 'kubernetes', { volumeClaim: 'Bad_Name' })).field).toBe('kubernetes.volumeClaim');
    expect((await refusal({}, 'argo', { ...CLUSTER, labels: { team: 'a b' } })).field).toBe('kubernetes.labels.team');
    expect((await refusal({}, 'argo', { ...CLUSTER, tolerations: [{ key: 'x', operator: 'Exists', tolerationSeconds: 5 }] })).field).toBe('kubernetes.tolerations[0].effect');
    expect((await refusal({}, 'argo', { ...CLUSTER, volumeClame: 'x' } as ClusterOptions)).message).toMatch(/did you mean `volumeClaim`/i);
  });
});

describe('golden files (read by a human once; regenerate with UPDATE_GOLDEN=1)', () => {
  test.each([
    ['kubernetes', 'grid'],
    ['argo', 'grid'],
  ] as const)('%s export of the %s sweep', async (target, name) => {
    await writeFile(path.join(dir, 'shared.cfg'), 'tolerance = 1e-6\n');
    const sweep: SweepSpec = { ...GRID, templates: [...(GRID.templates ?? []), { source: 'shared.cfg', target: '/etc/sim/solver.cfg' }] };
    const objects = valid(await (target === 'kubernetes' ? toKubernetes : toArgoWorkflow)(source(sweep), { ...CLUSTER, namespace: 'lab' }));
    const yaml = toYaml(objects, `dsim export --to ${target}`);
    const file = path.join(GOLDEN, `${target}-${name}.yaml`);
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(file, yaml);
    expect(yaml).toBe(await readFile(file, 'utf8'));
  });
});

describe('dsim export', () => {
  const SWEEP = ['image: sim:1', 'entrypoint: [/bin/sim]', 'command: [--seed, "{seed}"]', 'parameters:', '  grid:', '    seed: [1, 2]', 'kubernetes:', '  volumeClaim: sim-outputs', ''].join('\n');

  test('YAML on stdout by default; --output writes the file whole and never replaces one unasked', async () => {
    await writeFile(path.join(dir, 'sweep.yaml'), SWEEP);
    const printed = await dsim(['export', 'sweep.yaml', '--to', 'kubernetes'], { cwd: dir });
    expect(printed.code).toBe(0);
    const documents = parseAllDocuments(printed.stdout).map((d) => d.toJS() as KubernetesObject);
    expect(validateKubernetesObjects(documents)).toEqual([]);
    expect(documents.find((d) => d.kind === 'Job')?.metadata.name).toBe('dsim-sweep');

    const written = await dsim(['export', 'sweep.yaml', '--to', 'argo', '--output', 'wf.yaml'], { cwd: dir });
    expect(written).toMatchObject({ code: 0, stdout: '' });
    const text = await readFile(path.join(dir, 'wf.yaml'), 'utf8');
    expect(parseAllDocuments(text).map((d) => (d.toJS() as KubernetesObject).kind)).toEqual(['Workflow']);

    const again = await dsim(['export', 'sweep.yaml', '--to', 'kubernetes', '--output', 'wf.yaml'], { cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/wf\.yaml exists.*--force/);
    expect(await readFile(path.join(dir, 'wf.yaml'), 'utf8')).toBe(text);
    expect((await dsim(['export', 'sweep.yaml', '--to', 'kubernetes', '--output', 'wf.yaml', '--force'], { cwd: dir })).code).toBe(0);
    expect(await readFile(path.join(dir, 'wf.yaml'), 'utf8')).toMatch(/kind: Job/);
  }, 60_000);

  test('--output into a folder that does not exist: exit code 2, the folder named', async () => {
    await writeFile(path.join(dir, 'sweep.yaml'), SWEEP);
    const run = await dsim(['export', 'sweep.yaml', '--to', 'kubernetes', '-o', 'no-such-folder/out.yaml'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Cannot write no-such-folder\/out\.yaml \(ENOENT\): its folder does not exist/);
  }, 30_000);

  test('bad input: exit code 2, the reason on stderr, nothing written', async () => {
    await writeFile(path.join(dir, 'no-claim.yaml'), SWEEP.replace(/kubernetes:\n {2}volumeClaim: sim-outputs\n/, ''));
    await writeFile(path.join(dir, 'pool.yaml'), `${SWEEP}executionMode: pool\n`);
    for (const [args, message] of [
      [['export', 'no-claim.yaml', '--to', 'kubernetes', '-o', 'out.yaml'], /kubernetes\.volumeClaim/],
      [['export', 'pool.yaml', '--to', 'argo', '-o', 'out.yaml'], /executionMode 'pool'/],
      [['export', 'no-claim.yaml', '--to', 'nomad', '-o', 'out.yaml'], /--to must be 'kubernetes' or 'argo'/],
      [['export', 'missing.yaml', '--to', 'argo', '-o', 'out.yaml'], /Cannot read the sweep file/],
    ] as const) {
      const run = await dsim([...args], { cwd: dir });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(existsSync(path.join(dir, 'out.yaml'))).toBe(false);
    }
  }, 60_000);
});
