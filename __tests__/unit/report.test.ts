import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { manifestPath, readManifest, renderReportHtml, renderTraceCsv, writeReport, type ManifestRecord } from '../../src/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-report-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hash = (c: string): string => `sha256:${c.repeat(64)}`;

/** Resumed jobs, parameters that differ between records, quoting, absent values and times not in toISOString form. */
const RECORDS: ManifestRecord[] = [
  { v: 1, runId: 'run-a', job: 'a', specHash: hash('a'), status: 'succeeded', exitCode: 0, attempts: 1, imageId: 'sha256:img1', imageDigest: null, startedAt: '2026-01-02T03:04:05.000Z', finishedAt: '2026-01-02T03:04:06.250Z', durationMs: 1250, slot: 0, engine: 'default', outputDir: '/data/job_a', parameters: { seed: 1, mode: 'x,y' }, usage: { cpuMs: 1234.6, peakMemoryBytes: 1048576 }, limits: { memoryBytes: 536870912, cpus: 1.5 } },
  { v: 1, runId: 'run-a', job: 'b', specHash: hash('b'), status: 'failed', exitCode: 3, attempts: 2, imageId: 'sha256:img1', imageDigest: null, startedAt: '2026-01-02T03:04:05Z', finishedAt: '2026-01-02T03:04:07.5Z', durationMs: 2500, slot: 1, engine: 'default', outputDir: '/data/job_b', parameters: { seed: 2, mode: 'z', extra: true }, error: { code: 'E_EXIT', message: 'boom "quoted"\nsecond line' } },
  { v: 1, runId: 'run-a', job: 'c', specHash: 'custom-hash', status: 'cancelled', exitCode: null, attempts: 0, imageId: 'sha256:img1', imageDigest: null, startedAt: null, finishedAt: '2026-01-02T03:04:08.000Z', durationMs: 0, slot: null, outputDir: '/data/job_c', parameters: { mode: 'q' }, error: { code: 'E_CANCELLED', message: 'cancelled' } },
  { v: 1, runId: 'run-b', job: 'b', specHash: hash('c'), status: 'succeeded', exitCode: 0, attempts: 1, imageId: 'sha256:img2', imageDigest: 'repo@sha256:dd', startedAt: '2026-01-03T00:00:00.000Z', finishedAt: '2026-01-03T00:00:01.000Z', durationMs: 1000, slot: 0, engine: 'podman', outputDir: '/data/job_b', parameters: { seed: 2, mode: 'z' }, usage: { cpuMs: 10 } },
  { v: 1, runId: 'run-b', job: 'd "q"', specHash: hash('d'), status: 'succeeded', exitCode: 0, attempts: 1, imageId: 'sha256:img2', imageDigest: 'repo@sha256:dd', startedAt: '2026-01-03T00:00:00.500Z', finishedAt: '2026-01-03T00:00:02.000Z', durationMs: 1500, slot: 1, engine: 'podman', outputDir: '/data/job_d "q"', parameters: { extra: false, seed: 3.25 }, usage: { peakMemoryBytes: 2048 }, limits: { cpus: 2, timeoutMs: 60000 } },
  { v: 1, runId: 'run-b', job: 'e', specHash: hash('e'), status: 'failed', exitCode: 137, attempts: 3, imageId: 'sha256:img2', imageDigest: 'repo@sha256:dd', startedAt: '2026-01-03T00:00:01Z', finishedAt: '2026-01-03T00:00:04.5+00:00', durationMs: 3500, slot: 2, engine: 'podman', outputDir: '/elsewhere/e-out', usage: { cpuMs: 0.4, peakMemoryBytes: 0 }, limits: { memoryBytes: 1024 }, error: { code: 'E_OOM', message: 'killed, <b>out of memory</b>' } },
];

