// Locks the public surface of `volstore/testing`.
import { describe, expect, it } from 'vitest';
import * as testing from '../../src/testing/index.js';

describe('volstore/testing exports', () => {
  it('exports exactly the documented API', () => {
    expect(Object.keys(testing).sort()).toEqual(['S3_PATH_PREFIX', 'parseFaults', 'startEmulator']);
    expect(testing.S3_PATH_PREFIX).toBe('/s3');
  });

  it('binds 127.0.0.1 on an ephemeral port and validates options', async () => {
    const emu = await testing.startEmulator();
    try {
      expect(emu.url).toBe(`http://127.0.0.1:${emu.port}`);
      expect(emu.port).toBeGreaterThan(0);
    } finally {
      await emu.stop();
    }
    await expect(testing.startEmulator({ faults: 'nope:1' })).rejects.toThrow(TypeError);
    await expect(testing.startEmulator({ latencyMs: -1 })).rejects.toThrow(TypeError);
  });
});
