import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const entry = { index: 'src/index.ts', testing: 'src/testing.ts' };

// No source maps: they would point stack traces at src/ files the package does not ship.
export default defineConfig([
  { entry, format: ['esm'], dts: true, clean: true, target: 'node20', splitting: true },
  // The `dsim` bin: ESM only (its shebang is kept), with the package version baked in.
  {
    entry: { cli: 'src/cli/dsim.ts' },
    format: ['esm'],
    target: 'node20',
    define: { __DSIM_VERSION__: JSON.stringify((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version) },
  },
  { entry, format: ['cjs'], dts: true, target: 'node20', splitting: true},
]);
