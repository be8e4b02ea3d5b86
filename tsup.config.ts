import { defineConfig } from 'tsup';

// p-limit (and its yocto-queue) are ESM-only: the ESM build imports them, the CJS build bundles them, so
// `require('docker-sim-manager')` works on every Node >= 20 without require(esm).
const esmOnly = ['p-limit', 'yocto-queue'];
const entry = { index: 'src/index.ts', testing: 'src/testing.ts' };

export default defineConfig([
  { entry, format: ['esm'], dts: true, sourcemap: true, clean: true, target: 'node20', splitting: true },
  { entry, format: ['cjs'], dts: true, sourcemap: true, target: 'node20', splitting: true, noExternal: esmOnly },
]);
