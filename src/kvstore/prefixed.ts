import type { KvStore, ListOptions, ReadOptions, ReadResult, WriteOptions, WriteResult } from './kvstore.js';

/** A view of a store under a key prefix (TensorStore's kvstore `path`). */
export class PrefixedStore implements KvStore {
  readonly readOnly: boolean;
  readonly coalesceLimit: number | undefined;
  readonly coalesceGap: number | undefined;
  constructor(readonly base: KvStore, readonly prefix: string) {
    this.readOnly = base.readOnly;
    this.coalesceLimit = base.coalesceLimit;
    this.coalesceGap = base.coalesceGap;
  }
  get url(): string {
    return this.base.url + this.prefix;
  }
  read(key: string, options?: ReadOptions): Promise<ReadResult> {
    return this.base.read(this.prefix + key, options);
  }
  write(key: string, value: Uint8Array, options?: WriteOptions): Promise<WriteResult> {
    return this.base.write(this.prefix + key, value, options);
  }
  delete(key: string, options?: WriteOptions): Promise<boolean> {
    return this.base.delete(this.prefix + key, options);
  }
  deleteRange(prefix: string, options?: ListOptions): Promise<void> {
    return this.base.deleteRange(this.prefix + prefix, options);
  }
  async *list(prefix: string, options?: ListOptions): AsyncIterable<string> {
    for await (const k of this.base.list(this.prefix + prefix, options)) yield k.slice(this.prefix.length);
  }
  spec(): Record<string, unknown> {
    const s = this.base.spec();
    return { ...s, path: `${(s.path as string | undefined) ?? ''}${this.prefix}` };
  }
}
