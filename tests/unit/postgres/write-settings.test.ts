// writeSettingAdvice, writeSettingsOf, serverSettingProblems and settingBytes (adapters/postgres/server-settings.ts):
// which write settings a sustained index is slowed by, as pg_settings reports them. The reading of a real server is in tests/integration/cli/cli-process.test.ts.
import { describe, expect, it } from 'vitest';
import { MIN_MAX_WAL_SIZE_BYTES, MIN_SHARED_BUFFERS_BYTES, serverSettingProblems, settingBytes, writeSettingAdvice, writeSettingsOf } from '../../../adapters/postgres/server-settings.ts';

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

describe('one read of pg_settings, judged twice', () => {
  const defaults = new Map([
    ['autovacuum', { setting: 'off', unit: '' }], ['track_counts', { setting: 'on', unit: '' }],
    ['shared_buffers', { setting: '16384', unit: '8kB' }], ['max_wal_size', { setting: '1024', unit: 'MB' }],
  ]);
  it('takes each write setting with its own unit, and refuses one that is missing', () => {
    expect(writeSettingsOf(defaults)).toEqual({ sharedBuffersBytes: 128 * MB, maxWalSizeBytes: GB });
    const partial = new Map(defaults);
    partial.delete('max_wal_size');
    expect(() => writeSettingsOf(partial)).toThrow(/pg_settings has no max_wal_size/);
  });
  it('names autovacuum when it or the counts it needs are off, and nothing when a setting is simply absent', () => {
    expect(serverSettingProblems(defaults)).toEqual([expect.stringMatching(/^autovacuum is off/)]);
    expect(serverSettingProblems(new Map([...defaults, ['autovacuum', { setting: 'on', unit: '' }], ['track_counts', { setting: 'off', unit: '' }]]))).toHaveLength(1);
    expect(serverSettingProblems(new Map([['autovacuum', { setting: 'on', unit: '' }]]))).toEqual([]);
  });
});
