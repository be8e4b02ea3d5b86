import { validateKubernetesObjects } from '../helpers/kubernetes-schemas.js';

/** A hand-written Indexed Job of the kind the export generator emits: one pod per sweep row, parameters from a ConfigMap. */
function indexedJob(): Record<string, any> {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: 'sweep-monte-carlo',
      namespace: 'sims',
      labels: { 'app.kubernetes.io/managed-by': 'docker-sim-manager', 'docker-sim-manager/sweep': 'monte-carlo' },
      annotations: { 'docker-sim-manager/source': 'sweep.yaml' },
    },
    spec: {
      completionMode: 'Indexed',
      completions: 4,
      parallelism: 2,
      backoffLimitPerIndex: 1,
      maxFailedIndexes: 2,
      ttlSecondsAfterFinished: 3600,
      podFailurePolicy: {
        rules: [
          { action: 'FailIndex', onExitCodes: { containerName: 'sim', operator: 'In', values: [2, 42] } },
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      template: {
        metadata: { labels: { 'docker-sim-manager/sweep': 'monte-carlo' } },
        spec: {
          restartPolicy: 'Never',
          initContainers: [{ name: 'prepare', image: 'busybox:1.36', command: ['sh', '-c', 'mkdir -p /out/run'], volumeMounts: [{ name: 'out', mountPath: '/out' }] }],
          containers: [
            {
              name: 'sim',
              image: 'registry.example/sim:1.2',
              command: ['python', 'sim.py'],
              args: ['--params', '/params/row-$(JOB_COMPLETION_INDEX).json'],
              env: [{ name: 'ROW', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } }],
              resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { cpu: 1, memory: '1Gi' } },
              volumeMounts: [
                { name: 'params', mountPath: '/params', readOnly: true },
                { name: 'out', mountPath: '/out', subPath: 'run' },
              ],
            },
          ],
          volumes: [
            { name: 'params', configMap: { name: 'sweep-monte-carlo-params' } },
            { name: 'out', emptyDir: {} },
          ],
        },
      },
    },
  };
}

function paramsConfigMap(): Record<string, any> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'sweep-monte-carlo-params', namespace: 'sims', labels: { 'app.kubernetes.io/managed-by': 'docker-sim-manager' } },
    data: Object.fromEntries([0, 1, 2, 3].map((i) => [`row-${i}.json`, JSON.stringify({ seed: i, iterations: 1000 })])),
    binaryData: { 'seed.bin': Buffer.from([1, 2, 3]).toString('base64') },
  };
}

function workflow(): Record<string, any> {
  const run = (i: number) => ({ name: `run-${i}`, template: 'run', arguments: { parameters: [{ name: 'row', value: String(i) }] } });
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { generateName: 'sweep-monte-carlo-', labels: { 'docker-sim-manager/sweep': 'monte-carlo' } },
    spec: {
      entrypoint: 'sweep',
      parallelism: 2,
      onExit: 'collect',
      volumes: [{ name: 'params', configMap: { name: 'sweep-monte-carlo-params' } }],
      templates: [
        { name: 'sweep', dag: { tasks: [run(0), { ...run(1), dependencies: ['run-0'] }] } },
        { name: 'sweep-steps', steps: [[{ ...run(0) }, { ...run(1) }], [{ name: 'collect', template: 'collect' }]] },
        {
          name: 'run',
          inputs: { parameters: [{ name: 'row' }] },
          retryStrategy: { limit: '2', retryPolicy: 'OnFailure' },
          // No container name: Argo names the main container itself (its CRD drops the core/v1 `required: name`).
          container: {
            image: 'registry.example/sim:1.2',
            args: ['--params', '/params/row-{{inputs.parameters.row}}.json'],
            volumeMounts: [{ name: 'params', mountPath: '/params' }],
          },
        },
        { name: 'collect', script: { image: 'python:3.12', command: ['python'], source: 'print("done")' } },
      ],
    },
  };
}

/** A problem mentioning every fragment exists (and the list is shown when it does not). */
function expectProblem(problems: string[], ...fragments: string[]): void {
  const match = problems.find((p) => fragments.every((f) => p.includes(f)));
  if (!match) throw new Error(`no problem mentions ${JSON.stringify(fragments)}; problems were:\n${problems.join('\n') || '(none)'}`);
}

