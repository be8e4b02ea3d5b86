/**
 * The pool's resident runner against a real engine: jobs start as child processes of one runner per worker, with
 * no engine call per job; a stopped job's whole process tree goes, TERM then KILL, and the worker serves on;
 * children a job leaves behind are killed; a worker whose runner dies is replaced and its job is an engine error.
 */
import { readFile } from 'node:fs/promises';
import { DockerSimManager, EngineError, JobTimeoutError, LABELS, type RunSummary } from '../../src/index.js';
import { SHELL_IMAGE, describeEngine, docker, packageContainers, useEngineSuite } from '../helpers/engine.js';

/** Exec creations in the workers of the run `run` makes, read from the engine's event stream. */
async function execsDuring(run: () => Promise<RunSummary>): Promise<{ value: RunSummary; execs: number }> {
  const since = Math.floor(Date.now() / 1000) - 1;
  const value = await run();
  const until = Math.ceil(Date.now() / 1000) + 1;
  const stream = (await docker.getEvents({ since, until, filters: { type: ['container'], event: ['exec_create'], label: [`${LABELS.run}=${value.runId}`] } })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return { value, execs: text.split('\n').filter((line) => line.trim() !== '').length };
}

describeEngine('the resident runner of pool workers, on a real engine', () => {
  const data = useEngineSuite({ expectNoLeftovers: true });

  test('40 jobs at 2 workers: each with its own argv, env, folder and output, and no engine call per job', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 2, dataDirectory: data.dir, executionMode: 'pool', defaults: { network: 'none' } });
    for (let i = 1; i <= 40; i++) manager.addSimJob({ name: `J${i}`, command: [`echo "$N:$(id -u):$(pwd)"; echo err$N >&2; echo $N > /mnt/data/n.txt`], env: { N: String(i) }, workingDir: '/tmp' });
    const { value: summary, execs } = await execsDuring(() => manager.startComputation());
    expect(summary.succeeded).toBe(40);
    for (const result of summary.results) {
      const n = result.name.slice(1);
      expect(await readFile(result.stdoutFile, 'utf8')).toBe(`${n}:${process.getuid?.() ?? 0}:/tmp\n`);
      expect(await readFile(result.stderrFile, 'utf8')).toBe(`err${n}\n`);
      expect(await readFile(`${result.outputDir}/n.txt`, 'utf8')).toBe(`${n}\n`);
    }
    // Per worker: the setup exec, a probe of the jobs' user, and the runner; none per job.
    expect(execs).toBe(6);
  });

  test('a job past its timeout loses its whole process tree (TERM, then KILL when it ignores TERM); the worker serves the next job', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir, executionMode: 'pool', stopGracePeriodMs: 1000, defaults: { network: 'none' } });
    // The job ignores TERM, and so does a grandchild it starts in the background.
    manager.addSimJob({ name: 'stubborn', command: ["trap '' TERM; (trap '' TERM; sleep 60) & echo started; sleep 60"], timeoutMs: 1000 });
    manager.addSimJob({ name: 'next', command: ['ps -o comm= 2>/dev/null | grep -c sleep || true'] });
    const startedIn: Record<string, string> = {};
    manager.on('job:started', ({ job, containerId }) => (startedIn[job.name] = containerId));
    const summary = await manager.startComputation();
    const stubborn = summary.results.find((r) => r.name === 'stubborn');
    expect(stubborn?.error).toBeInstanceOf(JobTimeoutError);
    expect(stubborn?.exitCode).toBe(137);
    expect(await readFile(stubborn?.logFile ?? '', 'utf8')).toBe('started\n');
    const next = summary.results.find((r) => r.name === 'next');
    expect(next?.status).toBe('succeeded');
    expect(startedIn.next).toBe(startedIn.stubborn);
    // Nothing of the stopped job still runs in the worker: its sleeps are gone (only the keep-alive sleeps).
    expect(await readFile(next?.logFile ?? '', 'utf8')).toBe('1\n');
  });

  test('a job that floods its output: every byte in its log, in order, and the next job of the worker unaffected', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir, executionMode: 'pool', defaults: { network: 'none' } });
    // 200,000 numbered lines (about 1.3 MB) on stdout, as fast as the shell writes them, then a last word on stderr.
    manager.addSimJob({ name: 'flood', command: ['i=0; while [ $i -lt 200000 ]; do echo $i; i=$((i + 1)); done; echo last >&2'] });
    manager.addSimJob({ name: 'after', command: ['echo after'] });
    const summary = await manager.startComputation();
    expect(summary.succeeded).toBe(2);
    const lines = (await readFile(summary.results[0]?.stdoutFile ?? '', 'utf8')).split('\n');
    expect(lines).toHaveLength(200_001);
    expect(lines.slice(0, 200_000).every((line, i) => line === String(i))).toBe(true);
    expect(await readFile(summary.results[0]?.stderrFile ?? '', 'utf8')).toBe('last\n');
    expect(await readFile(summary.results[1]?.logFile ?? '', 'utf8')).toBe('after\n');
  });

  test('children a job leaves behind are killed when it ends', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir, executionMode: 'pool', defaults: { network: 'none' } });
    manager.addSimJob({ name: 'leaves', command: ['(sleep 300 &) ; (sleep 301 &) ; echo done'] });
    manager.addSimJob({ name: 'looks', command: ['ps -o args= | grep -c "sleep 30[01]" || true'] });
    const summary = await manager.startComputation();
    expect(summary.succeeded).toBe(2);
    expect((await readFile(summary.results[1]?.logFile ?? '', 'utf8')).trim()).toBe('0');
  });

  test('a worker whose runner dies is replaced; its job fails as an engine error and is retried', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir, executionMode: 'pool', defaults: { network: 'none', retries: 1 } });
    // The first attempt kills the runner that started it (its grandparent); the retry runs in a fresh worker.
    // (A retry finds the first attempt's files set aside in .attempt-1.)
    manager.addSimJob({ name: 'rogue', command: ['if [ ! -d /mnt/data/.attempt-1 ]; then touch /mnt/data/tried; kill -9 $(cut -d" " -f4 /proc/$PPID/stat); sleep 5; fi; echo ok'] });
    const attempts: Array<{ container: string; error?: unknown }> = [];
    manager.on('job:started', ({ containerId }) => attempts.push({ container: containerId }));
    manager.on('job:retrying', ({ error }) => ((attempts.at(-1) as { error?: unknown }).error = error));
    const summary = await manager.startComputation();
    expect(summary.results[0]).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(attempts[0]?.error).toBeInstanceOf(EngineError);
    expect(attempts[1]?.container).not.toBe(attempts[0]?.container);
    expect((await packageContainers()).filter((c) => c.Labels[LABELS.worker] !== undefined)).toEqual([]);
  });
});
