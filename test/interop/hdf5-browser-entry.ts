/**
 * In-page script of test/interop/hdf5-browser.test.ts, bundled by esbuild for the browser. It
 * exposes `window.hdf5Read(req)`: opens an HDF5 dataset with volstore's main entry, either from
 * bytes the page fetched and placed in `memory://` (how an app passes a file the user picked)
 * or from an http(s) URL (fetched whole by the driver), reads a view and returns plain values
 * (bigints as strings). Errors come back as values with their name and message.
 */
import { MemoryStore, open, type Selection } from '../../src/index.js';

export interface Hdf5PageRequest {
  /** Fetch this same-origin path, write it to memory://picked/<name>, and open it from there. */
  fetchToMemory?: string;
  /** Otherwise open this URL (e.g. `http://127.0.0.1:port/sample.h5|hdf5:volumes/raw`). */
  url?: string;
  dataset: string;
  selection: Selection;
}

export type Hdf5PageResult =
  | { ok: true; dtype: string; shape: number[]; attributes: unknown; values: (number | string | boolean)[] }
  | { ok: false; name: string; message: string };

declare global {
  interface Window {
    hdf5Read(req: Hdf5PageRequest): Promise<Hdf5PageResult>;
  }
}

window.hdf5Read = async (req) => {
  try {
    let url: string;
    if (req.fetchToMemory) {
      const bytes = new Uint8Array(await (await fetch(req.fetchToMemory)).arrayBuffer());
      const name = req.fetchToMemory.split('/').pop()!;
      await new MemoryStore('').write(`picked/${name}`, bytes);
      url = `memory://picked/${name}|hdf5:${req.dataset}`;
    } else {
      url = `${req.url!}|hdf5:${req.dataset}`;
    }
    const vol = await open(url);
    const a = await vol.slice(req.selection).read();
    return {
      ok: true,
      dtype: vol.dtype,
      shape: vol.shape,
      attributes: vol.attributes,
      values: a.toFlat().map((v) => (typeof v === 'bigint' ? v.toString() : v)),
    };
  } catch (e) {
    const err = e as Error;
    return { ok: false, name: err.name, message: err.message };
  }
};
