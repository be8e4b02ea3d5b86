/**
 * Builds the example simulation images locally, with no registry: `FROM scratch` plus the host's static
 * busybox. Where no static busybox exists, the image is built from the `busybox` base image instead (which needs
 * Docker Hub). Used by `npm run demo`, the tests and the benchmarks.
 *
 *   tsx examples/images.ts monte-carlo-pi        build the image when it is absent
 *   tsx examples/images.ts monte-carlo-pi --force  rebuild it
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import tarStream from 'tar-stream';
import { MONTE_CARLO_PI_SCRIPT, staticBusybox } from '../src/cli/example-image.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BUSYBOX = '/bin/busybox';

/** The example images and their tags. */
export const EXAMPLE_IMAGES = {
  'monte-carlo-pi': { tag: 'docker-sim-manager/monte-carlo-pi:latest', script: 'monte-carlo-pi.sh' },
  'random-art': { tag: 'docker-sim-manager/random-art:latest', script: 'random-art.sh' },
} as const;
export type ExampleName = keyof typeof EXAMPLE_IMAGES;

/** Builds an image from in-memory files; rejects on any error line of the build stream. */
export async function buildImage(options: {
  tag: string;
  dockerfile: string;
  files?: Record<string, { content: Buffer | string; mode?: number }>;
  docker?: Docker;
}): Promise<void> {
  const docker = options.docker ?? new Docker();
  const pack = tarStream.pack();
  pack.entry({ name: 'Dockerfile', mode: 0o644 }, options.dockerfile);
  for (const [name, file] of Object.entries(options.files ?? {})) {
    pack.entry({ name, mode: file.mode ?? 0o644 }, typeof file.content === 'string' ? Buffer.from(file.content) : file.content);
  }
  pack.finalize();
  const stream = await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: options.tag, rm: true, forcerm: true });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, events: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
        const failed = events?.find((e) => e.error !== undefined || e.errorDetail !== undefined);
        if (error) reject(error);
        else if (failed) reject(new Error(`Building ${options.tag} failed: ${failed.errorDetail?.message ?? failed.error}`));
        else resolve();
      },
    );
  });
}

/** A busybox image for tests: the host's static busybox, or the busybox base image as a fallback. */
export function busyboxBase(): { dockerfileHead: string; files: Record<string, { content: Buffer; mode: number }> } {
  const busybox = staticBusybox(BUSYBOX);
  if (busybox) {
    return {
      dockerfileHead: 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n',
      files: { busybox: { content: busybox, mode: 0o755 } },
    };
  }
  return { dockerfileHead: 'FROM busybox:1.36\n', files: {} };
}

/** Builds an example image unless it is already there (or `force`). Returns its tag. */
export async function ensureExampleImage(name: ExampleName, options: { force?: boolean; docker?: Docker } = {}): Promise<string> {
  const docker = options.docker ?? new Docker();
  const { tag, script } = EXAMPLE_IMAGES[name];
  if (!options.force) {
    try {
      await docker.getImage(tag).inspect();
      return tag;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  }
  const base = busyboxBase();
  const dockerfile = `${base.dockerfileHead}COPY ${script} /sim/${script}\nENTRYPOINT ["/bin/sh", "/sim/${script}"]\n`;
  await buildImage({
    tag,
    dockerfile,
    // The Monte Carlo script is the package's own (`dsim example-image` builds the same image for npm users).
    files: { ...base.files, [script]: { content: name === 'monte-carlo-pi' ? Buffer.from(MONTE_CARLO_PI_SCRIPT) : readFileSync(path.join(here, 'simulations', name, script)), mode: 0o755 } },
    docker,
  });
  return tag;
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const name = process.argv[2] as ExampleName | undefined;
  if (!name || !(name in EXAMPLE_IMAGES)) {
    console.error(`usage: tsx examples/images.ts <${Object.keys(EXAMPLE_IMAGES).join('|')}> [--force]`);
    process.exit(2);
  }
  ensureExampleImage(name, { force: process.argv.includes('--force') })
    .then((tag) => console.log(`image ready: ${tag}`))
    .catch((error: Error) => {
      console.error(`Could not build the ${name} image: ${error.message}`);
      console.error('Is a Docker engine running? On a bare Debian machine: sudo bash scripts/docker-engine.sh');
      process.exit(1);
    });
}
