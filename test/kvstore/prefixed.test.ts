import { MemoryStore } from '../../src/kvstore/memory.js';
import { PrefixedStore } from '../../src/kvstore/prefixed.js';
import { describeKvStoreConformance } from './conformance.js';

// A view under a prefix of a store that holds other keys too: the view must see only its own.
describeKvStoreConformance('prefixed (memory)', async () => {
  const base = new MemoryStore();
  await base.write('outside', new Uint8Array([1]));
  await base.write('arr', new Uint8Array([2]));
  await base.write('arrx/y', new Uint8Array([3]));
  return { store: new PrefixedStore(base, 'arr/') };
});

// Nested prefixes compose.
describeKvStoreConformance('prefixed (nested)', async () => {
  const base = new MemoryStore();
  await base.write('a/b', new Uint8Array([1]));
  return { store: new PrefixedStore(new PrefixedStore(base, 'a/'), 'c/') };
});
