/**
 * Key confinement: keys (many come from stored metadata, e.g. a precomputed scale `key` or a
 * group path) must never reach outside the opened store's root. Every store checks its keys
 * with {@link checkKey} before any I/O; the file store has its own, stricter path check.
 */
import { KvStoreError } from '../errors.js';

/** Decodes `%xx` escapes once; undefined when the text is not valid percent-encoding. */
function decodeOnce(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * Why `key` could escape a store's root, or undefined when it cannot:
 * - absolute keys (a leading `/` or `\`);
 * - `.` or `..` segments, where segments are split at `/` and also at `\` (which some servers
 *   and URL parsers treat as a separator), in the key as written and after each of up to three
 *   rounds of percent-decoding (`%2e%2e`, `..%2f`, `%252e%252e` reach a server that decodes);
 * - NUL characters.
 * Empty segments (`a//b`) are allowed: object stores keep them literally.
 */
export function keyProblem(key: string): string | undefined {
  if (typeof key !== 'string') return 'not a string';
  if (key.includes('\0')) return 'NUL character';
  if (key.startsWith('/') || key.startsWith('\\')) return 'absolute key';
  let text: string | undefined = key;
  for (let round = 0; round < 4 && text !== undefined; round++) {
    if (round > 0 && /^[/\\]/.test(text)) return 'absolute key after percent-decoding';
    for (const seg of text.split(/[/\\]/)) {
      if (seg === '.' || seg === '..') {
        return round === 0 ? `"${seg}" path segment` : `"${seg}" path segment after percent-decoding`;
      }
    }
    const next = decodeOnce(text);
    text = next === text ? undefined : next;
  }
  return undefined;
}

/**
 * Throws KvStoreError naming `key` when it could escape the store root (see {@link keyProblem}).
 * `what` describes the use, e.g. 'key' or 'list prefix'.
 */
export function checkKey(key: string, what = 'key'): void {
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw new KvStoreError(String(key), `invalid ${what}: ${problem} (keys must stay inside the store's bucket and path)`);
  }
}
