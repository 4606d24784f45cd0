/**
 * Child process of memory.test.ts: runs one `volstore` command in-process and prints the
 * resident set size before it (after loading everything) and the peak, in bytes, as JSON.
 */
import { main } from '../../src/cli/main.js';
import { loadCore } from '../../src/wasm/core.js';

await loadCore();
const base = process.memoryUsage().rss;
const code = await main(process.argv.slice(2), { stdout: { write: () => true }, stderr: process.stderr });
process.stdout.write(`${JSON.stringify({ code, baseRss: base, maxRss: process.resourceUsage().maxRSS * 1024 })}\n`);
