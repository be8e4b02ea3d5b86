/** Text helpers shared by the report's renderers: escaping for HTML and for JSON inside a script element. */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside an element or a quoted attribute. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch] ?? ch);
}

const SCRIPT_ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/**
 * JSON text made safe inside `<script type="application/json">`: `<`, `>` and `&` become `\u` escapes, so no
 * value can close the element (`</script>`) or open a comment, and `JSON.parse` still reads the same values.
 * Those characters only ever occur inside JSON strings, so this applies to any slice of JSON text.
 */
export function escapeScriptJson(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (ch) => SCRIPT_ESCAPES[ch] ?? ch);
}

/** `1.25` (under 10 s), `12.5`: milliseconds as seconds, the way the report has always shown them. */
export function seconds(ms: number): string {
  return (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
}

/** `100,000`. */
export function formatCount(count: number): string {
  return String(count).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** `1 job`, `2,000 jobs`. */
export function plural(count: number, noun: string): string {
  return `${formatCount(count)} ${noun}${count === 1 ? '' : 's'}`;
}
