import { afterEach, describe, expect, it } from 'vitest';
import { getLogLevel, log, logEnabled, setLogLevel, setLogSink } from '../../src/util/log.js';

describe('log', () => {
  const before = getLogLevel();
  afterEach(() => {
    setLogLevel(before);
    setLogSink(undefined);
  });

  it('drops messages below the level and prefixes the rest', () => {
    const lines: string[] = [];
    setLogSink((_l, line) => lines.push(line));
    setLogLevel('info');
    log.debug('hidden');
    log.info('shown');
    log.warn('also');
    expect(lines).toEqual(['volstore info: shown', 'volstore warn: also']);
    expect(logEnabled('debug')).toBe(false);
    setLogLevel('debug');
    expect(logEnabled('debug')).toBe(true);
  });

  it('rejects an unknown level', () => {
    expect(() => setLogLevel('loud' as never)).toThrow(RangeError);
  });
});
