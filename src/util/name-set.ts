/**
 * 64-bit fingerprints of strings, kept in an open-addressing table of typed arrays: 16 to 32 bytes per name
 * (8 for the fingerprint, the rest the table's free room; 24 to 48 with a 32-bit value per name) instead of a
 * string and a Set entry. Used where a
 * sweep of millions of jobs must remember every name (duplicate checks) or every finished job (resume).
 *
 * Two different names share a fingerprint with a probability of about n² / 2⁶⁵: 3 in 100 million for a
 * million names. Callers that must never confuse two names (resume) compare a second fingerprint too.
 */

/** Two independent 32-bit hashes of a string (cyrb53's mixing, extended to 64 bits). */
export function fingerprint(text: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  // 0 marks a free cell: a real fingerprint never has a zero high half.
  return [h1 >>> 0 || 1, h2 >>> 0];
}

/** A set of names by fingerprint, with an optional 32-bit value per name. */
export class NameSet {
  private keysHigh: Uint32Array;
  private keysLow: Uint32Array;
  /** Made on the first value that is not 0: a plain set of names needs none. */
  private values: Uint32Array | undefined;
  private count = 0;

  constructor(initialCapacity = 1024) {
    let capacity = 16;
    while (capacity < initialCapacity * 2) capacity *= 2;
    this.keysHigh = new Uint32Array(capacity);
    this.keysLow = new Uint32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.keysHigh.byteLength * 2 + (this.values?.byteLength ?? 0);
  }

  /** Adds a name; false when it was already there. */
  add(name: string, value = 0): boolean {
    const [high, low] = fingerprint(name);
    const cell = this.find(high, low);
    if (this.keysHigh[cell] !== 0) return false;
    this.put(cell, high, low, value);
    return true;
  }

  /** Adds or replaces a name's value. */
  set(name: string, value: number): void {
    const [high, low] = fingerprint(name);
    const cell = this.find(high, low);
    if (this.keysHigh[cell] === 0) this.put(cell, high, low, value);
    else this.store(cell, value);
  }

  has(name: string): boolean {
    const [high, low] = fingerprint(name);
    return this.keysHigh[this.find(high, low)] !== 0;
  }

  /** The value stored with a name, undefined when it is not in the set. */
  get(name: string): number | undefined {
    const [high, low] = fingerprint(name);
    const cell = this.find(high, low);
    return this.keysHigh[cell] === 0 ? undefined : (this.values?.[cell] ?? 0);
  }

  /** The cell holding the fingerprint, or the free cell where it would go (linear probing). */
  private find(high: number, low: number): number {
    const mask = this.keysHigh.length - 1;
    let cell = (low ^ high) & mask;
    for (;;) {
      const stored = this.keysHigh[cell];
      if (stored === 0 || (stored === high && this.keysLow[cell] === low)) return cell;
      cell = (cell + 1) & mask;
    }
  }

  private put(cell: number, high: number, low: number, value: number): void {
    this.keysHigh[cell] = high;
    this.keysLow[cell] = low;
    this.store(cell, value);
    this.count += 1;
    if (this.count * 2 > this.keysHigh.length) this.grow();
  }

  private store(cell: number, value: number): void {
    if (value === 0 && this.values === undefined) return;
    this.values ??= new Uint32Array(this.keysHigh.length);
    this.values[cell] = value;
  }

  private grow(): void {
    const { keysHigh, keysLow, values } = this;
    const capacity = keysHigh.length * 2;
    this.keysHigh = new Uint32Array(capacity);
    this.keysLow = new Uint32Array(capacity);
    this.values = values === undefined ? undefined : new Uint32Array(capacity);
    for (let i = 0; i < keysHigh.length; i++) {
      const high = keysHigh[i] as number;
      if (high === 0) continue;
      const cell = this.find(high, keysLow[i] as number);
      this.keysHigh[cell] = high;
      this.keysLow[cell] = keysLow[i] as number;
      if (this.values !== undefined) this.values[cell] = values?.[i] as number;
    }
  }
}
