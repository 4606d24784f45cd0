import { open } from './src/index.js';
const v = await open({ driver: 'zarr3', kvstore: { driver: 'file', path: '/tmp/xzvol' } } as never);
for (let i = 0; i < 30; i++) await v.slice([100 + i, null, null]).read();
const t0 = performance.now();
for (let r = 0; r < 10; r++) for (let i = 0; i < 40; i++) await v.slice([100 + i, null, null]).read();
console.log('per slice', ((performance.now() - t0) / 400).toFixed(2));
process.exit(0);
