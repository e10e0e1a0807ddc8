// writeSettingAdvice and settingBytes (adapters/postgres/server-settings.ts): which write settings a sustained index
// is slowed by, as pg_settings reports them. The reading of a real server is in tests/integration/cli/cli-process.test.ts.
import { describe, expect, it } from 'vitest';
import { MIN_MAX_WAL_SIZE_BYTES, MIN_SHARED_BUFFERS_BYTES, settingBytes, writeSettingAdvice } from '../../../adapters/postgres/server-settings.ts';

const MB = 2 ** 20;
const GB = 2 ** 30;

describe('settingBytes', () => {
  it("reads pg_settings' count of units and Postgres's sizes with a unit", () => {
    expect(settingBytes('16384', '8kB')).toBe(128 * MB);
    expect(settingBytes('1024', 'MB')).toBe(GB);
    expect(settingBytes('512MB')).toBe(512 * MB);
    expect(settingBytes('8GB')).toBe(8 * GB);
    expect(settingBytes('2048')).toBe(2048);
  });

  it('refuses what is not a size', () => {
    expect(() => settingBytes('-1', '8kB')).toThrow(/not a size/);
    expect(() => settingBytes('8 parsecs')).toThrow(/not a size/);
    expect(() => settingBytes('1', 'ms')).toThrow(/not a size/);
  });
});

describe('writeSettingAdvice', () => {
  it("advises on both of Postgres's defaults, naming the value in force", () => {
    const advice = writeSettingAdvice({ sharedBuffersBytes: 128 * MB, maxWalSizeBytes: GB });
    expect(advice).toHaveLength(2);
    expect(advice[0]).toMatch(/^shared_buffers is 128 MB: /);
    expect(advice[1]).toMatch(/^max_wal_size is 1 GB: /);
  });

  it('says nothing at or above the thresholds, and only of the setting below one', () => {
    expect(writeSettingAdvice({ sharedBuffersBytes: MIN_SHARED_BUFFERS_BYTES, maxWalSizeBytes: MIN_MAX_WAL_SIZE_BYTES })).toEqual([]);
    expect(writeSettingAdvice({ sharedBuffersBytes: 2 * GB, maxWalSizeBytes: GB })).toEqual([expect.stringMatching(/^max_wal_size is 1 GB/)]);
    expect(writeSettingAdvice({ sharedBuffersBytes: 256 * MB, maxWalSizeBytes: 8 * GB })).toEqual([expect.stringMatching(/^shared_buffers is 256 MB/)]);
  });
});
