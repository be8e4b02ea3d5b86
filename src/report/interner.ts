/** Distinct strings, each kept once, with a small integer id each. */
export class Interner {
  readonly values: string[] = [];
  private readonly ids = new Map<string, number>();
  /** The last string asked for: consecutive records mostly repeat it (the run, the image, the engine). */
  private last: string | undefined;
  private lastId = -1;

  constructor(initial: readonly string[] = []) {
    for (const value of initial) this.id(value);
  }

  id(value: string): number {
    if (value === this.last) return this.lastId;
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.ids.set(value, id);
    }
    this.last = value;
    this.lastId = id;
    return id;
  }
}
