import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import type { DockerodeRuntime } from '../runtime/dockerode-runtime.js';

/** The tag `dsim example-image` builds, and the README's quick start runs. */
export const EXAMPLE_IMAGE = 'docker-sim-manager/monte-carlo-pi:latest';

/**
 * The example simulation: a Monte Carlo estimate of pi in POSIX sh and awk, so any busybox image runs it.
 * `-o <folder> -r <seed> -i <iterations>`; writes `<folder>/pi.txt` and prints `Result: pi_hat = <estimate>`.
 */
export const MONTE_CARLO_PI_SCRIPT = `#!/bin/sh
# Monte Carlo estimate of pi.
#   monte-carlo-pi -o <output folder> -r <random seed> -i <iterations>
# Writes <output folder>/pi.txt and prints "Result: pi_hat = <estimate>".
set -eu
out=/mnt/data
seed=1
iterations=1000
while getopts "o:r:i:" opt; do
  case "$opt" in
    o) out=$OPTARG ;;
    r) seed=$OPTARG ;;
    i) iterations=$OPTARG ;;
    *) echo "usage: monte-carlo-pi -o <dir> -r <seed> -i <iterations>" >&2; exit 2 ;;
  esac
done
case "$iterations" in
  ''|*[!0-9]*) echo "error: iterations must be a positive integer, got '$iterations'" >&2; exit 2 ;;
esac
case "$seed" in
  ''|*[!0-9]*) echo "error: seed must be a non-negative integer, got '$seed'" >&2; exit 2 ;;
esac
echo "Estimating pi with $iterations samples (seed $seed)"
pi=$(awk -v n="$iterations" -v seed="$seed" 'BEGIN {
  srand(seed); hits = 0
  for (i = 0; i < n; i++) { x = rand(); y = rand(); if (x * x + y * y <= 1) hits++ }
  printf "%.6f", 4 * hits / n
}')
mkdir -p "$out"
echo "$pi" > "$out/pi.txt"
echo "Result: pi_hat = $pi"
`;

const TAIL = 'COPY monte-carlo-pi.sh /sim/monte-carlo-pi.sh\nENTRYPOINT ["/bin/sh", "/sim/monte-carlo-pi.sh"]\n';

/** The Dockerfile on the busybox base image (pulled from Docker Hub). */
export const EXAMPLE_DOCKERFILE = `# The docker-sim-manager example: a Monte Carlo estimate of pi.\nFROM busybox:1.36\n${TAIL}`;

/** The Dockerfile that needs no registry: a static busybox binary from the host is the whole userland. */
const OFFLINE_DOCKERFILE = `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n${TAIL}`;

/** A statically linked busybox on this host, usable as an image's userland (Debian: busybox-static). */
export function staticBusybox(file = '/bin/busybox'): Buffer | undefined {
  if (!existsSync(file)) return undefined;
  const binary = readFileSync(file);
  const head = binary.subarray(0, 64 * 1024).toString('latin1');
  return head.startsWith('\x7fELF') && !/ld-linux|ld-musl|\/lib\/ld/.test(head) ? binary : undefined;
}

/** The build context of the example image: the host's static busybox when there is one (no registry needed), else busybox from Docker Hub. */
export function exampleBuildContext(busybox: Buffer | undefined = staticBusybox()): { files: Record<string, { content: string | Buffer; mode: number }>; base: 'host busybox' | 'busybox:1.36' } {
  const files: Record<string, { content: string | Buffer; mode: number }> = {
    Dockerfile: { content: busybox ? OFFLINE_DOCKERFILE : EXAMPLE_DOCKERFILE, mode: 0o644 },
    'monte-carlo-pi.sh': { content: MONTE_CARLO_PI_SCRIPT, mode: 0o755 },
  };
  if (busybox) files.busybox = { content: busybox, mode: 0o755 };
  return { files, base: busybox ? 'host busybox' : 'busybox:1.36' };
}

/** Builds the example image on the engine; resolves with what it was built from. */
export async function buildExampleImage(runtime: DockerodeRuntime, tag = EXAMPLE_IMAGE): Promise<'host busybox' | 'busybox:1.36'> {
  // The host's busybox can only be used by an engine that runs on this host's architecture: a local one.
  const { files, base } = exampleBuildContext(runtime.isLocal ? staticBusybox() : undefined);
  const pack = tarStream.pack();
  for (const [name, file] of Object.entries(files)) pack.entry({ name, mode: file.mode }, file.content);
  pack.finalize();
  await runtime.buildImage(pack as unknown as Readable, tag);
  return base;
}

/** Writes the example's Dockerfile (busybox base) and script into `folder`, for `docker build` by hand. */
export async function writeExampleFiles(folder: string): Promise<string[]> {
  await mkdir(folder, { recursive: true });
  const written = [path.join(folder, 'Dockerfile'), path.join(folder, 'monte-carlo-pi.sh')];
  await writeFile(written[0] as string, EXAMPLE_DOCKERFILE, { flag: 'wx' });
  await writeFile(written[1] as string, MONTE_CARLO_PI_SCRIPT, { flag: 'wx', mode: 0o755 });
  return written;
}
