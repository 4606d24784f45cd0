/**
 * Creating an N5 dataset creates its container: the root attributes.json carries the N5 version
 * (`"n5": "4.0.0"`, what n5-java 3.x writes), as n5-java and zarr-python's N5Store expect.
 */
import { describe, expect, it } from 'vitest';
import { N5_VERSION } from '../../src/drivers/n5.js';
import { NdArray, open, openGroup } from '../../src/index.js';
import { freshName, sharedMemory } from './helpers.js';

const mem = sharedMemory();
const json = async (key: string): Promise<Record<string, unknown> | undefined> => {
  const r = await mem.read(key);
  return r.state === 'value' ? (JSON.parse(new TextDecoder().decode(r.value)) as Record<string, unknown>) : undefined;
};
const create = (name: string, path: string) => ({
  driver: 'n5', kvstore: `memory://${name}/`, path, create: true, dtype: 'uint16', schema: { domain: { shape: [4, 3] } },
});

describe('N5 container version', () => {
  it('is 4.0.0', () => {
    expect(N5_VERSION).toBe('4.0.0');
  });

  it('creating a dataset inside a new container writes the root attributes.json with "n5"', async () => {
    const name = freshName('n5c');
    const vol = await open(create(name, 'em/raw'));
    await vol.write(NdArray.zeros('uint16', [4, 3], 7));
    expect(await json(`${name}/attributes.json`)).toEqual({ n5: N5_VERSION });
    const ds = await json(`${name}/em/raw/attributes.json`);
    expect(ds?.dimensions).toEqual([4, 3]);
    expect(ds?.n5).toBeUndefined();
    // The container opens as a group, the dataset as an array.
    const g = await openGroup(`memory://${name}/`);
    expect(g.format).toBe('n5');
    expect((await (await open({ driver: 'n5', kvstore: `memory://${name}/`, path: 'em/raw' })).read()).toFlat()).toEqual(new Array(12).fill(7));
  });

  it('a dataset at the container root carries the version itself, not as a user attribute', async () => {
    const name = freshName('n5root');
    await open(create(name, ''));
    const ds = await json(`${name}/attributes.json`);
    expect(ds?.n5).toBe(N5_VERSION);
    expect(ds?.dimensions).toEqual([4, 3]);
    const reopened = await open(`memory://${name}/|n5:`);
    expect(reopened.driver.attributes?.n5).toBeUndefined();
  });

  it('an existing root keeps its attributes and its version; one without a version gets it', async () => {
    const kept = freshName('n5kept');
    await mem.write(`${kept}/attributes.json`, new TextEncoder().encode(JSON.stringify({ n5: '2.0.0', owner: 'lab' })));
    await open(create(kept, 'a'));
    expect(await json(`${kept}/attributes.json`)).toEqual({ n5: '2.0.0', owner: 'lab' });

    const added = freshName('n5added');
    await mem.write(`${added}/attributes.json`, new TextEncoder().encode(JSON.stringify({ owner: 'lab' })));
    await open(create(added, 'a/b'));
    expect(await json(`${added}/attributes.json`)).toEqual({ n5: N5_VERSION, owner: 'lab' });
  });

  it('opening (not creating) writes nothing at the root', async () => {
    const name = freshName('n5open');
    await open(create(name, 'x'));
    await mem.delete(`${name}/attributes.json`);
    await open({ driver: 'n5', kvstore: `memory://${name}/`, path: 'x' });
    expect(await json(`${name}/attributes.json`)).toBeUndefined();
  });
});
