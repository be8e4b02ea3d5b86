/**
 * Benchmarks (not tests): `npm run bench [-- <suite>]`, default suite `run`. See docs/performance.md.
 * A suite is one async function in its own file; a failed check (BenchFailure) exits 1.
 */
import { enginesSuite } from './engines-suite.js';
import { ioSuite } from './io-suite.js';
import { poolSuite } from './pool-suite.js';
import { reportSuite } from './report-suite.js';
import { scaleSuite } from './scale-suite.js';
import { slurmSuite } from './slurm-suite.js';
import { runSuite } from './run-suite.js';

const SUITES: Record<string, () => Promise<void>> = {
  run: runSuite,
  io: ioSuite,
  pool: poolSuite,
  scale: scaleSuite,
  report: reportSuite,
  engines: enginesSuite,
  slurm: slurmSuite,
};

const name = process.argv[2] ?? 'run';
const suite = SUITES[name];
if (suite === undefined) {
  console.error(`Unknown benchmark suite '${name}'. Available: ${Object.keys(SUITES).join(', ')} (npm run bench -- <suite>)`);
  process.exit(2);
}
try {
  await suite();
} catch (error) {
  console.error(`\nbenchmark '${name}' FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
