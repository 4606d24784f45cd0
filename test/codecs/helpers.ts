import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type ChunkSpec, type Codec, createCodec } from '../../src/codecs/codec.js';
import { registerBuiltinCodecs } from '../../src/codecs/registry.js';

export const PYTHON = '/usr/bin/python3';

/** Runs python with `stdin`; returns stdout, or undefined when python or a module is missing. */
export function python(code: string, stdin?: Uint8Array): Buffer | undefined {
  if (!existsSync(PYTHON)) return undefined;
  const r = spawnSync(PYTHON, ['-c', code], { input: stdin, maxBuffer: 1 << 28, cwd: '/tmp' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr.toString()}`);
  return r.stdout;
}

export function hasPython(modules: string[]): boolean {
  if (!existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { cwd: '/tmp' }).status === 0;
}

export const SPEC_U8: ChunkSpec = { dtype: 'uint8', shape: [1], fillValue: 0 };

/** Creates a codec through the one registry, as the drivers do. */
export async function load(name: string, configuration: Record<string, unknown> = {}, spec: ChunkSpec = SPEC_U8): Promise<Codec> {
  registerBuiltinCodecs();
  return createCodec({ name, configuration }, spec);
}
