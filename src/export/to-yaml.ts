import { stringify } from 'yaml';
import type { KubernetesObject } from './kubernetes-object.js';

/** Objects as one multi-document YAML stream, as `kubectl apply -f` and `argo submit` read it. */
export function toYaml(objects: readonly KubernetesObject[], header?: string): string {
  const documents = objects.map((object) => stringify(object, { lineWidth: 0, aliasDuplicateObjects: false }));
  const comment = header === undefined ? '' : `${header.split('\n').map((line) => `# ${line}`.trimEnd()).join('\n')}\n`;
  return `${comment}${documents.join('---\n')}`;
}
