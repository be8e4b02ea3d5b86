import { ValidationError } from '../errors/validation-error.js';
import type { ParameterValue, SweepSpec } from './sweep-schema.js';

/** One row of parameters: the values one job gets. */
export type ParameterRow = Record<string, ParameterValue>;

/**
 * One factor of the product: a `grid` parameter, the `zip` lists together, or the `list` rows. Position `k` of it
 * gives some of a row's values.
 */
export interface ParameterAxis {
  /** Where it comes from, for messages: `parameters.grid.seed`, `parameters.zip`, `parameters.list`. */
  readonly section: string;
  /** How many positions it has. */
  readonly size: number;
  /** The parameters it gives values to. For `list`, every key of any row (a row may lack some). */
  readonly names: readonly string[];
  /** The values of position `k`. */
  valuesAt(k: number): ParameterRow;
  /** @internal Puts the values of position `k` into `row` (what `valuesAt` gives, without a new object). */
  writeTo(row: ParameterRow, k: number): void;
}

/**
 * The parameter rows of a sweep, made on demand: row `i` is read from its position in each axis (mixed-radix
 * counting, the last axis fastest), so a sweep of a million rows holds only its lists of values.
 */
export interface ParameterRows extends Iterable<ParameterRow> {
  /** How many rows: the product of the axes' sizes (1 without parameters). */
  readonly count: number;
  /** The factors of the product, in order (the first changes slowest). */
  readonly axes: readonly ParameterAxis[];
  /** Row `index` (0-based), a new object each time. */
  at(index: number): ParameterRow;
}

function axis(section: string, size: number, names: readonly string[], writeTo: (row: ParameterRow, k: number) => void): ParameterAxis {
  return {
    section,
    size,
    names,
    writeTo,
    valuesAt: (k) => {
      const row: ParameterRow = {};
      writeTo(row, k);
      return row;
    },
  };
}

function axesOf(spec: Pick<SweepSpec, 'parameters'>): ParameterAxis[] {
  const { grid, zip, list } = spec.parameters ?? {};
  const seen = new Map<string, string>();
  const claim = (name: string, section: string): void => {
    const earlier = seen.get(name);
    if (earlier !== undefined) throw new ValidationError(`parameters.${section}.${name}`, name, `Parameter '${name}' is given in parameters.${earlier} and parameters.${section}; each parameter may appear once.`);
    seen.set(name, section);
  };
  const axes: ParameterAxis[] = [];
  for (const [name, values] of Object.entries(grid ?? {})) {
    claim(name, 'grid');
    axes.push(
      axis(`parameters.grid.${name}`, values.length, [name], (row, k) => {
        row[name] = values[k] as ParameterValue;
      }),
    );
  }
  const columns = Object.entries(zip ?? {});
  const [firstName, firstValues] = columns[0] ?? ['', []];
  for (const [name, values] of columns) {
    claim(name, 'zip');
    if (values.length !== firstValues.length) {
      throw new ValidationError(`parameters.zip.${name}`, values, `parameters.zip lists must have equal lengths: '${firstName}' has ${firstValues.length} values, '${name}' has ${values.length}.`);
    }
  }
  if (columns.length > 0) {
    axes.push(
      axis('parameters.zip', firstValues.length, columns.map(([name]) => name), (row, k) => {
        for (const [name, values] of columns) row[name] = values[k] as ParameterValue;
      }),
    );
  }
  if (list) {
    const names = [...new Set(list.flatMap((row) => Object.keys(row)))];
    for (const name of names) claim(name, 'list');
    axes.push(axis('parameters.list', list.length, names, (row, k) => Object.assign(row, list[k])));
  }
  return axes;
}

/**
 * The parameter rows of a sweep: the cartesian product of its `grid`, its `zip` rows and its `list` rows, the
 * first key changing slowest. Nothing is multiplied out: `count` is computed, and a row is made when it is read.
 * A parameter given twice, zip lists of different lengths and a product too large to count are
 * `ValidationError`s, thrown here.
 *
 * @example
 * ```ts
 * const rows = parameterRows({ parameters: { grid: { seed: [1, 2, 3], n: [10, 100] } } });
 * console.log(rows.count, rows.at(1)); // 6 { seed: 1, n: 100 }
 * ```
 */
export function parameterRows(spec: Pick<SweepSpec, 'parameters'>): ParameterRows {
  const axes = axesOf(spec);
  const count = axes.reduce((product, axis) => product * axis.size, 1);
  if (!Number.isSafeInteger(count)) {
    throw new ValidationError('parameters', count, `The parameters give ${axes.map((axis) => axis.size).join(' × ')} = ${count} rows, more than can be counted (${Number.MAX_SAFE_INTEGER}). Split the sweep into smaller ones.`);
  }
  const positionsOf = (index: number): number[] => {
    if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`Expected a row index from 0 to ${count - 1}, got ${index}.`);
    const positions = new Array<number>(axes.length);
    let rest = index;
    for (let a = axes.length - 1; a >= 0; a--) {
      const size = (axes[a] as ParameterAxis).size;
      positions[a] = rest % size;
      rest = Math.floor(rest / size);
    }
    return positions;
  };
  const at = (index: number): ParameterRow => {
    const positions = positionsOf(index);
    const row: ParameterRow = {};
    for (let a = 0; a < axes.length; a++) (axes[a] as ParameterAxis).writeTo(row, positions[a] as number);
    return row;
  };
  return {
    count,
    axes,
    at,
    *[Symbol.iterator]() {
      for (let i = 0; i < count; i++) yield at(i);
    },
  };
}
