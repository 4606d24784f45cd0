import { MemoryStore } from '../../src/kvstore/memory.js';
import { describeKvStoreConformance } from './conformance.js';

describeKvStoreConformance('memory', async () => ({ store: new MemoryStore() }));

// A read-only view over a memory store, to exercise the suite's read-only mode as HTTP will.
describeKvStoreConformance(
  'memory (read-only view)',
  async () => {
    const backing = new MemoryStore();
    const store = {
      url: backing.url,
      readOnly: true,
      read: backing.read.bind(backing),
      write: () => Promise.reject(new Error('read-only')),
      delete: () => Promise.reject(new Error('read-only')),
      deleteRange: () => Promise.reject(new Error('read-only')),
      list: backing.list.bind(backing),
      spec: () => backing.spec(),
    };
    return {
      store,
      populate: async (entries) => {
        for (const [k, v] of Object.entries(entries)) await backing.write(k, v);
      },
    };
  },
  { readOnly: true },
);
