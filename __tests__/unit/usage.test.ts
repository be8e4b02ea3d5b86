import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { usageLine } from '../../src/cli/run-cli.js';
import { DockerSimManager, latestRecords, manifestPath, readManifest, renderReportHtml, renderTraceCsv } from '../../src/index.js';
import { InMemoryRuntime } from '../../src/testing.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-usage-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MiB = 1024 ** 2;

test('usage flows from the engine to the result, the events, the manifest, trace.csv, the report and dsim; unknown stays unknown', async () => {
  const runtime = new InMemoryRuntime({
    images: { 'sim:latest': {} },
    behaviour: (spec) =>
      spec.labels['docker-sim-manager.job'] === 'short' ? {} : { usage: { cpuMs: 1500, peakMemoryBytes: (spec.labels['docker-sim-manager.job'] === 'big' ? 300 : 100) * MiB } },
  });
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime, defaults: { memory: '512m', cpus: 2 } });
  manager.addSimJobs([{ name: 'big' }, { name: 'small' }, { name: 'short' }]);
  const seen: Record<string, unknown> = {};
  manager.on('job:succeeded', ({ job, result }) => {
    seen[job.name] = result.usage;
  });
  const summary = await manager.startComputation();
  const big = summary.results.find((r) => r.name === 'big');
  expect(big?.usage).toEqual({ cpuMs: 1500, peakMemoryBytes: 300 * MiB });
  expect(seen.small).toEqual({ cpuMs: 1500, peakMemoryBytes: 100 * MiB });
  // A job the engine could not measure (shorter than a sample) has no usage, not zeros.
  expect(summary.results.find((r) => r.name === 'short')?.usage).toEqual({});

  const records = await readManifest(manifestPath(dir));
  const latest = latestRecords(records);
  expect(latest.get('big')).toMatchObject({ usage: { cpuMs: 1500, peakMemoryBytes: 300 * MiB }, limits: { memoryBytes: 512 * MiB, cpus: 2 } });
  expect(latest.get('short')?.usage).toBeUndefined();

  const csv = renderTraceCsv(records).trim().split('\n');
  const header = csv[0]?.split(',') ?? [];
  const row = (job: string): Record<string, string> => {
    const cells = csv.find((line) => line.startsWith(`${job},`))?.split(',') ?? [];
    return Object.fromEntries(header.map((name, i) => [name, cells[i] ?? '']));
  };
  expect(row('big')).toMatchObject({ cpu_ms: '1500', peak_memory_bytes: String(300 * MiB), memory_limit_bytes: String(512 * MiB), cpus_limit: '2' });
  expect(row('short')).toMatchObject({ cpu_ms: '', peak_memory_bytes: '' });

  const html = renderReportHtml(records);
  expect(html).toContain('Peak memory per job');
  expect(html).toContain('300.0 MiB / 512.0 MiB');
  expect(html).toMatch(/<rect class="use" data-job="big"/);

  expect(usageLine(summary.usage)).toBe('usage: 3.0 s CPU in all; peak memory 300.0 MiB at most (job big), 100.0 MiB median');
  expect(usageLine({ cpuMs: null, maxPeakMemory: null, medianPeakMemoryBytes: null })).toBeUndefined();
  expect(await readFile(path.join(dir, 'job_big', 'log.txt'), 'utf8')).toBe('');
});

test('collectUsage: false asks the engine for no statistics and reports no usage', async () => {
  const runtime = new InMemoryRuntime({ images: { 'sim:latest': {} }, behaviour: () => ({ usage: { cpuMs: 10, peakMemoryBytes: MiB } }) });
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime, collectUsage: false });
  manager.addSimJob({ name: 'j' });
  const [result] = (await manager.startComputation()).results;
  expect(result?.usage).toEqual({});
  expect(runtime.calls).not.toContain('stats');
});
