import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { MONTE_CARLO, describeEngine, ensureTestImages, packageContainers, requireEngine, tempDir } from '../helpers/engine.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

const esmScript = `
import { DockerSimManager, SimJob, ValidationError, isDockerSimError } from 'docker-sim-manager';
import { InMemoryRuntime } from 'docker-sim-manager/testing';
const [image, dataDirectory] = process.argv.slice(2);
const manager = new DockerSimManager({ image, dataDirectory, maxWorkers: 2 });
manager.addSimJobs([1, 2].map((i) => new SimJob({ name: 'esm' + i, command: '-o /mnt/data -r ' + i + ' -i 50' })));
const summary = await manager.startComputation();
let validation;
try { new SimJob({ name: 'bad name' }); } catch (e) { validation = e instanceof ValidationError && isDockerSimError(e); }
const fake = new DockerSimManager({ image: 'x:1', dataDirectory, runtime: new InMemoryRuntime({ images: { 'x:1': {} } }) });
console.log(JSON.stringify({ succeeded: summary.succeeded, validation, fake: typeof fake.startComputation }));
`;

const cjsScript = `
const { DockerSimManager, SimJob } = require('docker-sim-manager');
const { InMemoryRuntime } = require('docker-sim-manager/testing');
const [image, dataDirectory] = process.argv.slice(2);
(async () => {
  const manager = new DockerSimManager({ image, dataDirectory, maxWorkers: 2 });
  manager.addSimJobs([1, 2].map((i) => new SimJob({ name: 'cjs' + i, command: '-o /mnt/data -r ' + i + ' -i 50' })));
  const summary = await manager.startComputation();
  const fake = new DockerSimManager({ image: 'x:1', dataDirectory: dataDirectory + '/fake', runtime: new InMemoryRuntime({ images: { 'x:1': {} } }) });
  fake.addSimJob({ name: 'f' });
  const fakeSummary = await fake.startComputation();
  console.log(JSON.stringify({ succeeded: summary.succeeded, fake: fakeSummary.succeeded }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** `npm pack` of this repository into `folder` (built first when the test runs on its own); the tarball's name and files. */
async function pack(folder: string): Promise<{ filename: string; packed: string[] }> {
  // `npm test` builds right before jest; build here only when the test runs on its own.
  if (!existsSync(path.join(root, 'dist', 'index.js'))) await run('npm', ['run', 'build'], { cwd: root });
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', folder], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
  const [{ filename, files }] = JSON.parse(stdout) as [{ filename: string; files: Array<{ path: string }> }];
  return { filename, packed: files.map((f) => f.path) };
}

describeEngine('the npm package', () => {
  beforeAll(async () => {
    await requireEngine();
    await ensureTestImages();
  });

  test('npm pack installs into an empty folder and works from an ESM script and a CJS script', async () => {
    const work = await tempDir('dsim-pack-');
    try {
      const { filename, packed } = await pack(work.dir);
      expect(packed).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/testing.js', 'dist/cli.js', 'README.md']));
      expect(packed.some((p) => p.startsWith('src/') || p.startsWith('__tests__/'))).toBe(false);

      const app = path.join(work.dir, 'app');
      await run('mkdir', ['-p', app]);
      await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
      await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(work.dir, filename)], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
      await writeFile(path.join(app, 'esm.mjs'), esmScript);
      await writeFile(path.join(app, 'cjs.cjs'), cjsScript);

      const esm = await run('node', ['esm.mjs', MONTE_CARLO, path.join(work.dir, 'out-esm')], { cwd: app });
      expect(JSON.parse(esm.stdout)).toEqual({ succeeded: 2, validation: true, fake: 'function' });
      const cjs = await run('node', ['cjs.cjs', MONTE_CARLO, path.join(work.dir, 'out-cjs')], { cwd: app });
      expect(JSON.parse(cjs.stdout)).toEqual({ succeeded: 2, fake: 1 });

      expect(await readFile(path.join(work.dir, 'out-esm', 'job_esm1', 'pi.txt'), 'utf8')).toMatch(/^\d\.\d{6}\n$/);
      expect((await readdir(path.join(work.dir, 'out-cjs'))).sort()).toEqual(['.docker-sim-manager', 'fake', 'job_cjs1', 'job_cjs2']);

      // The `dsim` bin is installed and runs a sweep file from the installed package.
      const version = (JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
      expect((await run(path.join(app, 'node_modules', '.bin', 'dsim'), ['--version'], { cwd: app })).stdout.trim()).toBe(version);
      await writeFile(path.join(app, 'sweep.yaml'), `image: ${MONTE_CARLO}\npullPolicy: never\ndataDirectory: ./out-cli\nname: "s{seed}"\ncommand: "-o /mnt/data -r {seed} -i 50"\nparameters:\n  grid: { seed: [1, 2] }\n`);
      await run(path.join(app, 'node_modules', '.bin', 'dsim'), ['run', 'sweep.yaml'], { cwd: app });
      expect((await readdir(path.join(app, 'out-cli'))).sort()).toEqual(['.docker-sim-manager', 'job_s1', 'job_s2', 'report.html', 'trace.csv']);
      // The scripts ran in child processes: look for containers of any owner whose run is over.
      const leftovers = await packageContainers({ anyOwner: true });
      expect(leftovers.filter((c) => c.Labels['docker-sim-manager.job']?.match(/^(esm|cjs)\d$|^f$|^s\d$/))).toEqual([]);
    } finally {
      await work.cleanup();
    }
  }, 240_000);

  test("a new user's first hour: the README's quick start, as written, in a fresh npm init -y project (ESM and CJS, tsc --strict without skipLibCheck)", async () => {
    const work = await tempDir('dsim-first-hour-');
    try {
      const { filename, packed } = await pack(work.dir);
      // The README's links into docs/ resolve inside the installed package; no source map points at unshipped src/.
      const readme = await readFile(path.join(root, 'README.md'), 'utf8');
      for (const [, link] of readme.matchAll(/\]\((docs\/[^)#]+)/g)) expect(packed).toContain(link);
      expect(packed.filter((p) => p.endsWith('.map'))).toEqual([]);

      const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## API at a glance'));
      const blocks = [...quickStart.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map(([, lang, body]) => ({ lang, body: body ?? '' }));
      const [setup, check] = blocks.filter((b) => b.lang === 'bash');
      const esm = blocks.find((b) => b.body.startsWith('// sweep.ts'));
      const cjs = blocks.find((b) => b.body.startsWith('// sweep.cjs'));
      if (!setup || !check || !esm || !cjs) throw new Error('the README quick start lost its setup, check, sweep.ts or sweep.cjs block');

      const app = path.join(work.dir, 'pi-sweep');
      await run('mkdir', ['-p', app]);
      // The setup commands as written, but the package comes from the tarball and the dev tools from the
      // versions this repository pins (found in the npm cache that `npm ci` filled).
      const pinned = (name: string): string => `${name}@${(JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`;
      const commands = setup.body
        .split('\n')
        .map((line) => line.replace(/\s+#.*$/, '').trim())
        .filter(Boolean)
        .map((line) =>
          line
            .replace(/^npm install docker-sim-manager$/, `npm install --no-audit --no-fund --prefer-offline ${path.join(work.dir, filename)}`)
            .replace(/^npm install --save-dev typescript tsx @types\/node$/, `npm install --no-audit --no-fund --prefer-offline --save-dev ${pinned('typescript')} ${pinned('tsx')} ${pinned('@types/node')}`),
        );
      expect(commands).toEqual(expect.arrayContaining(['npm init -y', 'npm pkg set type=module', 'npx dsim example-image']));
      for (const command of commands) await run('bash', ['-c', command], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
      await writeFile(path.join(app, 'sweep.ts'), esm.body);
      await writeFile(path.join(app, 'sweep.cjs'), cjs.body);

      const checkCommands = check.body.split('\n').map((line) => line.trim()).filter(Boolean);
      const typeCheck = checkCommands.find((line) => line.startsWith('npx tsc'));
      expect(typeCheck).toContain('--strict');
      expect(typeCheck).not.toContain('skipLibCheck');
      for (const command of checkCommands) {
        const result = await run('bash', ['-c', command], { cwd: app, maxBuffer: 16 * 1024 * 1024 }).catch((error: { stdout?: string; stderr?: string }) => {
          throw new Error(`\`${command}\` failed in a fresh project:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
        });
        if (command.startsWith('npx tsx')) expect(result.stdout).toContain('19/19 done, 0 failed');
      }
      const cjsRun = await run('node', ['sweep.cjs'], { cwd: app });
      expect(cjsRun.stdout).toContain('19/19 done, 0 failed');
      for (const folder of ['pi', 'pi-cjs']) {
        for (let seed = 1; seed <= 19; seed++) expect(await readFile(path.join(app, 'runs', folder, `job_IT${seed}`, 'pi.txt'), 'utf8')).toMatch(/^\d\.\d{6}\n$/);
      }
      // Run again: resume skips what succeeded.
      expect((await run('npx', ['tsx', 'sweep.ts'], { cwd: app })).stdout).toContain('19/19 done, 0 failed');
    } finally {
      await work.cleanup();
    }
  }, 300_000);
});
