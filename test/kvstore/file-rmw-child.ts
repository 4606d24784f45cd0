/**
 * Child process of the multi-process read-modify-write test in file.test.ts (run with
 * `node --import tsx`). argv: casesJson (a list of {spec, rank}), worker id p, count.
 * For each case in turn: opens the array, prints "ready", waits for a line on stdin, writes
 * `count` single elements one after another (each a read-modify-write of the shared chunk or
 * shard) and prints a JSON line {errors}. Element i = p*count + k gets the value i + 1, at [i]
 * (rank 1) or [i % 40, i / 40, 0, 0] (rank 4).
 */
import { createInterface } from 'node:readline';
import { open } from '../../src/index.js';

const [casesJson, idArg, countArg] = process.argv.slice(2);
const cases = JSON.parse(casesJson!) as { spec: Record<string, unknown>; rank: number }[];
const p = Number(idArg);
const count = Number(countArg);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
for (const { spec, rank } of cases) {
  const vol = await open(spec);
  process.stdout.write('ready\n');
  await lines.next();
  const errors: string[] = [];
  for (let k = 0; k < count; k++) {
    const i = p * count + k;
    const sel = rank === 1 ? [[i, i + 1]] : [[i % 40, (i % 40) + 1], [Math.floor(i / 40), Math.floor(i / 40) + 1], [0, 1], [0, 1]];
    try {
      await vol.slice(sel as never).write(i + 1);
    } catch (e) {
      errors.push(`${i}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  process.stdout.write(`${JSON.stringify({ errors })}\n`);
}
process.exit(0);
