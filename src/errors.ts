/**
 * Typed errors. Every error volstore throws is a {@link VolstoreError} with a stable `code`
 * and a message naming what was wrong and where: the spec field, the key, the byte range,
 * the codec. Callers switch on `err.code` or `instanceof`.
 */
/** The kind of a {@link VolstoreError}, stable across versions: switch on `err.code`. */
export type ErrorCode =
  | 'spec' // invalid or unknown spec key/value
  | 'metadata' // malformed/incomplete/incompatible stored metadata
  | 'not-found' // array/group/metadata does not exist where required
  | 'already-exists' // create without open on an existing array
  | 'unsupported' // valid for the format, not implemented here (dtype, filter, codec)
  | 'corruption' // stored bytes inconsistent: checksum, truncated chunk, bad index
  | 'codec' // a codec failed to encode/decode
  | 'out-of-bounds' // index/region outside the domain
  | 'byte-range' // byte range outside the stored value
  | 'kvstore' // transport / storage failure
  | 'condition-failed' // generation precondition not met (after retries)
  | 'read-only' // write to a read-only store
  | 'aborted'; // AbortSignal fired

/**
 * The base of every error volstore throws: `code` says what kind ({@link ErrorCode}), the
 * message names the spec field, key, byte range or codec at fault.
 *
 * ```ts
 * try { await open(url); } catch (e) { if (e instanceof VolstoreError && e.code === 'not-found') ... }
 * ```
 */
export class VolstoreError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    // Not just new.target.name: minifiers rename classes, so a minified browser bundle would
    // report volstore's errors as e.g. "x" (and `err.name === 'AbortError'` checks would fail).
    this.name = ERROR_NAMES.get(new.target) ?? new.target.name;
  }
}

/** A spec JSON key or value is invalid; `field` is its JSON path, e.g. `kvstore.path`. */
export class SpecError extends VolstoreError {
  constructor(readonly field: string, message: string, options?: { cause?: unknown }) {
    super('spec', `spec field "${field}": ${message}`, options);
  }
}

/** Stored metadata (zarr.json, .zarray, attributes.json, info) is malformed or incompatible. */
export class MetadataError extends VolstoreError {
  constructor(readonly key: string, message: string, options?: { cause?: unknown }) {
    super('metadata', `metadata "${key}": ${message}`, options);
  }
}

/** An array, group or metadata key does not exist where the open/create flags require it; `key` names it. */
export class NotFoundError extends VolstoreError {
  constructor(readonly key: string, message = 'not found') {
    super('not-found', `"${key}": ${message}`);
  }
}

/** Creating (without `open`) where an array already exists; `key` names the metadata found. */
export class AlreadyExistsError extends VolstoreError {
  constructor(readonly key: string, message = 'already exists') {
    super('already-exists', `"${key}": ${message}`);
  }
}

/** Valid for the format, but not implemented by volstore (a dtype, codec, filter or spec feature). */
export class UnsupportedError extends VolstoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unsupported', message, options);
  }
}

/** Stored bytes are inconsistent with their own framing: bad checksum, truncation, bad index. */
export class CorruptionError extends VolstoreError {
  constructor(readonly key: string, message: string, options?: { cause?: unknown }) {
    super('corruption', `corrupt data at "${key}": ${message}`, options);
  }
}

/** A codec failed to encode or decode; `codec` names it. */
export class CodecError extends VolstoreError {
  constructor(readonly codec: string, message: string, options?: { cause?: unknown }) {
    super('codec', `codec "${codec}": ${message}`, options);
  }
}

/** An index, selection or region lies outside the domain, or a read would be larger than {@link MAX_READ_BYTES}. */
export class OutOfBoundsError extends VolstoreError {
  constructor(message: string) {
    super('out-of-bounds', message);
  }
}

/** A requested byte range lies outside the stored value of `key`. */
export class ByteRangeError extends VolstoreError {
  constructor(readonly key: string, message: string) {
    super('byte-range', `byte range of "${key}": ${message}`);
  }
}

/** A storage or transport failure (HTTP status in `status` where there was one); `key` names the key. */
export class KvStoreError extends VolstoreError {
  constructor(readonly key: string, message: string, options?: { cause?: unknown; status?: number }) {
    super('kvstore', `"${key}": ${message}`, options);
    this.status = options?.status;
  }
  readonly status: number | undefined;
}

/** A generation precondition kept failing (after the read-modify-write retries); `key` names the key. */
export class ConditionFailedError extends VolstoreError {
  constructor(readonly key: string, message = 'generation precondition failed') {
    super('condition-failed', `"${key}": ${message}`);
  }
}

/** A write or delete on a read-only store (HTTP). */
export class ReadOnlyError extends VolstoreError {
  constructor(message: string) {
    super('read-only', message);
  }
}

/** The operation's AbortSignal fired; `cause` is the signal's reason. */
export class AbortError extends VolstoreError {
  constructor(message = 'operation aborted', options?: { cause?: unknown }) {
    super('aborted', message, options);
  }
}

/** The names of volstore's own error classes, spelled out (they survive minification). */
const ERROR_NAMES = new Map<abstract new (...args: never[]) => VolstoreError, string>([
  [VolstoreError, 'VolstoreError'],
  [SpecError, 'SpecError'],
  [MetadataError, 'MetadataError'],
  [NotFoundError, 'NotFoundError'],
  [AlreadyExistsError, 'AlreadyExistsError'],
  [UnsupportedError, 'UnsupportedError'],
  [CorruptionError, 'CorruptionError'],
  [CodecError, 'CodecError'],
  [OutOfBoundsError, 'OutOfBoundsError'],
  [ByteRangeError, 'ByteRangeError'],
  [KvStoreError, 'KvStoreError'],
  [ConditionFailedError, 'ConditionFailedError'],
  [ReadOnlyError, 'ReadOnlyError'],
  [AbortError, 'AbortError'],
]);

/** Throws {@link AbortError} if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('operation aborted', { cause: signal.reason });
}
