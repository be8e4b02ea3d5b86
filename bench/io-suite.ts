/**
 * `npm run bench -- io`: a 200 MB template folder into the container and a 200 MB output out of it, through the
 * package in bind mode and in copy mode, against `docker cp` of the same data on the same engine, alternating,
 * in one run. Prints wall times, the ratio to `docker cp` and the package's peak RSS growth.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager } from '../src/index.js';
import { busyboxBase, buildImage } from '../examples/images.js';
import { check, formatMiB, formatSeconds, median, printTable, sh, startRssSampler, timed } from './lib.js';

const IMAGE = 'docker-sim-manager/test-shell:latest';
const FILE_MIB = 50;
const FILES = 4; // 4 x 50 MiB of templates in, 200 MiB out
const ROUNDS = 3;
const OUTPUT_COMMAND = `head -c ${FILES * FILE_MIB * 1024 * 1024} /dev/zero > /mnt/data/out.bin && du -s /sim/in`;

async function ensureShellImage(): Promise<void> {
  try {
    await sh(`docker image inspect ${IMAGE} >/dev/null`);
  } catch {
    const base = busyboxBase();
    await buildImage({ tag: IMAGE, dockerfile: `${base.dockerfileHead}ENTRYPOINT ["/bin/sh", "-c"]\n`, files: base.files });
  }
}

async function viaPackage(mode: 'bind' | 'copy', templates: string, work: string): Promise<void> {
  const dataDirectory = await mkdtemp(path.join(work, `pkg-${mode}-`));
  const manager = new DockerSimManager({ image: IMAGE, dataDirectory, maxWorkers: 1, defaults: { outputMode: mode, network: 'none' } });
  manager.addSimJob({ name: 'io', command: [OUTPUT_COMMAND], templates: [{ source: templates, target: '/sim/in' }] });
  const summary = await manager.startComputation();
  check(summary.succeeded === 1, `package (${mode}) job failed: ${summary.results[0]?.error?.message}`);
  check((await stat(path.join(dataDirectory, 'job_io', 'out.bin'))).size === FILES * FILE_MIB * 1024 * 1024, `package (${mode}) output incomplete`);
  await rm(dataDirectory, { recursive: true, force: true });
}

async function viaDockerCp(templates: string, work: string): Promise<void> {
  const out = await mkdtemp(path.join(work, 'cp-'));
  const id = (await sh(`docker create --network none -v /mnt/data ${IMAGE} '${OUTPUT_COMMAND}'`)).trim();
  try {
    // docker cp needs the destination's parent to exist: copying the parent's contents creates /sim/in.
    await sh(`docker cp ${path.dirname(templates)}/. ${id}:/sim`);
    await sh(`docker start -a ${id} >/dev/null`);
    await sh(`docker cp ${id}:/mnt/data/. ${out}`);
    check((await stat(path.join(out, 'out.bin'))).size === FILES * FILE_MIB * 1024 * 1024, 'docker cp output incomplete');
  } finally {
    await sh(`docker rm -v -f ${id} >/dev/null`);
    await rm(out, { recursive: true, force: true });
  }
}

export async function ioSuite(): Promise<void> {
  await ensureShellImage();
  const work = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-io-'));
  try {
    // The template folder: <work>/tpl/in/part<i>.bin, so `docker cp tpl/. c:/sim` yields /sim/in like the package.
    const templates = path.join(work, 'tpl', 'in');
    await sh(`mkdir -p ${templates}`);
    for (let i = 0; i < FILES; i++) await writeFile(path.join(templates, `part${i}.bin`), Buffer.alloc(FILE_MIB * 1024 * 1024, i + 1));
    console.log(`io: ${FILES * FILE_MIB} MiB of templates in, ${FILES * FILE_MIB} MiB of output out; ${ROUNDS} rounds, the first is a warm-up`);

    const times: Record<'bind' | 'copy' | 'cp', number[]> = { bind: [], copy: [], cp: [] };
    let peakGrowth = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const variant of ['copy', 'cp', 'bind'] as const) {
        const baseline = process.memoryUsage.rss();
        const sampler = startRssSampler(20);
        const { wallMs } = await timed(() => (variant === 'cp' ? viaDockerCp(templates, work) : viaPackage(variant, templates, work)));
        const peak = sampler.stop();
        if (variant !== 'cp') peakGrowth = Math.max(peakGrowth, peak - baseline);
        if (round > 0) times[variant].push(wallMs);
        console.log(`  round ${round + 1} ${variant.padEnd(4)} ${formatSeconds(wallMs)}${round === 0 ? ' (warm-up)' : ''}`);
      }
    }
    const cp = median(times.cp);
    printTable(
      ['variant', 'median wall', 'ratio to docker cp'],
      [
        ['package, copy mode', formatSeconds(median(times.copy)), (median(times.copy) / cp).toFixed(2)],
        ['package, bind mode', formatSeconds(median(times.bind)), (median(times.bind) / cp).toFixed(2)],
        ['docker cp (create, cp in, start, cp out, rm)', formatSeconds(cp), '1.00'],
      ],
    );
    console.log(`package peak RSS growth during a run: ${formatMiB(peakGrowth)} (target < 100 MiB)`);
    console.log(`copy mode / docker cp = ${(median(times.copy) / cp).toFixed(2)} (target <= 1.2)`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