describe('validateKubernetesObjects', () => {
  test('a valid Indexed Job with its ConfigMap and a valid Workflow pass', () => {
    expect(validateKubernetesObjects([paramsConfigMap(), indexedJob(), workflow()])).toEqual([]);
  });

  test('an unknown kind and a non-object are problems', () => {
    const problems = validateKubernetesObjects([{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } }, 'nope']);
    expectProblem(problems, 'Deployment/x', 'apiVersion', 'unsupported apiVersion/kind "apps/v1/Deployment"');
    expectProblem(problems, 'objects[1]', 'not an object');
  });

  test('unknown fields are refused at any depth (the schema packages alone accept them)', () => {
    const job = indexedJob();
    job.spec.completion = 4;
    job.spec.template.spec.containers[0].volumeMount = [];
    job.spec.template.spec.volumes[0].configMap.itemz = [];
    const cm = paramsConfigMap();
    cm.datas = {};
    const wf = workflow();
    wf.spec.templates[0].dag.tasks[0].argument = {};
    wf.spec.templates[1].steps[0][1].bogus = true;
    const problems = validateKubernetesObjects([job, cm, wf]);
    expectProblem(problems, 'Job/sweep-monte-carlo', 'spec.completion:', 'unknown field');
    expectProblem(problems, 'spec.template.spec.containers[0].volumeMount:', 'unknown field');
    expectProblem(problems, 'spec.template.spec.volumes[0].configMap.itemz:', 'unknown field');
    expectProblem(problems, 'ConfigMap/sweep-monte-carlo-params', 'datas:', 'unknown field');
    expectProblem(problems, 'Workflow/sweep-monte-carlo-*', 'spec.templates[0].dag.tasks[0].argument:', 'unknown field');
    expectProblem(problems, 'spec.templates[1].steps[0][1].bogus:', 'unknown field');
    expect(problems).toHaveLength(6);
  });

  test('schema errors name the field: wrong types, bad enums, missing required fields', () => {
    const job = indexedJob();
    job.spec.completions = '4';
    job.spec.completionMode = 'Indexes';
    delete job.spec.template.spec.containers[0].name;
    job.spec.template.spec.containers[0].resources.limits.cpu = 'lots';
    const problems = validateKubernetesObjects([job]);
    expectProblem(problems, 'spec.completions:', 'must be integer');
    expectProblem(problems, 'spec.completionMode:', '"Indexed", "NonIndexed"');
    expectProblem(problems, 'spec.template.spec.containers[0].name:', 'is required');
    expectProblem(problems, 'spec.template.spec.containers[0].resources.limits.cpu:', 'quantity');
  });

  test('a Job name over 63 characters is refused (pods are labelled job-name=<name>)', () => {
    const job = indexedJob();
    job.metadata.name = 'a'.repeat(64);
    const problems = validateKubernetesObjects([job]);
    expectProblem(problems, 'metadata.name:', 'at most 63', 'batch.kubernetes.io/job-name');
    const cm = paramsConfigMap();
    cm.metadata.name = 'a'.repeat(64); // a ConfigMap name may be a 253-character DNS subdomain
    expect(validateKubernetesObjects([cm])).toEqual([]);
  });

  test('an Indexed Job whose last pod hostname "<name>-<completions-1>" is over 63 characters is refused', () => {
    const job = indexedJob();
    job.metadata.name = 'a'.repeat(60);
    job.spec.completions = 1000;
    job.spec.maxFailedIndexes = 10;
    expectProblem(validateKubernetesObjects([job]), 'metadata.name:', `"${'a'.repeat(60)}-999"`, 'DNS-1123 label');
  });

  test('bad names: DNS subdomains, label keys and values on every metadata, annotation size', () => {
    const job = indexedJob();
    job.metadata.labels['docker-sim-manager/seed'] = '-1';
    job.spec.template.metadata.labels['docker-sim-manager/param'] = 'x'.repeat(64);
    job.spec.template.metadata.labels['Bad_Prefix/key'] = 'v';
    job.metadata.annotations.big = 'x'.repeat(256 * 1024);
    const cm = paramsConfigMap();
    cm.metadata.name = 'Sweep_Params';
    const wf = workflow();
    wf.spec.templates[2].metadata = { labels: { 'docker-sim-manager/row': 'a b' } };
    const problems = validateKubernetesObjects([job, cm, wf]);
    expectProblem(problems, 'metadata.labels["docker-sim-manager/seed"]:', 'label value "-1"');
    expectProblem(problems, 'spec.template.metadata.labels["docker-sim-manager/param"]:', 'no more than 63');
    expectProblem(problems, 'spec.template.metadata.labels["Bad_Prefix/key"]:', 'prefix part');
    expectProblem(problems, 'metadata.annotations:', `at most ${256 * 1024} bytes`);
    expectProblem(problems, 'ConfigMap/Sweep_Params', 'metadata.name:', 'DNS-1123 subdomain');
    expectProblem(problems, 'spec.templates[2].metadata.labels["docker-sim-manager/row"]:', 'label value "a b"');
  });

  test('pod spec: a volumeMount to a missing volume, duplicate names, a repeated mountPath', () => {
    const job = indexedJob();
    const pod = job.spec.template.spec;
    pod.containers[0].volumeMounts.push({ name: 'results', mountPath: '/results' });
    pod.containers[0].volumeMounts.push({ name: 'out', mountPath: '/params' });
    pod.initContainers[0].name = 'sim';
    pod.volumes.push({ name: 'Out_2', emptyDir: {} });
    const wf = workflow();
    wf.spec.templates[2].container.volumeMounts[0].name = 'parms';
    const problems = validateKubernetesObjects([job, wf]);
    expectProblem(problems, 'spec.template.spec.containers[0].volumeMounts[2].name:', 'volume "results", which is not declared');
    expectProblem(problems, 'spec.template.spec.containers[0].volumeMounts[3].mountPath:', 'must be unique');
    expectProblem(problems, 'spec.template.spec.containers[0].name:', 'duplicate container name "sim"');
    expectProblem(problems, 'spec.template.spec.volumes[2].name:', 'DNS-1123 label');
    expectProblem(problems, 'Workflow/', 'spec.templates[2].container.volumeMounts[0].name:', 'volume "parms"');
  });

  test('a ConfigMap over 1 MiB of data, and bad keys, are refused', () => {
    const cm = paramsConfigMap();
    cm.data['rows.csv'] = 'x'.repeat(1024 * 1024);
    cm.data['bad key'] = '';
    cm.data['..hidden'] = '';
    cm.binaryData['row-0.json'] = '';
    const problems = validateKubernetesObjects([cm]);
    expectProblem(problems, 'data:', 'must have at most 1048576 bytes');
    expectProblem(problems, '(object):', 'serialized size', 'over 1048576 bytes');
    expectProblem(problems, 'data["bad key"]:', 'alphanumeric');
    expectProblem(problems, 'data["..hidden"]:', "start with '..'");
    expectProblem(problems, 'binaryData["row-0.json"]:', 'duplicate of data key');
  });

  test('Indexed limits: parallelism, and completions above 100000 with backoffLimitPerIndex', () => {
    const wide = indexedJob();
    wide.spec.parallelism = 100_001;
    expectProblem(validateKubernetesObjects([wide]), 'spec.parallelism:', 'less than or equal to 100000 when completionMode is Indexed');

    const many = indexedJob();
    many.metadata.name = 'mc';
    many.spec.completions = 200_000;
    many.spec.parallelism = 20_000;
    delete many.spec.maxFailedIndexes;
    const problems = validateKubernetesObjects([many]);
    expectProblem(problems, 'spec.maxFailedIndexes:', 'is required when completions (200000) is above 100000');
    expectProblem(problems, 'spec.parallelism:', 'less than or equal to 10000 when completions (200000) is above 100000');

    const failedIndexes = indexedJob();
    failedIndexes.spec.maxFailedIndexes = 5;
    expectProblem(validateKubernetesObjects([failedIndexes]), 'spec.maxFailedIndexes:', 'less than or equal to completions (4)');

    const noCompletions = indexedJob();
    delete noCompletions.spec.completions;
    delete noCompletions.spec.maxFailedIndexes;
    expectProblem(validateKubernetesObjects([noCompletions]), 'spec.completions:', 'required when completionMode is Indexed');
  });

  test('restartPolicy: OnFailure with backoffLimitPerIndex or podFailurePolicy, and a missing one, are refused', () => {
    const perIndex = indexedJob();
    delete perIndex.spec.podFailurePolicy;
    perIndex.spec.template.spec.restartPolicy = 'OnFailure';
    const perIndexProblems = validateKubernetesObjects([perIndex]);
    expectProblem(perIndexProblems, 'spec.template.spec.restartPolicy:', 'must be "Never" when spec.backoffLimitPerIndex is set');
    expect(perIndexProblems).toHaveLength(1);

    const policy = indexedJob();
    delete policy.spec.backoffLimitPerIndex;
    delete policy.spec.maxFailedIndexes;
    policy.spec.podFailurePolicy.rules.shift();
    policy.spec.template.spec.restartPolicy = 'OnFailure';
    expectProblem(validateKubernetesObjects([policy]), 'spec.template.spec.restartPolicy:', 'only "Never" is supported when podFailurePolicy is specified');

    const missing = indexedJob();
    delete missing.spec.template.spec.restartPolicy;
    expectProblem(validateKubernetesObjects([missing]), 'spec.template.spec.restartPolicy:', 'is required for a Job');
  });

  test('other Job rules: per-index fields need Indexed, FailIndex needs backoffLimitPerIndex, selectors are generated', () => {
    const job = indexedJob();
    job.spec.completionMode = 'NonIndexed';
    job.spec.selector = { matchLabels: { a: 'b' } };
    job.spec.podFailurePolicy.rules[0].onExitCodes.containerName = 'simulator';
    job.spec.podFailurePolicy.rules[0].onExitCodes.values = [42, 2, 0];
    const problems = validateKubernetesObjects([job]);
    expectProblem(problems, 'spec.backoffLimitPerIndex:', 'requires completionMode Indexed');
    expectProblem(problems, 'spec.maxFailedIndexes:', 'requires completionMode Indexed');
    expectProblem(problems, 'spec.selector:', 'manualSelector');
    expectProblem(problems, 'spec.podFailurePolicy.rules[0].onExitCodes.containerName:', '"simulator"');
    expectProblem(problems, 'spec.podFailurePolicy.rules[0].onExitCodes.values:', 'must be ordered');
    expectProblem(problems, 'spec.podFailurePolicy.rules[0].onExitCodes.values:', 'must not contain 0 for the In operator');

    const failIndex = indexedJob();
    delete failIndex.spec.backoffLimitPerIndex;
    delete failIndex.spec.maxFailedIndexes;
    expectProblem(validateKubernetesObjects([failIndex]), 'spec.podFailurePolicy.rules[0].action:', 'FailIndex requires spec.backoffLimitPerIndex');
  });

  test('Workflow: missing templates, parallelism below 1, the object form of steps, bad template names', () => {
    const wf = workflow();
    wf.spec.entrypoint = 'main';
    wf.spec.onExit = 'cleanup';
    wf.spec.parallelism = 0;
    wf.spec.templates[0].parallelism = 0;
    wf.spec.templates[0].dag.tasks[1].template = 'runn';
    wf.spec.templates[0].dag.tasks[1].dependencies = ['run-9'];
    wf.spec.templates[1].steps[1].push({ name: 'run-0', template: 'run', arguments: { parameters: [{ name: 'row', value: '0' }] } });
    wf.spec.templates[1].steps.push({ steps: [{ name: 'late', template: 'run' }] });
    wf.spec.templates[3].name = 'collect_results';
    const problems = validateKubernetesObjects([wf]);
    expectProblem(problems, 'spec.entrypoint:', 'template "main", which is not in spec.templates');
    expectProblem(problems, 'spec.onExit:', 'template "cleanup"');
    expectProblem(problems, 'spec.parallelism:', 'must be at least 1');
    expectProblem(problems, 'spec.templates[0].parallelism:', 'must be at least 1');
    expectProblem(problems, 'spec.templates[0].dag.tasks[1].template:', 'template "runn"');
    expectProblem(problems, 'spec.templates[0].dag.tasks[1].dependencies[0]:', 'task "run-9"');
    expectProblem(problems, 'spec.templates[1].steps[1][1].name:', 'duplicate name "run-0"');
    expectProblem(problems, 'spec.templates[1].steps[2]:', 'bare list');
    expectProblem(problems, 'spec.templates[3].name:', '"collect_results"');
  });

  test('objects over the serialized-size bound and duplicate objects are refused', () => {
    const job = indexedJob();
    job.spec.template.spec.containers[0].env.push({ name: 'BLOB', value: 'x'.repeat(1024 * 1024) });
    expectProblem(validateKubernetesObjects([job]), 'Job/sweep-monte-carlo', '(object):', 'serialized size');
    expectProblem(validateKubernetesObjects([paramsConfigMap(), paramsConfigMap()]), 'objects[1]', 'duplicate of objects[0]');
  });
});
