/**
 * Keeping credentials out of errors and logs. A store registers every value that may be a
 * secret (tokens, header values, access key ids, query values of its base URL); the HTTP
 * client adds each attempt's `Authorization` value. Every text that reaches an error message
 * or a log line (server answers, network error texts, URLs) passes through {@link Secrets.scrub}.
 * Foreign errors are never attached as `cause` as they are: {@link sanitizedError} copies
 * their scrubbed text and code into a fresh Error, so `stack`, `cause` and `util.inspect`
 * carry nothing the scrubber did not see.
 */

/** Values shorter than this are not treated as secrets (they would garble messages). */
const MIN_SECRET_LENGTH = 4;

const REDACTED = '[redacted]';

/** `scheme://user:password@` in any text. */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/\s@?#]*@/gi;

/** A set of secret strings and the scrubbing of texts against it. Browser-safe. */
export class Secrets {
  private readonly values = new Set<string>();

  constructor(private readonly parent?: Secrets) {}

  /** Registers a secret (and its percent-encoded and JSON-escaped forms). Short values are ignored. */
  add(value: string | undefined | null): this {
    if (!value || value.length < MIN_SECRET_LENGTH) return this;
    this.values.add(value);
    const forms = [encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
    for (const f of forms) if (f !== value) this.values.add(f);
    return this;
  }

  /** Registers an `Authorization` value: the whole value and every credential-looking part of it. */
  addAuthorization(value: string | undefined | null): this {
    if (!value) return this;
    this.add(value);
    const sp = value.indexOf(' ');
    if (sp > 0) this.add(value.slice(sp + 1));
    // SigV4 / shared-key style: `Credential=AKID/...`, `Signature=...`.
    for (const m of value.matchAll(/(?:Credential|Signature)=([^,\s/]+)/g)) this.add(m[1]);
    // Azure Shared Key: `SharedKey account:signature` (servers quote the signature on failure).
    const sk = /^SharedKey(?:Lite)? [^:\s]+:(\S+)$/.exec(value);
    if (sk) this.add(sk[1]);
    return this;
  }

  /** A child set: sees this one's secrets plus its own (per-attempt secrets). */
  child(): Secrets {
    return new Secrets(this);
  }

  private all(): string[] {
    const out = this.parent ? this.parent.all() : [];
    for (const v of this.values) out.push(v);
    return out;
  }

  /** `text` with every registered secret and every URL user-info replaced by `[redacted]`. */
  scrub(text: string): string {
    let out = text.replace(USERINFO, `$1${REDACTED}@`);
    // Longest first, so a secret containing another is removed whole.
    for (const s of this.all().sort((a, b) => b.length - a.length)) {
      if (out.includes(s)) out = out.split(s).join(REDACTED);
    }
    return out;
  }
}

/**
 * A URL for messages and logs: no user-info, no query (signed parameters, SAS tokens, API keys),
 * no fragment. Unparsable input is cut at the first '?' or '#' and scrubbed of user-info.
 */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return url.replace(/[?#][\s\S]*$/, '').replace(USERINFO, `$1${REDACTED}@`);
  }
}

/** The text of an error and its causes (`message (cause code or message)`), for scrubbing. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const c = (e as { cause?: unknown }).cause;
    const code = (c as { code?: unknown } | undefined)?.code;
    const cause = c instanceof Error ? ` (${typeof code === 'string' ? code : c.message})` : '';
    return `${e.message}${cause}`;
  }
  return String(e);
}

/** The `code` of an error or of its causes (`ECONNREFUSED`, `UND_ERR_SOCKET`, ...), also inside an AggregateError. */
export function errorCode(e: unknown): string | undefined {
  for (let x: unknown = e, depth = 0; x && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const inner = (x as { errors?: unknown }).errors;
    if (Array.isArray(inner)) {
      for (const i of inner) {
        const c = (i as { code?: unknown } | undefined)?.code;
        if (typeof c === 'string') return c;
      }
    }
  }
  return undefined;
}

/**
 * A fresh Error carrying the scrubbed text and the `code` of a foreign error (fetch's
 * TypeError, a stream error), to use as `cause` without exposing what the original holds.
 */
export function sanitizedError(e: unknown, secrets: Secrets): Error {
  const out = new Error(secrets.scrub(errorText(e)));
  const code = errorCode(e);
  if (code !== undefined) (out as Error & { code?: string }).code = code;
  return out;
}
