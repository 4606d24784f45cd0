import { Context } from './context/context.js';
import { encodeJson, readJson } from './drivers/common.js';
import { AlreadyExistsError, MetadataError, NotFoundError, UnsupportedError } from './errors.js';
import { type KvStore, type WriteResult, writeValue } from './kvstore/kvstore.js';
import { openKvStore } from './kvstore/open.js';
import { open, type OpenOptions } from './open.js';
import { parseUrl } from './spec/spec.js';
import { joinPath, type KvStoreSpec, kvstoreFromUrl } from './kvstore/spec.js';
import type { Volume } from './volume.js';

/** The format of a group: zarr v2, zarr v3 or N5. */
export type GroupFormat = 'zarr' | 'zarr3' | 'n5';

/** A direct child of a {@link Group}: its name (relative path) and whether it is an array or a group. */
export interface GroupMember {
  name: string;
  kind: 'array' | 'group';
}

/**
 * A zarr v2 / zarr v3 / N5 group: its attributes and members. Members come from consolidated
 * metadata when the group has it (zarr v2 `.zmetadata`, zarr v3 inline `consolidated_metadata`),
 * which costs no listing; otherwise from listing the store.
 */
export class Group {
  constructor(
    readonly format: GroupFormat,
    readonly store: KvStore,
    private readonly kvstore: KvStoreSpec,
    private readonly path: string,
    readonly attributes: Record<string, unknown>,
    /** Consolidated member metadata by relative path, when present. */
    readonly consolidated: Map<string, Record<string, unknown>> | undefined,
    private readonly options: OpenOptions,
  ) {}

