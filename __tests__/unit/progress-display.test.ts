import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { lineDisplay, terminalDisplay } from '../../src/cli/progress-display.js';
import { DockerSimManager } from '../../src/index.js';
import { InMemoryRuntime } from '../../src/testing.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-display-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A stream that says it is a terminal, collecting what is written. */
function fakeTerminal(): PassThrough & { text(): string } {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 200, rows: 40, cursorTo: () => true, moveCursor: () => true, clearLine: () => true, clearScreenDown: () => true });
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return Object.assign(stream, { text: () => Buffer.concat(chunks).toString('utf8') });
}

function failingRun(): DockerSimManager {
  const runtime = new InMemoryRuntime({ images: { 'sim:latest': {} }, behaviour: () => ({ exitCode: 1, stderr: 'ValueError: size must be positive\n' }) });
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime });
  manager.addSimJob({ name: 'grid2', command: 'x' });
  return manager;
}

test.each([
  ['the terminal display', (manager: DockerSimManager, stream: PassThrough) => terminalDisplay(manager, stream as unknown as NodeJS.WriteStream)],
  ['the plain display', (manager: DockerSimManager, stream: PassThrough) => lineDisplay(manager, stream)],
])('%s names a job that failed at once, with the reason and its log', async (_name, display) => {
  const manager = failingRun();
  const stream = fakeTerminal();
  const shown = display(manager, stream);
  await manager.startComputation();
  shown.stop();
  const text = stream.text();
  expect(text).toContain('grid2: Job grid2 exited with code 1. Last stderr line: ValueError: size must be positive');
  expect(text).toContain(`(log: ${path.join(dir, 'job_grid2', 'log.txt')})`);
});
