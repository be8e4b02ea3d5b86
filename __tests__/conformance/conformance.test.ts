/**
 * The conformance suite: every scenario of scenarios.ts on every backend of backends.ts. Backends that need the
 * real engine are skipped without one on a developer's machine and fail under CI=true (describeEngine).
 */
import path from 'node:path';
import { DockerSimManager } from '../../src/index.js';
import { tempDir } from '../helpers/engine.js';
import { BACKENDS } from './backends.js';
import { SCENARIOS, type ScenarioContext } from './scenarios.js';

for (const backend of BACKENDS) {
  backend.describe(`conformance on ${backend.name}`, () => {
    let temp: Awaited<ReturnType<typeof tempDir>> | undefined;
    let cleanups: Array<() => Promise<void> | void> = [];

    beforeAll(() => backend.setup(), 120_000);
    afterAll(() => backend.teardown(), 60_000);
    beforeEach(async () => {
      temp = await tempDir('dsim-conformance-');
      cleanups = [];
    });
    afterEach(async () => {
      try {
        for (const cleanup of cleanups.reverse()) await cleanup();
        // Whatever a scenario did, nothing of it may be left on the engine once its runs resolved.
        expect(await backend.leftovers()).toEqual([]);
      } finally {
        await backend.cleanup();
        await temp?.cleanup();
        temp = undefined;
      }
    }, 60_000);

    const context = (): ScenarioContext => {
      if (!temp) throw new Error('the scenario context exists only inside a test');
      const { dir } = temp;
      const data = path.join(dir, 'data');
      return {
        backend,
        dir,
        data,
        manager: (overrides = {}, extras = {}) => new DockerSimManager(backend.options({ dataDirectory: data, ...overrides }, extras)),
        onCleanup: (cleanup) => {
          cleanups.push(cleanup);
        },
      };
    };

    for (const scenario of SCENARIOS) {
      const applies = scenario.appliesTo?.(backend) ?? true;
      (applies ? test : test.skip)(scenario.title?.(backend) ?? scenario.name, () => scenario.run(context()), scenario.timeoutMs ?? 60_000);
    }
  });
}
