import { ImagePullError } from '../errors/image-pull-error.js';
import { RegistryAuthError } from '../errors/registry-auth-error.js';
import { PLAIN_HTTP_ANSWER, plainHttpHint } from './login-verdict.js';
import type { RegistryCredentials } from './container-runtime.js';

/**
 * The error for a pull whose progress stream reported `failure`. On Podman the pull is where credentials for a
 * plain-HTTP registry are judged (its login could not ask, see `loginVerdict`): their refusal is a
 * `RegistryAuthError`, as the login's would be. A plain-HTTP registry Podman was not told about gets the setting
 * it needs in the message. Everything else, and every failure on Docker, is an `ImagePullError`.
 */
export function pullFailure(reference: string, failure: string, options: { isPodman: boolean; credentials?: RegistryCredentials }): ImagePullError | RegistryAuthError {
  const registry = options.credentials?.serveraddress;
  if (options.isPodman && registry !== undefined && /unauthori[sz]ed|authentication required|incorrect username or password/i.test(failure)) {
    return new RegistryAuthError(registry, `The registry ${registry} refused the credentials for ${reference}: ${failure}. Check the user name and token (and that the token may read packages).`);
  }
  if (options.isPodman && PLAIN_HTTP_ANSWER.test(failure)) {
    const host = /pinging container registry ([^:\s]+(?::\d+)?)/.exec(failure)?.[1] ?? registry ?? reference.split('/')[0] ?? reference;
    return new ImagePullError(reference, `Cannot pull image ${reference}: ${failure}. ${plainHttpHint(host)}`);
  }
  return new ImagePullError(reference, `Cannot pull image ${reference}: ${failure}`);
}
