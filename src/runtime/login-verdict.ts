/**
 * Podman talks HTTPS to every registry that registries.conf does not mark `insecure`, where Docker also talks plain
 * HTTP to registries on 127.0.0.0/8; a plain-HTTP registry then answers its HTTPS request with this.
 */
export const PLAIN_HTTP_ANSWER = /server gave HTTP response to HTTPS client/i;

/** What Podman needs to use a plain-HTTP registry, for messages. */
export function plainHttpHint(registry: string): string {
  return `Podman talks plain HTTP to a registry only when registries.conf marks it insecure: add \`[[registry]] location = "${registry}" insecure = true\` to a file in /etc/containers/registries.conf.d/ (rootless: ~/.config/containers/registries.conf.d/), then restart the Podman service or send it SIGHUP. Better, serve the registry over HTTPS.`;
}

/**
 * What an engine's failed login (`POST /auth`) says about the credentials: `'refused'` when the registry refused
 * them, `'no-verdict'` when the engine could not ask, undefined for any other failure (the engine's own).
 *
 * Docker answers a refusal with 401 (20.10: 500 "… failed with status: 401 Unauthorized"), Podman with 500
 * "… 401 Unauthorized". Podman's login asks over HTTPS only, whatever registries.conf says (only an address
 * starting with `localhost:` is exempt; containers/podman#16486): for a plain-HTTP registry that registries.conf
 * marks insecure it has no verdict, while its pull, which honours registries.conf, has one.
 */
export function loginVerdict(status: number | undefined, message: string, isPodman: boolean): 'refused' | 'no-verdict' | undefined {
  if (status === 500 && isPodman && PLAIN_HTTP_ANSWER.test(message)) return 'no-verdict';
  // Words, not status numbers: a 500's message also names the registry's port, which may hold "401".
  if (status === 401 || status === 403 || (status === 500 && /unauthori[sz]ed|forbidden|denied|incorrect username or password/i.test(message))) {
    return 'refused';
  }
  return undefined;
}
