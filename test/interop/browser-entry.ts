/**
 * In-page script of test/interop/browser.test.ts: bundled by esbuild for the browser and loaded
 * by a page on a different origin from the GCS emulator. It exposes `window.volstoreRead`, which
 * opens a volume by spec with volstore's main entry and returns plain, structured-clonable
 * values (numbers, strings, arrays) so `page.evaluate` can hand them back to Node. Errors are
 * returned, not thrown, so the test sees their class, code and message as the page saw them.
 */
import { CorruptionError, type DataType, NdArray, open, type Selection, VolstoreError } from '../../src/index.js';

export interface BrowserReadRequest {
  spec: Record<string, unknown>;
  /** A view to read; its values come back as `slice`. */
  selection?: Selection;
  /** Also read the whole array (`whole`). */
  whole?: boolean;
  /** Read `selection` with an already-aborted AbortSignal. */
  abort?: boolean;
}

export type BrowserReadResult =
  | {
      ok: true;
      dtype: string;
      shape: number[];
      codec: unknown;
      sliceShape?: number[];
      slice?: number[];
      whole?: number[];
    }
  | {
      ok: false;
      name: string;
      code?: string;
      message: string;
      isVolstoreError: boolean;
      isCorruptionError: boolean;
      /** Where the failure happened: 'open' or 'read'. */
      stage: string;
    };

const flat = (data: ArrayLike<number | bigint>): number[] => Array.from(data, Number);

async function volstoreRead(req: BrowserReadRequest): Promise<BrowserReadResult> {
  let stage = 'open';
  try {
    const vol = await open(req.spec);
    stage = 'read';
    const out: BrowserReadResult = { ok: true, dtype: vol.dtype, shape: [...vol.shape], codec: JSON.parse(JSON.stringify(vol.codec)) };
    if (req.selection) {
      const ac = new AbortController();
      if (req.abort) ac.abort();
      const part = await vol.slice(req.selection).read({ signal: ac.signal });
      out.sliceShape = [...part.shape];
      out.slice = flat(part.data);
    }
    if (req.whole) out.whole = flat((await vol.read()).data);
    return out;
  } catch (e) {
    const err = e as Error & { code?: string };
    return {
      ok: false,
      name: String(err?.name),
      code: err?.code,
      message: String(err?.message ?? err),
      isVolstoreError: e instanceof VolstoreError,
      isCorruptionError: e instanceof CorruptionError,
      stage,
    };
  }
}

/**
 * Opens (or, with `create: true` in the spec, creates) a volume and writes `values`, a C-order
 * array of `shape`, into it, or into its view `selection`.
 */
async function volstoreWrite(
  spec: Record<string, unknown>,
  dtype: DataType,
  shape: number[],
  values: number[],
  selection?: Selection,
): Promise<{ ok: true } | { ok: false; name: string; message: string }> {
  try {
    let vol = await open(spec);
    if (selection) vol = vol.slice(selection);
    const arr = NdArray.zeros(dtype, shape);
    (arr.data as unknown as { set(a: ArrayLike<number>): void }).set(values);
    await vol.write(arr);
    return { ok: true };
  } catch (e) {
    return { ok: false, name: String((e as Error)?.name), message: String((e as Error)?.message ?? e) };
  }
}

declare global {
  interface Window {
    volstoreRead: typeof volstoreRead;
    volstoreWrite: typeof volstoreWrite;
  }
}

window.volstoreRead = volstoreRead;
window.volstoreWrite = volstoreWrite;
