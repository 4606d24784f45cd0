import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ProfileSummary } from './types.js';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; scriptId: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/**
 * Runs `fn` under the V8 sampling profiler (in this process, via the inspector) and returns the
 * raw profile (loadable in Chrome DevTools / speedscope as a .cpuprofile).
 */
export async function cpuProfile(fn: () => Promise<void>, intervalUs = 200): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await session.post('Profiler.start');
    let failure: unknown;
    try {
      await fn();
    } catch (e) {
      failure = e;
    }
    const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    if (failure !== undefined) throw failure;
    await mapToSources(session, profile).catch(() => undefined);
    return profile;
  } finally {
    await session.post('Profiler.disable').catch(() => undefined);
    session.disconnect();
  }
}

/**
 * Rewrites call frames of transpiled scripts (tsx compiles each .ts file to one line) to the
 * original source line / column, using the script's source map (inline, as tsx writes it, or a
 * .map file next to a built .js).
 */
async function mapToSources(session: Session, profile: CpuProfile): Promise<void> {
  const maps = new Map<string, SourceMap | undefined>();
  let debuggerOn = false;
  for (const node of profile.nodes) {
    const cf = node.callFrame;
    if (!cf.url.startsWith('file://') || cf.url.includes('/node_modules/')) continue;
    if (!maps.has(cf.scriptId)) {
      let map: SourceMap | undefined;
      try {
        if (!debuggerOn) {
          await session.post('Debugger.enable');
          debuggerOn = true;
        }
        const { scriptSource } = (await session.post('Debugger.getScriptSource', { scriptId: cf.scriptId })) as { scriptSource: string };
        const m = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(scriptSource);
        if (m) {
          const ref = m[1]!;
          const json = ref.startsWith('data:')
            ? Buffer.from(ref.slice(ref.indexOf(',') + 1), ref.includes(';base64,') ? 'base64' : 'utf8').toString('utf8')
            : readFileSync(fileURLToPath(new URL(ref, cf.url)), 'utf8');
          map = new SourceMap(JSON.parse(json) as SourceMapPayload);
        }
      } catch {
        map = undefined;
      }
      maps.set(cf.scriptId, map);
    }
    const map = maps.get(cf.scriptId);
    if (!map) continue;
    const e = map.findEntry(cf.lineNumber, cf.columnNumber) as { originalLine?: number; originalColumn?: number };
    if (typeof e.originalLine === 'number') {
      cf.lineNumber = e.originalLine;
      cf.columnNumber = e.originalColumn ?? 0;
    }
  }
  if (debuggerOn) await session.post('Debugger.disable');
}

function shortUrl(url: string): string {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 1);
  const src = u.lastIndexOf('/src/');
  if (src >= 0) return u.slice(src + 1);
  u = u.replace(/^node:/, 'node:');
  return u;
}

/** Self time per function (top `n`) and per source file, from a .cpuprofile. */
export function summarizeProfile(label: string, p: CpuProfile, n = 20): ProfileSummary {
  const self = new Map<number, number>();
  if (p.samples && p.timeDeltas && p.samples.length === p.timeDeltas.length) {
    // timeDeltas[i] is the gap before sample i; attribute the gap after it (next delta) to it.
    for (let i = 0; i < p.samples.length; i++) {
      const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
      self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
    }
  } else {
    const per = (p.endTime - p.startTime) / 1000 / Math.max(1, p.nodes.reduce((a, x) => a + (x.hitCount ?? 0), 0));
    for (const x of p.nodes) self.set(x.id, (x.hitCount ?? 0) * per);
  }
  const byFn = new Map<string, { function: string; location: string; selfMs: number }>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const node of p.nodes) {
    const ms = self.get(node.id) ?? 0;
    if (ms === 0) continue;
    total += ms;
    const cf = node.callFrame;
    const file = shortUrl(cf.url);
    const fn = cf.functionName || (file ? '(anonymous)' : '');
    const name = fn || cf.functionName;
    const location = file ? `${file}:${cf.lineNumber + 1}` : '';
    const key = `${name}@${location}`;
    const e = byFn.get(key) ?? { function: name || '(unknown)', location, selfMs: 0 };
    e.selfMs += ms;
    byFn.set(key, e);
    const fileKey = file || (name.startsWith('(') ? name : '(native)');
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + ms);
  }
  const pct = (ms: number) => (total > 0 ? (100 * ms) / total : 0);
  return {
    label,
    totalMs: total,
    top: [...byFn.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, n)
      .map((e) => ({ ...e, selfPct: pct(e.selfMs) })),
    byFile: [...byFile]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([file, ms]) => ({ file, selfMs: ms, selfPct: pct(ms) })),
  };
}
