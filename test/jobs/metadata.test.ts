/**
 * Destination metadata is created once ("must not exist") and verified by every other task,
 * never overwritten; a precomputed info gains scales under a generation condition.
 */
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, MetadataError } from '../../src/index.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { jobDigest, jsonBytes, jsonDifference, publishMetadata } from '../../src/jobs/metadata.js';

const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

describe('publishMetadata', () => {
  it('eight racing tasks: each object is created by exactly one, verified by the seven others', async () => {
    const store = new MemoryStore();
    const objects = new Map([
      ['zarr.json', jsonBytes({ zarr_format: 3, node_type: 'group', attributes: { ome: { version: '0.5' } } })],
      ['s0/zarr.json', jsonBytes({ zarr_format: 3, node_type: 'array', shape: [4, 4] })],
    ]);
    const results = await Promise.all(Array.from({ length: 8 }, () => publishMetadata(store, objects)));
    for (const key of objects.keys()) {
      expect(results.filter((r) => r.created.includes(key))).toHaveLength(1);
      expect(results.filter((r) => r.verified.includes(key))).toHaveLength(7);
    }
    expect(text((await store.read('s0/zarr.json')).state === 'value' ? ((await store.read('s0/zarr.json')) as { value: Uint8Array }).value : undefined)).toBe(text(objects.get('s0/zarr.json')));
  });

  it('existing metadata that differs fails naming the key and the field, and is left as it was', async () => {
    const store = new MemoryStore();
    const theirs = jsonBytes({ zarr_format: 3, node_type: 'array', shape: [4, 4], chunk_grid: { configuration: { chunk_shape: [2, 2] } } });
    await store.write('s0/zarr.json', theirs);
    const ours = new Map([['s0/zarr.json', jsonBytes({ zarr_format: 3, node_type: 'array', shape: [4, 4], chunk_grid: { configuration: { chunk_shape: [4, 2] } } })]]);
    const err = await publishMetadata(store, ours).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetadataError);
    expect((err as Error).message).toMatch(/s0\/zarr\.json.*chunk_grid\.configuration\.chunk_shape\[0\]: found 2, this job writes 4/);
    const r = await store.read('s0/zarr.json');
    expect(r.state === 'value' && text(r.value)).toBe(text(theirs));
  });

  it('allowExisting: false turns equal existing metadata into AlreadyExistsError', async () => {
    const store = new MemoryStore();
    const objects = new Map([['.zarray', jsonBytes({ zarr_format: 2 })]]);
    await publishMetadata(store, objects);
    await expect(publishMetadata(store, objects, { allowExisting: false })).rejects.toThrow(AlreadyExistsError);
    await expect(publishMetadata(store, objects)).resolves.toEqual({ created: [], verified: ['.zarray'] });
  });

  it('a precomputed info gains this job\'s scales, keeps other scales and members, verifies its own', async () => {
    const store = new MemoryStore();
    const s0 = { key: '8_8_40', size: [64, 64, 16], resolution: [8, 8, 40] };
    const s1 = { key: '16_16_40', size: [32, 32, 16], resolution: [16, 16, 40] };
    const s2 = { key: '32_32_40', size: [16, 16, 16], resolution: [32, 32, 40] };
    await store.write('info', jsonBytes({ '@type': 'neuroglancer_multiscale_volume', type: 'image', data_type: 'uint8', num_channels: 1, mesh: 'mesh', scales: [s0] }));
    const ours = new Map([['info', jsonBytes({ '@type': 'neuroglancer_multiscale_volume', type: 'image', data_type: 'uint8', num_channels: 1, scales: [s0, s1, s2] })]]);
    const results = await Promise.all(Array.from({ length: 4 }, () => publishMetadata(store, ours, { ownScales: new Set([s1.key, s2.key]) })));
    expect(results.filter((r) => r.created.includes('info'))).toHaveLength(1);
    const r = await store.read('info');
    const info = JSON.parse(text(r.state === 'value' ? r.value : undefined)!);
    expect(info.mesh).toBe('mesh');
    expect(info.scales.map((s: { key: string }) => s.key)).toEqual([s0.key, s1.key, s2.key]);
    // A scale of the same key but other content is refused, as is a different data type.
    const other = new Map([['info', jsonBytes({ '@type': 'neuroglancer_multiscale_volume', type: 'image', data_type: 'uint8', num_channels: 1, scales: [{ ...s1, size: [33, 32, 16] }] })]]);
    await expect(publishMetadata(store, other)).rejects.toThrow(/scale "16_16_40" differs.*scales\[1\]\.size\[0\]: found 32, this job writes 33/);
    const dtype = new Map([['info', jsonBytes({ '@type': 'neuroglancer_multiscale_volume', type: 'image', data_type: 'uint16', num_channels: 1, scales: [] })]]);
    await expect(publishMetadata(store, dtype)).rejects.toThrow(/data_type: found "uint8", this job writes "uint16"/);
    // A single run (allowExisting false) may not "add" a scale that is there.
    await expect(publishMetadata(store, ours, { allowExisting: false, ownScales: new Set([s2.key]) })).rejects.toThrow(/scale "32_32_40" already exists; pass --overwrite/);
  });

  it('24 jobs adding one scale each to one info at once: every scale lands (lost races pause, then retry)', async () => {
    const store = new MemoryStore();
    const base = { '@type': 'neuroglancer_multiscale_volume', type: 'image', data_type: 'uint8', num_channels: 1 };
    const scale = (k: number) => ({ key: `s${k}`, size: [64 >> (k % 6), 64, 16], resolution: [8 << (k % 6), 8, 40 + k] });
    // more rivals than the 16 rounds one job gets: retrying at once, the last ones lose every round
    const jobs = Array.from({ length: 24 }, (_, k) => publishMetadata(store, new Map([['info', jsonBytes({ ...base, scales: [scale(k)] })]]), { ownScales: new Set([`s${k}`]) }));
    const results = await Promise.all(jobs);
    expect(results.every((r) => r.created.includes('info'))).toBe(true);
    const r = await store.read('info');
    const info = JSON.parse(text(r.state === 'value' ? r.value : undefined)!);
    expect(info.scales.map((s: { key: string }) => s.key).sort()).toEqual(Array.from({ length: 24 }, (_, k) => `s${k}`).sort());
  });
});

describe('jsonDifference and jobDigest', () => {
  it('ignores key order, finds the first differing path', () => {
    expect(jsonDifference({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBeUndefined();
    expect(jsonDifference({ a: [1, 2] }, { a: [1, 2, 3] })).toBe('a: found 2 entries, this job writes 3');
    expect(jsonDifference({ a: { b: 'x' } }, { a: {} })).toBe('a.b: found "x", this job writes nothing');
  });

  it('is stable under key order and changes with any content', async () => {
    const a = await jobDigest({ x: 1, y: [1, 2], m: new Map([['k', new Uint8Array([123, 125])]]) });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(await jobDigest({ m: new Map([['k', new Uint8Array([123, 125])]]), y: [1, 2], x: 1 })).toBe(a);
    expect(await jobDigest({ x: 1, y: [2, 1], m: new Map([['k', new Uint8Array([123, 125])]]) })).not.toBe(a);
  });
});