/** trace.csv of RECORDS as the report has always written it (captured from the version before the streaming writer). */
const EXPECTED_CSV = [
  'job,run_id,slot,status,exit_code,attempts,started_at,finished_at,duration_ms,cpu_ms,peak_memory_bytes,memory_limit_bytes,cpus_limit,spec_hash,image_id,image_digest,error_code,param_seed,param_mode,param_extra',
  `a,run-a,0,succeeded,0,1,2026-01-02T03:04:05.000Z,2026-01-02T03:04:06.250Z,1250,1235,1048576,536870912,1.5,${hash('a')},sha256:img1,,,1,"x,y",`,
  `b,run-b,0,succeeded,0,1,2026-01-03T00:00:00.000Z,2026-01-03T00:00:01.000Z,1000,10,,,,${hash('c')},sha256:img2,repo@sha256:dd,,2,z,`,
  'c,run-a,,cancelled,,0,,2026-01-02T03:04:08.000Z,0,,,,,custom-hash,sha256:img1,,E_CANCELLED,,q,',
  `"d ""q""",run-b,1,succeeded,0,1,2026-01-03T00:00:00.500Z,2026-01-03T00:00:02.000Z,1500,,2048,,2,${hash('d')},sha256:img2,repo@sha256:dd,,3.25,,false`,
  `e,run-b,2,failed,137,3,2026-01-03T00:00:01Z,2026-01-03T00:00:04.5+00:00,3500,0,0,1024,,${hash('e')},sha256:img2,repo@sha256:dd,E_OOM,,,`,
  '',
].join('\n');

/** `count` finished jobs of one run on `slots` worker slots, back to back, each 1 s long; every `failEvery`th fails. */
function sweep(count: number, options: { slots?: number; failEvery?: number; runId?: string } = {}): ManifestRecord[] {
  const slots = options.slots ?? 8;
  const t0 = Date.parse('2026-05-01T00:00:00.000Z');
  return Array.from({ length: count }, (_, i): ManifestRecord => {
    const isFailed = options.failEvery !== undefined && i % options.failEvery === 0;
    const start = t0 + Math.floor(i / slots) * 1000;
    return {
      v: 1,
      runId: options.runId ?? 'run-1',
      job: `j${i}`,
      specHash: hash((i % 10).toString()),
      status: isFailed ? 'failed' : 'succeeded',
      exitCode: isFailed ? 1 : 0,
      attempts: 1,
      imageId: 'sha256:img',
      imageDigest: null,
      startedAt: new Date(start).toISOString(),
      finishedAt: new Date(start + 1000).toISOString(),
      durationMs: 1000,
      slot: i % slots,
      outputDir: `/data/job_j${i}`,
      parameters: { i },
      usage: { cpuMs: 900 + (i % 100), peakMemoryBytes: (100 + (i % 300)) * 1024 * 1024 },
      limits: { memoryBytes: 512 * 1024 * 1024, cpus: 1 },
      ...(isFailed ? { error: { code: 'E_JOB_EXIT', message: `Job j${i} exited with code 1.` } } : {}),
    };
  });
}

/** The page without its embedded table data. */
function withoutData(html: string): string {
  return html.replace(/<script type="application\/json" id="report-data">[\s\S]*?<\/script>/, '');
}

/** The embedded table data, parsed. */
function embeddedData(html: string): { name: string[]; messages: string[]; runs: string[]; params: string[]; p: unknown[][] } {
  const match = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  if (!match?.[1]) throw new Error('no embedded data');
  return JSON.parse(match[1]) as ReturnType<typeof embeddedData>;
}

const occurrences = (text: string, part: string): number => text.split(part).length - 1;

test('trace.csv is what it has always been: the newest record of each job in first-seen order, its parameters, quoted fields, times as written', () => {
  expect(renderTraceCsv(RECORDS)).toBe(EXPECTED_CSV);
});

test('writeReport reads the manifest line by line, skipping what readManifest skips, and writes the same trace.csv', async () => {
  const file = manifestPath(dir);
  await mkdir(path.dirname(file), { recursive: true });
  const lines = RECORDS.map((record) => JSON.stringify(record));
  lines.splice(2, 0, '', 'not json', '{"v":2,"job":"future","status":"succeeded"}', 'null', '{"v":1,"job":"no status"}');
  await writeFile(file, `${lines.join('\r\n')}\n{"v":1,"runId":"run-b","job":"torn","sta`);
  const { html, csv, jobs } = await writeReport(dir);
  expect(jobs).toBe(5);
  expect(await readFile(csv, 'utf8')).toBe(EXPECTED_CSV);
  expect(renderTraceCsv(await readManifest(file))).toBe(EXPECTED_CSV);
  const page = await readFile(html, 'utf8');
  expect(page).toContain('<div class="card" id="count-jobs"><b>5</b>jobs</div>');
  expect(page).toContain('<div class="card" id="count-failed"><b style="color:#d64541">1</b>failed</div>');
  expect(embeddedData(page).name).toEqual(['a', 'b', 'c', 'd "q"', 'e']);
});

test('writeReport without a manifest refuses with a ValidationError that says what to point at', async () => {
  await expect(writeReport(dir)).rejects.toMatchObject({ code: 'E_VALIDATION', message: expect.stringMatching(/No run manifest in .*Point at the dataDirectory of a run/) });
});

