import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runCli } from '../../src/cli/run-cli.js';
import { ValidationError, expandSweep, loadSweepFile, parameterRows, parseSweep } from '../../src/index.js';

function validationError(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('sweep files', () => {
  test('grid: the cartesian product, placeholders filled in name, command (one argument per token), env and templates', () => {
    const sweep = expandSweep({
      image: 'sim',
      name: 'mc_s{seed}_n{iterations}',
      command: "-o /mnt/data -r {seed} -i {iterations} --label 'seed {seed}'",
      env: { SEED: '{seed}', FIXED: 7 },
      templates: [{ content: 'seed={seed}\n', target: '/mnt/data/params-{seed}.txt' }],
      parameters: { grid: { seed: [1, 2, 3], iterations: [100, 1000] } },
    });
    expect(sweep.count).toBe(6);
    const jobs = Array.from(sweep);
    expect(jobs.map((j) => j.name)).toEqual(['mc_s1_n100', 'mc_s1_n1000', 'mc_s2_n100', 'mc_s2_n1000', 'mc_s3_n100', 'mc_s3_n1000']);
    const third = jobs[2];
    expect(third?.settings.argv).toEqual(['-o', '/mnt/data', '-r', '2', '-i', '100', '--label', 'seed 2']);
    expect(third?.settings.env).toEqual({ SEED: '2', FIXED: '7' });
    expect(third?.parameters).toEqual({ seed: 2, iterations: 100 });
    const template = third?.settings.templates?.[0];
    expect(template).toMatchObject({ kind: 'content', target: '/mnt/data/params-2.txt' });
    expect(template?.kind === 'content' && template.content.toString()).toBe('seed=2\n');
  });

  test('zip pairs equal-length lists, list takes explicit rows, sections multiply; {index} is 1-based and padded', () => {
    expect(Array.from(parameterRows({ parameters: { zip: { a: [1, 2, 3], b: ['x', 'y', 'z'] } } }))).toEqual([
      { a: 1, b: 'x' },
      { a: 2, b: 'y' },
      { a: 3, b: 'z' },
    ]);
    expect(Array.from(parameterRows({ parameters: { grid: { s: [1, 2] }, list: [{ case: 'a' }, { case: 'b' }] } }))).toEqual([
      { s: 1, case: 'a' },
      { s: 1, case: 'b' },
      { s: 2, case: 'a' },
      { s: 2, case: 'b' },
    ]);
    const jobs = Array.from(expandSweep({ image: 'sim', parameters: { list: Array.from({ length: 12 }, (_, i) => ({ k: i })) } }));
    expect(jobs.map((j) => j.name).slice(0, 2)).toEqual(['01', '02']);
    expect(jobs).toHaveLength(12);
    expect(Array.from(expandSweep({ image: 'sim', command: ['--x', '{{literal}}'] }))[0]?.settings.argv).toEqual(['--x', '{literal}']);
  });

  test.each([
    [{ image: 'sim', parameters: { grid: { seed: [1, 2, 'x', {}] } } }, 'parameters.grid.seed[3]', /parameters\.grid\.seed\[3\]: expected/],
    [{ image: 'sim', maxWorkers: 0 }, 'maxWorkers', /maxWorkers: .*>=1/],
    [{ image: 'sim', timeout: '30 minutes' }, 'timeout', /timeout: .*duration/],
    [{ image: 'sim', imagee: 'typo' }, 'sweep', /unknown key 'imagee'/],
    [{ image: 'sim', command: '-r {sed}', parameters: { grid: { seed: [1] } } }, 'command[1]', /placeholder \{sed\} names no parameter \(parameters: index, seed\)/],
    [{ image: 'sim', name: 'run{seed}', parameters: { grid: { seed: [1, 1] } } }, 'name', /same job name 'run1' to rows 1 and 2/],
    [{ image: 'sim', name: 'run{seed}', parameters: { grid: { seed: [1, 2], n: [10, 100] } } }, 'name', /same job name 'run1' to rows 1 and 2 \(they differ only in parameters\.grid\.n, which the name does not use\)/],
    [{ image: 'sim', name: 'c{case}', parameters: { list: [{ case: 'a' }, { seed: 2 }] } }, 'name', /placeholder \{case\} has no value in parameters\.list\[1\] \(it gives: seed\)/],
    [{ image: 'sim', parameters: { grid: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])) } }, 'parameters', /more than can be counted/],
    [{ image: 'sim', parameters: { zip: { a: [1, 2], b: [1] } } }, 'parameters.zip.b', /equal lengths/],
    [{ image: 'sim', parameters: { grid: { a: [1] }, zip: { a: [2] } } }, 'parameters.zip.a', /may appear once/],
    [{ image: 'sim', name: 'bad name {a}', parameters: { grid: { a: [1] } } }, 'name', /Job 1 of the sweep/],
    [{ image: 'sim', command: "-r '{seed}", parameters: { grid: { seed: [1] } } }, 'command', /unbalanced/],
  ])('an invalid sweep is a ValidationError naming the field, thrown before any job is read: %j', (spec, field, message) => {
    const error = validationError(() => expandSweep(spec as never));
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  test('loadSweepFile: YAML or JSON, relative paths from the file, manager options and shared settings', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-sweep-'));
    try {
      await writeFile(path.join(dir, 'config.yaml'), 'x: 1\n');
      await writeFile(
        path.join(dir, 'sweep.yaml'),
        ['image: ghcr.io/me/sim:1.2', 'maxWorkers: 4', 'dataDirectory: ./out', 'name: "c{case}"', 'templates: [./config.yaml]', 'retries: 1', 'timeout: 30m', 'backoff: { initialDelay: 2s }', 'parameters:', '  list: [{ case: a }, { case: b }]', ''].join('\n'),
      );
      const loaded = await loadSweepFile(path.join(dir, 'sweep.yaml'));
      expect(loaded.options).toMatchObject({ image: 'ghcr.io/me/sim:1.2', maxWorkers: 4, dataDirectory: path.join(dir, 'out') });
      expect(loaded.options.defaults).toEqual({ timeoutMs: 1_800_000, retries: 1, backoff: { initialDelayMs: 2000 } });
      expect(loaded.jobs.count).toBe(2);
      const jobs = Array.from(loaded.jobs);
      expect(jobs.map((j) => j.name)).toEqual(['ca', 'cb']);
      expect(jobs[0]?.settings.templates).toEqual([{ kind: 'path', source: path.join(dir, 'config.yaml') }]);

      await writeFile(path.join(dir, 'sweep.json'), JSON.stringify({ image: 'sim', parameters: { grid: { seed: [1, 2, '3'] } }, command: '-r {seed}' }));
      expect((await loadSweepFile(path.join(dir, 'sweep.json'))).jobs.count).toBe(3);
      await writeFile(path.join(dir, 'typo.yaml'), 'image: sim\nname: "s{sed}"\nparameters: { grid: { seed: [1, 2] } }\n');
      await expect(loadSweepFile(path.join(dir, 'typo.yaml'))).rejects.toThrow(/placeholder \{sed\} names no parameter/);
      await writeFile(path.join(dir, 'broken.yaml'), 'image: [unclosed\n');
      await expect(loadSweepFile(path.join(dir, 'broken.yaml'))).rejects.toThrow(/not valid YAML/);
      await expect(loadSweepFile(path.join(dir, 'missing.yaml'))).rejects.toThrow(/Cannot read the sweep file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('parseSweep lists every problem, first field first', () => {
    const error = validationError(() => parseSweep({ image: '', retries: -1 }));
    expect(error.field).toBe('image');
    expect(error.message).toMatch(/image: [^\n]+\n\s+retries: /);
  });

  test('a duration needs a unit: a bare number is refused with the fix, naming the file key', () => {
    const error = validationError(() => parseSweep({ image: 'sim', timeout: 30, backoff: { initialDelay: 500 } }));
    expect(error.field).toBe('timeout');
    expect(error.message).toContain("timeout: a bare number is not a duration: write '30s' for 30 seconds (or '30m', '30ms')");
    expect(error.message).toContain("backoff.initialDelay: a bare number is not a duration: write '500s'");
    expect(validationError(() => parseSweep({ image: 'sim', timeout: 'soon' })).message).toContain("timeout: expected a duration with a unit, like '90s'");
    expect(parseSweep({ image: 'sim', timeout: '30s' }).timeout).toBe('30s');
  });

  test('an unknown key suggests the nearest one, also for the library names of sweep keys', () => {
    const error = validationError(() => parseSweep({ image: 'sim', maxworkers: 4, timeoutMs: '1s', parameters: { gird: { a: [1] } }, colour: 'red' }));
    expect(error.message).toContain("unknown key 'maxworkers' (did you mean 'maxWorkers'?)");
    expect(error.message).toContain("unknown key 'timeoutMs' (did you mean 'timeout'?)");
    expect(error.message).toContain("parameters: unknown key 'gird' (did you mean 'grid'?)");
    expect(error.message).toMatch(/unknown key 'colour'(;|\n|$)/);
  });
});

/** `global.gc`, exposed at run time when node was started without --expose-gc. */
function collectGarbage(): () => void {
  const exposed = global.gc;
  if (exposed) return () => void exposed();
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('lazy sweep expansion', () => {
  const TEN = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const MILLION = {
    image: 'sim',
    name: 'j_{a}{b}{c}{d}{e}{f}',
    command: '-a {a} -f {f}',
    parameters: { grid: { a: TEN, b: TEN, c: TEN, d: TEN, e: TEN, f: TEN } },
  };

  test('a 6 × 10 grid counts 1,000,000 jobs; the first ones are made on demand, in the order of the product', () => {
    const jobs = expandSweep(MILLION);
    expect(jobs.count).toBe(1_000_000);
    const first: Array<{ name: string; argv: readonly string[] | undefined }> = [];
    for (const job of jobs) {
      first.push({ name: job.name, argv: job.settings.argv });
      if (first.length === 12) break;
    }
    expect(first.slice(0, 2)).toEqual([
      { name: 'j_000000', argv: ['-a', '0', '-f', '0'] },
      { name: 'j_000001', argv: ['-a', '0', '-f', '1'] },
    ]);
    expect(first.map((job) => job.name).slice(9, 12)).toEqual(['j_000009', 'j_000010', 'j_000011']);
    const rows = parameterRows(MILLION);
    expect(rows.count).toBe(1_000_000);
    expect(rows.at(123_456)).toEqual({ a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 });
    expect(rows.at(999_999)).toEqual({ a: 9, b: 9, c: 9, d: 9, e: 9, f: 9 });
    expect(() => rows.at(1_000_000)).toThrow(RangeError);
  });

  test('a sweep of 10^15 jobs is counted and read from its start: nothing is multiplied out', () => {
    const jobs = expandSweep({ image: 'sim', name: 'j{index}', parameters: { grid: Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`p${i}`, TEN])) } });
    expect(jobs.count).toBe(10 ** 15);
    const [first] = jobs;
    expect(first?.name).toBe('j0000000000000001');
    expect(first?.parameters).toEqual(Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`p${i}`, 0])));
  });

  test('the same jobs as the expansion of every row at once, for grid, zip and list together', () => {
    const jobs = expandSweep({
      image: 'sim',
      name: '{label}_{a}_{b}',
      command: ['-a', '{a}', '-c', '{c}'],
      env: { LABEL: '{label} #{index}' },
      parameters: { grid: { a: [1, 2] }, zip: { b: ['x', 'y'], c: [10, 20] }, list: [{ label: 'p' }, { label: 'q' }] },
    });
    expect(Array.from(jobs, (job) => [job.name, job.settings.argv?.join(' '), job.settings.env?.LABEL])).toEqual([
      ['p_1_x', '-a 1 -c 10', 'p #1'],
      ['q_1_x', '-a 1 -c 10', 'q #2'],
      ['p_1_y', '-a 1 -c 20', 'p #3'],
      ['q_1_y', '-a 1 -c 20', 'q #4'],
      ['p_2_x', '-a 2 -c 10', 'p #5'],
      ['q_2_x', '-a 2 -c 10', 'q #6'],
      ['p_2_y', '-a 2 -c 20', 'p #7'],
      ['q_2_y', '-a 2 -c 20', 'q #8'],
    ]);
  });

  test('each iteration starts again from the first job with new SimJobs', () => {
    const jobs = expandSweep({ image: 'sim', name: 's{seed}', command: '-r {seed}', parameters: { grid: { seed: [1, 2, 3] } } });
    const once = Array.from(jobs);
    const again = Array.from(jobs);
    expect(again.map((job) => job.name)).toEqual(['s1', 's2', 's3']);
    expect(again.map((job) => job.options)).toEqual(once.map((job) => job.options));
    expect(again[0]).not.toBe(once[0]);
    // Two iterations at once do not disturb each other.
    const [a, b] = [jobs[Symbol.iterator](), jobs[Symbol.iterator]()];
    expect([a.next().value?.name, a.next().value?.name, b.next().value?.name]).toEqual(['s1', 's2', 's1']);
  });

  test('a name that repeats only for some rows is found while iterating, naming both rows and their parameters', () => {
    // '1' + '11' and '11' + '1': no list of values repeats, the names still do (at rows 1 and 4).
    const jobs = expandSweep({ image: 'sim', name: 'n{a}{b}', parameters: { grid: { a: ['1', '11'], b: ['11', '1'] } } });
    expect(jobs.count).toBe(4);
    const read: string[] = [];
    const error = validationError(() => {
      for (const job of jobs) read.push(job.name);
    });
    expect(read).toEqual(['n111', 'n11', 'n1111']);
    expect(error.field).toBe('name');
    expect(error.message).toBe("name: 'n{a}{b}' gives the same job name 'n111' to rows 1 and 4 (a=1, b=11 and a=11, b=1); add a parameter that differs (or {index}) to the name.");
  });

  test('a job that fails validation is thrown at its row, after the jobs before it', () => {
    const jobs = expandSweep({ image: 'sim', name: 'n{n}', parameters: { grid: { n: ['ok', 'not ok', 'fine'] } } });
    const read: string[] = [];
    const error = validationError(() => {
      for (const job of jobs) read.push(job.name);
    });
    expect(read).toEqual(['nok']);
    expect(error.field).toBe('name');
    expect(error.message).toMatch(/^Job 2 of the sweep \(an object\): Expected `name` to be 1 to 128 letters/);
  });

  test('reading 1,000,000 jobs keeps none of them', async () => {
    const gc = collectGarbage();
    const jobs = expandSweep(MILLION);
    gc();
    const before = process.memoryUsage().heapUsed;
    const iterator = jobs[Symbol.iterator]();
    const first = new WeakRef(iterator.next().value as object);
    let count = 1;
    while (!iterator.next().done) count += 1;
    expect(count).toBe(1_000_000);
    // Measured with the iterator still referenced: the sweep and the iterator keep no job they handed out. (A
    // WeakRef holds its target until the current task ends: collect on the next one.)
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const grownBy = process.memoryUsage().heapUsed - before;
    expect(first.deref()).toBeUndefined();
    // A million SimJobs hold well over a gigabyte; the names seen are 64-bit fingerprints in typed arrays.
    expect(grownBy).toBeLessThan(100 * 1024 * 1024);
    expect(iterator.next().done).toBe(true);
  }, 120_000);

  test('dsim run --dry-run writes a line per job as it reads them, waiting for a slow stdout, and reports a repeated name', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-dry-'));
    /** A stdout that takes its time: writes return false once 64 bytes wait, as a pipe to a slow reader does. */
    const slowStream = (): Writable & { text: string; waits: number } => {
      const stream = Object.assign(
        new Writable({
          highWaterMark: 64,
          write(chunk: Buffer, _encoding, callback) {
            stream.text += chunk.toString();
            setImmediate(callback);
          },
        }),
        { text: '', waits: 0 },
      );
      stream.on('drain', () => (stream.waits += 1));
      return stream;
    };
    try {
      await writeFile(path.join(dir, 'sweep.yaml'), 'image: sim\nname: "s{seed}_{n}"\ncommand: "-r {seed} -n {n}"\nparameters: { grid: { seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], n: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } }\n');
      const out = { stdout: slowStream(), stderr: slowStream() };
      expect(await runCli(['run', path.join(dir, 'sweep.yaml'), '--dry-run'], out)).toBe(0);
      await Promise.all([out.stdout, out.stderr].map((stream) => finished(stream.end())));
      const lines = out.stdout.text.trim().split('\n');
      expect(lines).toHaveLength(100);
      expect(lines.slice(0, 2)).toEqual(['s1_1\t-r 1 -n 1', 's1_2\t-r 1 -n 2']);
      expect(lines[99]).toBe('s10_10\t-r 10 -n 10');
      expect(out.stdout.waits).toBeGreaterThan(0);
      expect(out.stderr.text).toMatch(/^100 jobs; image sim; outputs in .* \(dry run: nothing ran\)\n$/);

      await writeFile(path.join(dir, 'repeat.yaml'), 'image: sim\nname: "n{a}{b}"\nparameters: { grid: { a: ["1", "11"], b: ["11", "1"] } }\n');
      const failing = { stdout: slowStream(), stderr: slowStream() };
      expect(await runCli(['run', path.join(dir, 'repeat.yaml'), '--dry-run'], failing)).toBe(2);
      await Promise.all([failing.stdout, failing.stderr].map((stream) => finished(stream.end())));
      expect(failing.stdout.text).toBe('n111\t\nn11\t\nn1111\t\n');
      expect(failing.stderr.text).toContain("dsim: ValidationError: name: 'n{a}{b}' gives the same job name 'n111' to rows 1 and 4");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