  /** Direct children (arrays and groups). */
  async members(): Promise<GroupMember[]> {
    const out = new Map<string, GroupMember['kind']>();
    if (this.consolidated) {
      for (const [p, m] of this.consolidated) {
        if (p.includes('/')) continue;
        out.set(p, isArrayMeta(this.format, m) ? 'array' : 'group');
      }
      return [...out].map(([name, kind]) => ({ name, kind })).sort((a, b) => a.name.localeCompare(b.name));
    }
    const metaKeys: Record<GroupFormat, [string, GroupMember['kind'] | 'json'][]> = {
      zarr: [['.zarray', 'array'], ['.zgroup', 'group']],
      zarr3: [['zarr.json', 'json']],
      n5: [['attributes.json', 'json']],
    };
    for await (const key of this.store.list('')) {
      const parts = key.split('/');
      if (parts.length !== 2) continue;
      const [name, file] = parts as [string, string];
      const hit = metaKeys[this.format].find(([k]) => k === file);
      if (!hit) continue;
      let kind = hit[1];
      if (kind === 'json') {
        const j = await readJson(this.store, key);
        kind = j && isArrayMeta(this.format, j.json) ? 'array' : 'group';
      }
      out.set(name, kind as GroupMember['kind']);
    }
    return [...out].map(([name, kind]) => ({ name, kind })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Opens a member array by relative path. */
  open(name: string, options: OpenOptions = this.options): Promise<Volume> {
    return open({ driver: this.format, kvstore: { ...this.kvstore, path: joinPath(this.kvstore.path, this.path) }, path: name }, options);
  }

  /** Opens a member group by relative path. */
  openGroup(name: string): Promise<Group> {
    return openGroup({ kvstore: { ...this.kvstore, path: joinPath(this.kvstore.path, this.path, name) }, format: this.format }, this.options);
  }
}

function isArrayMeta(format: GroupFormat, m: Record<string, unknown>): boolean {
  if (format === 'zarr3') return m.node_type === 'array';
  if (format === 'n5') return Array.isArray(m.dimensions);
  return m.zarr_format === 2 && Array.isArray(m.shape);
}

/**
 * Opens a group from a URL or `{kvstore, path?, format?}`. With `create: true`, creates it (and
 * fails with AlreadyExistsError if something is there, unless `open` is also true).
 * @throws NotFoundError when there is no group metadata (zarr.json, .zgroup, attributes.json);
 *   MetadataError when the location holds an array.
 *
 * ```ts
 * const g = await openGroup('gs://bucket/em.zarr/');
 * for (const m of await g.members()) if (m.kind === 'array') console.log(m.name, (await g.open(m.name)).shape);
 * ```
 */
export async function openGroup(
  spec: string | { kvstore: KvStoreSpec | string; path?: string; format?: GroupFormat; create?: boolean; open?: boolean; attributes?: Record<string, unknown> },
  options: OpenOptions = {},
): Promise<Group> {
  const s = typeof spec === 'string' ? { kvstore: (parseUrl(spec).kvstore as KvStoreSpec) } : spec;
  const kvstore = typeof s.kvstore === 'string' ? kvstoreFromUrl(s.kvstore) : s.kvstore;
  const path = 'path' in s && s.path ? s.path : '';
  const context = options.context ?? new Context();
  const store = await openKvStore(kvstore, path, context);
  const create = 'create' in s && s.create === true;
  const openFlag = !create || ('open' in s && s.open === true);
  const [z3, z2, z2attrs, z2meta, n5] = await Promise.all(
    ['zarr.json', '.zgroup', '.zattrs', '.zmetadata', 'attributes.json'].map((k) => readJson(store, k, options.signal)),
  );
  const found: GroupFormat | undefined = z3 ? 'zarr3' : z2 ? 'zarr' : n5 ? 'n5' : undefined;
  if (found && create && !openFlag) throw new AlreadyExistsError(store.url);
  const mk = (format: GroupFormat, attrs: Record<string, unknown>, cons?: Map<string, Record<string, unknown>>): Group =>
    new Group(format, store, kvstore, path, attrs, cons, { ...options, context });
  if (found === 'zarr3') {
    const j = z3!.json;
    if (j.node_type !== 'group') throw new MetadataError('zarr.json', 'is an array, not a group: use open()');
    const cm = j.consolidated_metadata as { metadata?: Record<string, Record<string, unknown>> } | null | undefined;
    return mk('zarr3', (j.attributes as Record<string, unknown>) ?? {}, cm?.metadata ? new Map(Object.entries(cm.metadata)) : undefined);
  }
  if (found === 'zarr') {
    let cons: Map<string, Record<string, unknown>> | undefined;
    const md = z2meta?.json.metadata as Record<string, Record<string, unknown>> | undefined;
    if (md) {
      cons = new Map();
      for (const [k, v] of Object.entries(md)) {
        const m = /^(.*)\/(\.zarray|\.zgroup)$/.exec(k);
        if (m) cons.set(m[1]!, v);
      }
    }
    return mk('zarr', z2attrs?.json ?? {}, cons);
  }
  if (found === 'n5') {
    const { n5: _v, ...attrs } = n5!.json;
    return mk('n5', attrs);
  }
  if (!create) throw new NotFoundError(store.url, 'no group metadata found (zarr.json, .zgroup, attributes.json)');
  const format = ('format' in s && s.format) || 'zarr3';
  const attributes = ('attributes' in s && s.attributes) || {};
  // Created with "must not exist": a group another writer created meanwhile is not ours.
  const created = (w: WriteResult): void => {
    if (!w.ok) throw new AlreadyExistsError(store.url, 'the group was created concurrently by another writer');
  };
  if (format === 'zarr3') {
    created(await store.write('zarr.json', encodeJson({ zarr_format: 3, node_type: 'group', attributes }), { ifEqual: '' }));
  } else if (format === 'zarr') {
    created(await store.write('.zgroup', encodeJson({ zarr_format: 2 }), { ifEqual: '' }));
    if (Object.keys(attributes).length) await writeValue(store, '.zattrs', encodeJson(attributes));
  } else if (format === 'n5') {
    const { N5_VERSION } = await import('./drivers/n5.js'); // drivers load lazily
    created(await store.write('attributes.json', encodeJson({ n5: N5_VERSION, ...attributes }), { ifEqual: '' }));
  } else {
    throw new UnsupportedError(`unknown group format "${format}"`);
  }
  return mk(format, attributes);
}