test('nothing from the manifest becomes markup: names, errors, parameters and run ids are escaped, in the HTML and in the embedded data', () => {
  const hostile = '"><img src=x onerror=alert(1)></script><script>alert(2)</script><!--';
  const [base] = sweep(1, { failEvery: 1 });
  if (!base) throw new Error('no record');
  const records: ManifestRecord[] = [
    { ...base, job: hostile, runId: `run ${hostile}`, parameters: { [`p${hostile}`]: hostile }, error: { code: hostile, message: `${hostile}\u2028<b>bold</b>` }, engine: hostile, imageId: hostile },
    ...sweep(700, { failEvery: 7, runId: hostile }).map((record) => ({ ...record, job: `${hostile}${record.job}` })),
  ];
  const html = renderReportHtml(records, { title: hostile });
  // Two scripts (the data and the code), each closed once; no element came from the manifest.
  expect(occurrences(html, '<script')).toBe(2);
  expect(occurrences(html, '</script')).toBe(2);
  expect(occurrences(html, '<!--')).toBe(0);
  expect(html).not.toContain('<img');
  expect(html).not.toContain('<b>bold');
  const data = embeddedData(html);
  expect(data.name[0]).toBe(hostile);
  expect(data.messages[0]).toBe(`${hostile}\u2028<b>bold</b>`);
  expect(data.params).toEqual([`p${hostile}`, 'i']);
  expect(data.p[0]?.[0]).toBe(hostile);
  expect(data.runs).toContain(hostile);
});

test('a small run keeps one bar per job; a large one gets an aggregated timeline, and the page outside the table data stays bounded', () => {
  const small = renderReportHtml(sweep(300, { failEvery: 10 }));
  expect(occurrences(small, '<rect class="bar"')).toBe(300);
  expect(small).not.toContain('class="timeline aggregated"');

  const sizes = [20_000, 50_000].map((count) => {
    const html = renderReportHtml(sweep(count, { failEvery: 10 }));
    expect(html).not.toContain('<rect class="bar"');
    expect(occurrences(html, 'class="timeline aggregated"')).toBe(1);
    // Bounded: the 60 largest of each usage, a histogram of all; the first 1,000 failures, the rest counted.
    expect(occurrences(html, '<rect class="use"')).toBe(120);
    expect(html).toContain('Peak memory of all jobs');
    expect(occurrences(html, '<li data-job=')).toBe(1_000);
    expect(html).toContain(`${(count / 10 - 1_000).toLocaleString('en-US')} more failed jobs are not listed here`);
    expect(embeddedData(html).name).toHaveLength(count);
    return withoutData(html).length;
  });
  expect(sizes[1]).toBeLessThan(1.1 * (sizes[0] ?? 0));
  expect(sizes[1]).toBeLessThan(400_000);
});

test('the aggregated timeline shows how many jobs ran at once and how busy each worker slot was', () => {
  // 5 slots, 1 s jobs back to back: 5 running throughout, every slot busy all the time.
  const html = renderReportHtml(sweep(1_000, { slots: 5 }));
  expect(html).toContain('data-jobs="1000" data-peak="5"');
  expect(html).toContain('at most 5 running at once · 5 worker slots, busy 100% of the time');
  expect(occurrences(html, '<g class="heat"')).toBe(5);
  expect(occurrences(html, '>100%</text>')).toBe(5);
  // The same jobs with a gap of half the run on slot 0: the slot is busy about half the time.
  const gappy = sweep(1_000, { slots: 5 }).filter((record) => !(record.slot === 0 && Date.parse(record.startedAt ?? '') >= Date.parse('2026-05-01T00:00:50.000Z') && Date.parse(record.startedAt ?? '') < Date.parse('2026-05-01T00:02:30.000Z')));
  expect(renderReportHtml(gappy)).toContain('<text class="tick" x="944" y="11">50%</text>');
});

test('error messages are kept whole up to 4,000 characters, then cut with an ellipsis', () => {
  const records = sweep(2, { failEvery: 1 });
  const long = 'x'.repeat(10_000);
  const whole = `${'y'.repeat(3_500)}\nlast line`;
  const [first, second] = records;
  if (!first || !second) throw new Error('no records');
  const { messages } = embeddedData(renderReportHtml([{ ...first, error: { code: 'E', message: long } }, { ...second, error: { code: 'E', message: whole } }]));
  expect(messages).toEqual([`${'x'.repeat(3_999)}…`, whole]);
});
