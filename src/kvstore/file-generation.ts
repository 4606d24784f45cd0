/**
 * The file store's generation of a file: its device, inode, modification time (ns) and size,
 * from a bigint stat. Its own module (no `node:` imports) so that a codec worker reading a
 * chunk file itself (`src/workers/codec-worker.ts`, also the browser's worker entry) checks a
 * shard's generation exactly as the file store computes it.
 */
export interface BigStat {
  dev: bigint;
  ino: bigint;
  mtimeNs: bigint;
  size: bigint;
}

export function generationOf(st: BigStat): string {
  return `${st.dev.toString(36)}.${st.ino.toString(36)}.${st.mtimeNs.toString(36)}.${st.size.toString(36)}`;
}
