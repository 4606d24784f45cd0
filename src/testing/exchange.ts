/**
 * One HTTP request/response pair as the GCS and S3 front ends see it: the request body already
 * read, and a `send` that applies the emulator's shaping (first-byte latency, bandwidth
 * throttle, truncation fault) and counts bytes.
 */
import type { IncomingMessage } from 'node:http';

export type Headers = Record<string, string | number | string[]>;

export interface Exchange {
  readonly req: IncomingMessage;
  /** Upper-case method. */
  readonly method: string;
  /** Raw (still percent-encoded) path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The whole request body. */
  readonly body: Buffer;
  /** `http://host:port` as the client addressed us (from the Host header). */
  readonly origin: string;
  /** Lower-cased request header, joined with ', ' if repeated. */
  header(name: string): string | undefined;
  /**
   * Sends the response. For HEAD requests (or `noBody`) the body is not written but its length is
   * still announced in Content-Length unless the headers set one.
   */
  send(status: number, headers: Headers, body?: Buffer | string, opts?: { noBody?: boolean }): Promise<void>;
}

/** Kinds of request, as counted in `counters().requests.byKind`. */
export type RequestKind =
  | 'media'
  | 'metadata'
  | 'list'
  | 'upload'
  | 'delete'
  | 'bucket'
  | 's3-get'
  | 's3-put'
  | 's3-head'
  | 's3-list'
  | 's3-delete'
  | 's3-bucket'
  | 'options'
  | 'unknown';

/** Object-level kinds: the only ones fault injection applies to. */
export const OBJECT_KINDS: ReadonlySet<string> = new Set([
  'media',
  'metadata',
  'list',
  'upload',
  'delete',
  's3-get',
  's3-put',
  's3-head',
  's3-list',
  's3-delete',
]);

/** A front end (GCS JSON API or S3) behind the shared server. */
export interface FrontEnd {
  /** Classifies a request before its body is read (for counters and fault eligibility). */
  kind(method: string, path: string, query: URLSearchParams, host: string): RequestKind;
  handle(ex: Exchange): Promise<void>;
  /** Answers with an injected HTTP error status in this API's error shape. */
  sendFault(ex: Exchange, status: number): Promise<void>;
}

/** Percent-decodes a path piece; undefined if malformed. */
export function decodePath(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
