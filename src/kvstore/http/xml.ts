/**
 * The one XML reader of the object stores (S3 ListObjectsV2, Azure List Blobs), over
 * fast-xml-parser: every value kept as the string written (names like "007" or " x " are
 * names), attributes under `@_`, the five XML entities and numeric character references
 * decoded. Browser-safe.
 */
import { XMLParser } from 'fast-xml-parser';
import { KvStoreError } from '../../errors.js';
import { TransientError } from '../retry.js';

const parsers = new Map<string, XMLParser>();

function parserFor(arrays: readonly string[]): XMLParser {
  const id = arrays.join(',');
  let p = parsers.get(id);
  if (!p) {
    const set = new Set(arrays);
    p = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '@_',
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: false,
      htmlEntities: true,
      isArray: (name) => set.has(name),
    });
    parsers.set(id, p);
  }
  return p;
}

/**
 * Parses a listing answer and returns its root element `root` as an object. Elements named in
 * `arrays` are always arrays (even when there is one). A malformed or cut answer is a
 * TransientError wrapping a KvStoreError naming `key` and `what` (the caller's retry loop
 * fetches the page again).
 */
export function parseXmlRoot(text: string, root: string, arrays: readonly string[], key: string, what: string): Record<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = parserFor(arrays).parse(text, true) as Record<string, unknown>;
  } catch {
    throw new TransientError(new KvStoreError(key, `${what}: malformed XML answer`));
  }
  const r = doc[root];
  if (r === '') return {};
  if (typeof r !== 'object' || r === null) throw new TransientError(new KvStoreError(key, `${what}: answer lacks <${root}>`));
  return r as Record<string, unknown>;
}

/** The text of an element as parsed: a string, or an element with attributes' `#text`. */
export function xmlText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v !== 'object' || v === null) return undefined;
  const t = (v as Record<string, unknown>)['#text'];
  return typeof t === 'string' ? t : '';
}
