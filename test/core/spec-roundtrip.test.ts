import { describe, expect, it } from 'vitest';
import { open, SpecError } from '../../src/index.js';
import { parseUrl } from '../../src/spec/spec.js';
import { fixture } from '../fixture-path.js';

const FIX = fixture();

describe('TensorStore spec JSON', () => {
  it('vol.spec() of a sliced view reopens to the same view (zarr3 sharded, n5)', async () => {
    for (const url of [`file://${FIX}/zarr-python/v3.zarr/3d.chunked.compressed.sharded.i2`, `file://${FIX}/tensorstore-n5/gzip`]) {
      const vol = await open(url);
      const view = vol.rank === 3 ? vol.slice([[1, 3], 2, [0, 4, 2]]) : vol.slice([[1, 4], [0, 4, 3]]);
      const spec = JSON.parse(JSON.stringify(view.spec()));
      expect(spec.transform).toBeDefined();
      const again = await open(spec);
      expect(again.shape).toEqual(view.shape);
      expect((await again.read()).toFlat()).toEqual((await view.read()).toFlat());
    }
  });

  it('accepts a spec as pasted from Python TensorStore (transform with labels, context, flags)', async () => {
    const vol = await open({
      driver: 'n5',
      kvstore: { driver: 'file', path: `${FIX}/tensorstore-n5/raw/` },
      context: { cache_pool: { total_bytes_limit: 1000000 }, data_copy_concurrency: { limit: 2 }, file_io_concurrency: { limit: 8 } },
      recheck_cached_data: 'open',
      transform: { input_inclusive_min: [2, 1], input_exclusive_max: [4, 3], input_labels: ['i', 'j'], output: [{ input_dimension: 0 }, { input_dimension: 1 }] },
    } as never);
    expect(vol.dimensionNames).toEqual(['i', 'j']);
    // TensorStore view of this fixture: arange(20).reshape(5, 4)
    expect((await vol.read()).toFlat()).toEqual([9, 10, 13, 14]);
  });

  it('pipeline URLs name the driver; unknown schemes and drivers are SpecErrors', () => {
    expect(parseUrl('gs://b/p/|zarr3:')).toEqual({ kvstore: { driver: 'gcs', bucket: 'b', path: 'p/' }, driver: 'zarr3' });
    expect(parseUrl('file:///d/x.n5|n5:')).toMatchObject({ driver: 'n5' });
    expect(() => parseUrl('ftp://x/')).toThrow(SpecError);
    expect(() => parseUrl('file:///x|tiff:')).toThrow(SpecError);
    expect(parseUrl('file:///d/a.h5|hdf5:volumes/raw')).toMatchObject({ driver: 'hdf5', path: 'volumes/raw' });
  });
});
