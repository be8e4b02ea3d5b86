import type { RegistryAuthenticator } from '../auth/registry-authenticator.js';
import { registryOf } from '../auth/registry-of.js';
import { selectCredentials } from '../auth/select-credentials.js';
import { ImageNotFoundError } from '../errors/image-not-found-error.js';
import { RegistryAuthError } from '../errors/registry-auth-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type { ContainerRuntime, ImageInfo, PullProgress, RegistryCredentials } from '../runtime/container-runtime.js';

/** The repository part of a reference: without its tag or digest. */
export function repositoryOf(reference: string): string {
  const withoutDigest = reference.split('@')[0] ?? reference;
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  return colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
}

/** The repo digest of an image for a reference's repository (`repo@sha256:...`), null for a local build. */
export function digestOf(reference: string, info: ImageInfo): string | null {
  const repository = repositoryOf(reference);
  const short = repository.replace(/^(docker\.io\/)?(library\/)?/, '');
  return info.repoDigests.find((d) => d.startsWith(`${repository}@`) || d.startsWith(`${short}@`)) ?? info.repoDigests[0] ?? null;
}

/** Asks the registry (through the engine) to accept `credentials`; `RegistryAuthError` when it refuses. */
export async function checkCredentials(runtime: ContainerRuntime, reference: string, credentials: RegistryCredentials): Promise<void> {
  const registry = registryOf(reference);
  const answer = await runtime.checkAuth(credentials);
  if (!answer.isAccepted) {
    throw new RegistryAuthError(
      registry,
      `The registry ${registry} refused the credentials for ${reference}: ${answer.message}. Check the user name and token (and that the token may read packages).`,
    );
  }
}

/** How an image is found or fetched on an engine. */
export interface ResolveImageOptions {
  reference: string;
  pullPolicy: 'always' | 'missing' | 'never';
  authenticators: readonly RegistryAuthenticator[];
  /** Pull progress, throttled: a status change per layer always, byte counts at most every 250 ms. */
  onProgress(progress: PullProgress): void;
}

/** Finds the image on the engine, pulling it when the policy says so (credentials checked first). */
export async function resolveImage(runtime: ContainerRuntime, options: ResolveImageOptions): Promise<{ info: ImageInfo; wasPulled: boolean }> {
  const { reference, pullPolicy } = options;
  if (pullPolicy !== 'always') {
    const info = await runtime.inspectImage(reference);
    if (info) return { info, wasPulled: false };
    if (pullPolicy === 'never') {
      throw new ImageNotFoundError(
        reference,
        `Image ${reference} is not on the engine at ${runtime.endpoint} and pullPolicy is 'never'. Build it (docker build -t ${reference} .), load it (docker load), or set pullPolicy: 'missing'.`,
      );
    }
  }
  // A pull is about to happen: credentials are checked first, so a wrong token fails before any container.
  const credentials = await selectCredentials(options.authenticators, registryOf(reference));
  if (credentials !== undefined) await checkCredentials(runtime, reference, credentials);
  const lastEmitted = new Map<string, { status: string; at: number }>();
  await runtime.pullImage(reference, {
    ...(credentials === undefined ? {} : { credentials }),
    onProgress: (progress) => {
      const key = progress.layer ?? '';
      const last = lastEmitted.get(key);
      const now = Date.now();
      if (last && last.status === progress.status && now - last.at < 250) return;
      lastEmitted.set(key, { status: progress.status, at: now });
      options.onProgress(progress);
    },
  });
  const info = await runtime.inspectImage(reference);
  if (!info) throw new ImageNotFoundError(reference, `Image ${reference} was pulled but the engine at ${runtime.endpoint} does not list it.`);
  return { info, wasPulled: true };
}

/**
 * Resolves the image on every engine. With several engines it must be the same image everywhere (the same id, or
 * a repo digest in common), else a `ValidationError` naming the engine, before any container: jobs must not
 * depend on where they ran.
 */
export async function resolveImageEverywhere(
  engines: ReadonlyArray<{ name: string; runtime: ContainerRuntime }>,
  options: ResolveImageOptions,
): Promise<Array<{ info: ImageInfo; wasPulled: boolean }>> {
  const images = await Promise.all(engines.map((engine) => resolveImage(engine.runtime, options)));
  const [first] = images;
  if (!first) throw new ImageNotFoundError(options.reference, 'No engine to resolve the image on.');
  images.forEach((image, i) => {
    const isSame = image.info.id === first.info.id || image.info.repoDigests.some((digest) => first.info.repoDigests.includes(digest));
    if (isSame) return;
    throw new ValidationError(
      `engines[${i}]`,
      engines[i]?.name,
      `Image ${options.reference} is ${image.info.id.slice(0, 19)} on engine ${engines[i]?.name} but ${first.info.id.slice(0, 19)} on engine ${engines[0]?.name}: the engines hold different images under that name. Push it to a registry and pull it everywhere (pullPolicy: 'always'), or load the same bundle on each (saveImage/loadImage).`,
    );
  });
  return images;
}
