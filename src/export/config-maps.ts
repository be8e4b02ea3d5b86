import type { KubernetesObject, ObjectMeta } from './kubernetes-object.js';

/** A ConfigMap's data stays below this, leaving room for its metadata under the 1 MiB a ConfigMap may hold. */
export const MAX_CONFIG_MAP_DATA = 900 * 1024;

/** One entry of a ConfigMap: text goes in `data`, other bytes in `binaryData`. */
export type ConfigMapEntry = readonly [key: string, value: string | Buffer];

function isText(value: Buffer): boolean {
  return Buffer.from(value.toString('utf8'), 'utf8').equals(value);
}

/**
 * ConfigMaps named `<base>-<n>` (n from 0) holding the entries in order, each below `MAX_CONFIG_MAP_DATA`:
 * what does not fit starts the next one. An entry larger than that alone is the caller's to refuse first.
 */
export function chunkedConfigMaps(base: string, entries: Iterable<ConfigMapEntry>, metadata: ObjectMeta): KubernetesObject[] {
  const maps: KubernetesObject[] = [];
  let data: Record<string, string> = {};
  let binaryData: Record<string, string> = {};
  let size = 0;
  const close = (): void => {
    if (size === 0) return;
    maps.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...metadata, name: `${base}-${maps.length}` },
      ...(Object.keys(data).length > 0 ? { data } : {}),
      ...(Object.keys(binaryData).length > 0 ? { binaryData } : {}),
    });
    data = {};
    binaryData = {};
    size = 0;
  };
  for (const [key, value] of entries) {
    const buffer = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const text = isText(buffer);
    const stored = text ? buffer.toString('utf8') : buffer.toString('base64');
    // JSON escaping can grow text: count what the API server stores, the serialized value.
    const entrySize = key.length + Buffer.byteLength(JSON.stringify(stored));
    if (size + entrySize > MAX_CONFIG_MAP_DATA) close();
    if (text) data[key] = stored;
    else binaryData[key] = stored;
    size += entrySize;
  }
  close();
  return maps;
}
