import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** Every ```ts block of README.md and docs/*.md, with where it came from. */
async function samples(): Promise<Array<{ file: string; line: number; code: string }>> {
  const docs = existsSync(path.join(root, 'docs')) ? (await readdir(path.join(root, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`) : [];
  const found: Array<{ file: string; line: number; code: string }> = [];
  for (const file of ['README.md', ...docs]) {
    const text = await readFile(path.join(root, file), 'utf8');
    for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      found.push({ file, line: text.slice(0, match.index).split('\n').length, code: match[1] ?? '' });
    }
  }
  return found;
}

test('every TypeScript sample in README.md and docs/ compiles against the public API', async () => {
  const blocks = await samples();
  expect(blocks.length).toBeGreaterThan(5);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-docs-'));
  try {
    const names = await Promise.all(
      blocks.map(async (block, index) => {
        const name = `${block.file.replace(/\W/g, '_')}_L${block.line}_${index}.ts`;
        await writeFile(path.join(dir, name), `${block.code}\nexport {};\n`);
        return name;
      }),
    );
    await writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          noEmit: true,
          types: ['node'],
          typeRoots: [path.join(root, 'node_modules/@types')],
          baseUrl: '.',
          paths: {
            'docker-sim-manager': [path.join(root, 'src/index.ts')],
            'docker-sim-manager/testing': [path.join(root, 'src/testing.ts')],
            '*': [path.join(root, 'node_modules/*')],
          },
        },
        files: names,
      }),
    );
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const result = await run(path.join(root, 'node_modules/.bin/tsc'), ['-p', dir]).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    // Name the doc and line of each failing sample.
    expect(result.replace(/(\w+)_md_L(\d+)_\d+\.ts/g, (_m, file: string, line: string) => `${file}.md:${line}`)).toBe('');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
