/** The edit distance between two strings, ignoring case (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  let previous = Array.from({ length: right.length + 1 }, (_, i) => i);
  for (let i = 1; i <= left.length; i++) {
    const current = [i];
    for (let j = 1; j <= right.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (left[i - 1] === right[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[right.length] ?? 0;
}

/**
 * The valid name nearest to a misspelt one (`maxworker` -> `maxWorkers`, `timeoutMs` -> `timeout`), when one is
 * close enough to be a likely typo: at most a third of its length away. Undefined otherwise.
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (best === undefined || distance < best.distance) best = { name: candidate, distance };
  }
  if (best === undefined || best.distance > Math.max(2, Math.floor(best.name.length / 3))) return undefined;
  return best.name;
}

/** ` Did you mean \`x\`?` for a misspelt name, or a fallback hint. */
export function didYouMean(name: string, candidates: Iterable<string>, fallback = 'Check its spelling.'): string {
  const nearest = closestName(name, candidates);
  return nearest === undefined ? fallback : `Did you mean \`${nearest}\`?`;
}
