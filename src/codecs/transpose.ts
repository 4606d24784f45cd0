import { NdArray } from '../array/ndarray.js';
import { MetadataError } from '../errors.js';
import type { ArrayArrayCodec, ChunkSpec, CodecFactory, CodecJSON } from './codec.js';
import { describeJson } from '../util/json.js';

/**
 * zarr v3 `transpose{order}`: encoded dim i is decoded dim order[i]. Both directions return a
 * strided view (no copy); the copy happens once, in the array->bytes codec or the planner.
 */
export class TransposeCodec implements ArrayArrayCodec {
  readonly kind = 'array-array';
  readonly name = 'transpose';
  private readonly inverse: number[];
  constructor(readonly order: readonly number[]) {
    this.inverse = new Array<number>(order.length);
    order.forEach((o, i) => (this.inverse[o] = i));
  }

  resolve(input: ChunkSpec): ChunkSpec {
    return { ...input, shape: this.order.map((o) => input.shape[o]!) };
  }

  encode(a: NdArray): NdArray {
    return permute(a, this.order);
  }

  decode(a: NdArray): NdArray {
    return permute(a, this.inverse);
  }

  toJSON(): CodecJSON {
    return { name: 'transpose', configuration: { order: [...this.order] } };
  }
}

/** out dim i = a's dim perm[i] (a view). */
export function permute(a: NdArray, perm: readonly number[]): NdArray {
  return new NdArray(a.dtype, a.data, perm.map((p) => a.shape[p]!), perm.map((p) => a.strides[p]!), a.offset);
}

export const factory: CodecFactory = (config, spec) => {
  const rank = spec.shape.length;
  let order = config.order as unknown;
  // Early zarr v3 drafts allowed "C" / "F".
  if (order === 'C') order = [...Array(rank).keys()];
  if (order === 'F') order = [...Array(rank).keys()].reverse();
  if (
    !Array.isArray(order) ||
    order.length !== rank ||
    !order.every((o) => Number.isInteger(o) && o >= 0 && o < rank) ||
    new Set(order).size !== rank
  ) {
    throw new MetadataError('codecs', `transpose: "order" must be a permutation of 0..${rank - 1}, got ${describeJson(config.order)}`);
  }
  return new TransposeCodec(order as number[]);
};
