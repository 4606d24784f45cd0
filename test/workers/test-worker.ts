/** Pool worker entry for the tests: the real codec worker, plus the codecs of test-codecs.ts. */
import { registerTestCodecs } from './test-codecs.js';

registerTestCodecs();
await import('../../src/workers/codec-worker.js');
