import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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
    const jobs = expandSweep({
      image: 'sim',
      name: 'mc_s{seed}_n{iterations}',
      command: "-o /mnt/data -r {seed} -i {iterations} --label 'seed {seed}'",
      env: { SEED: '{seed}', FIXED: 7 },
      templates: [{ content: 'seed={seed}\n', target: '/mnt/data/params-{seed}.txt' }],
      parameters: { grid: { seed: [1, 2, 3], iterations: [100, 1000] } },
    });
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
    expect(parameterRows({ parameters: { zip: { a: [1, 2, 3], b: ['x', 'y', 'z'] } } })).toEqual([
      { a: 1, b: 'x' },
      { a: 2, b: 'y' },
      { a: 3, b: 'z' },
    ]);
    expect(parameterRows({ parameters: { grid: { s: [1, 2] }, list: [{ case: 'a' }, { case: 'b' }] } })).toHaveLength(4);
    const jobs = expandSweep({ image: 'sim', parameters: { list: Array.from({ length: 12 }, (_, i) => ({ k: i })) } });
    expect(jobs.map((j) => j.name).slice(0, 2)).toEqual(['01', '02']);
    expect(jobs).toHaveLength(12);
    expect(expandSweep({ image: 'sim', command: ['--x', '{{literal}}'] })[0]?.settings.argv).toEqual(['--x', '{literal}']);
  });

  test.each([
    [{ image: 'sim', parameters: { grid: { seed: [1, 2, 'x', {}] } } }, 'parameters.grid.seed[3]', /parameters\.grid\.seed\[3\]: expected/],
    [{ image: 'sim', maxWorkers: 0 }, 'maxWorkers', /maxWorkers: .*>=1/],
    [{ image: 'sim', timeout: '30 minutes' }, 'timeout', /timeout: .*duration/],
    [{ image: 'sim', imagee: 'typo' }, 'sweep', /unknown key 'imagee'/],
    [{ image: 'sim', command: '-r {sed}', parameters: { grid: { seed: [1] } } }, 'command[1]', /placeholder \{sed\} names no parameter \(parameters: index, seed\)/],
    [{ image: 'sim', name: 'run{seed}', parameters: { grid: { seed: [1, 1] } } }, 'name', /same job name 'run1' to rows 1 and 2/],
    [{ image: 'sim', parameters: { zip: { a: [1, 2], b: [1] } } }, 'parameters.zip.b', /equal lengths/],
    [{ image: 'sim', parameters: { grid: { a: [1] }, zip: { a: [2] } } }, 'parameters.zip.a', /may appear once/],
    [{ image: 'sim', name: 'bad name {a}', parameters: { grid: { a: [1] } } }, 'name', /Job 1 of the sweep/],
    [{ image: 'sim', command: "-r '{seed}", parameters: { grid: { seed: [1] } } }, 'command', /unbalanced/],
  ])('an invalid sweep is a ValidationError naming the field: %j', (spec, field, message) => {
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
      expect(loaded.jobs.map((j) => j.name)).toEqual(['ca', 'cb']);
      expect(loaded.jobs[0]?.settings.templates).toEqual([{ kind: 'path', source: path.join(dir, 'config.yaml') }]);

      await writeFile(path.join(dir, 'sweep.json'), JSON.stringify({ image: 'sim', parameters: { grid: { seed: [1, 2, '3'] } }, command: '-r {seed}' }));
      expect((await loadSweepFile(path.join(dir, 'sweep.json'))).jobs).toHaveLength(3);
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
