import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NdArray } from '../../src/array/ndarray.js';
import { CodecChain } from '../../src/codecs/chain.js';
import type { CodecJSON } from '../../src/codecs/codec.js';
import { CorruptionError } from '../../src/errors.js';
import { registerShardingCodec } from '../../src/sharding/zarr3.js';
import { fixture } from '../fixture-path.js';

/**
 * The whole-shard `sharding_indexed` codec (the registry's codec; the planner itself reads
 * shards through the ShardedStore adapter). Proven against shards zarr-python wrote.
 */
const DIR = fixture('zarr-python/v3.zarr/2d.chunked.compressed.sharded.i2');

async function chain(): Promise<CodecChain> {
  registerShardingCodec();
  const meta = JSON.parse(await readFile(path.join(DIR, 'zarr.json'), 'utf8')) as { codecs: CodecJSON[] };
  return CodecChain.create(meta.codecs, { dtype: 'int16', shape: [2, 2], fillValue: 0 });
}

describe('sharding_indexed as a whole-shard codec', () => {
  it('decodes zarr-python shards and re-encodes them to shards that decode the same', async () => {
    const c = await chain();
    // the array is 1..16 in C order over [4, 4]; shard (i, j) holds rows 2i..2i+1, cols 2j..2j+1
    for (const [i, j] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
      const bytes = new Uint8Array(await readFile(path.join(DIR, 'c', String(i), String(j))));
      const shard = await c.decode(bytes, { key: `c/${i}/${j}` });
      const want = [0, 1].flatMap((r) => [0, 1].map((q) => (2 * i + r) * 4 + (2 * j + q) + 1));
      expect(shard.toFlat()).toEqual(want);
      const again = await c.decode(await c.encode(shard), { key: 're-encoded' });
      expect(again.toFlat()).toEqual(want);
    }
  });

  it('omits inner chunks equal to the fill value and reads them back as fill', async () => {
    const c = await chain();
    const a = new NdArray('int16', new Int16Array([0, 5, 0, 0]), [2, 2]);
    const enc = await c.encode(a);
    // index: 4 entries x 16 bytes + crc32c; only one inner chunk stored
    const entries = new BigUint64Array(enc.slice(enc.length - 68, enc.length - 4).buffer);
    expect([...entries].filter((e) => e === 0xffff_ffff_ffff_ffffn).length).toBe(6);
    expect((await c.decode(enc)).toFlat()).toEqual([0, 5, 0, 0]);
  });

  it('a corrupted index is a CorruptionError naming the key', async () => {
    const c = await chain();
    const bytes = new Uint8Array(await readFile(path.join(DIR, 'c', '0', '0')));
    bytes[bytes.length - 10]! ^= 0xff;
    await expect(c.decode(bytes, { key: 'c/0/0' })).rejects.toThrow(CorruptionError);
    await expect(c.decode(bytes, { key: 'c/0/0' })).rejects.toThrow(/c\/0\/0/);
  });
});
