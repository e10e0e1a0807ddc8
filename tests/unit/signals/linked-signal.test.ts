// linkSignals: the composite a task's long-lived stop signal and an operation's deadline make, which lets go of its
// sources once released (functions/linked-signal.ts), where AbortSignal.any keeps one composite per call for good.
import { describe, expect, it } from 'vitest';
import { linkSignals } from '../../../functions/linked-signal.ts';
import { signalHolds } from '../../helpers/signal-dependants.ts';

describe('linkSignals', () => {
  it('aborts with the reason of the first source that aborts, and unhooks from every source then', () => {
    const a = new AbortController();
    const b = new AbortController();
    const link = linkSignals([a.signal, b.signal]);
    expect(link.signal.aborted).toBe(false);
    b.abort(new Error('stop'));
    expect(link.signal.aborted).toBe(true);
    expect((link.signal.reason as Error).message).toBe('stop');
    expect(signalHolds(a.signal)).toEqual({ listeners: 0, dependants: 0 });
    a.abort(new Error('later'));
    expect((link.signal.reason as Error).message).toBe('stop');
  });

  it('is aborted at once when a source already is, hooking nothing', () => {
    const live = new AbortController();
    const gone = new AbortController();
    gone.abort('gone');
    const link = linkSignals([live.signal, gone.signal]);
    expect(link.signal.aborted).toBe(true);
    expect(link.signal.reason).toBe('gone');
    expect(signalHolds(live.signal)).toEqual({ listeners: 0, dependants: 0 });
  });

  it('released, it leaves nothing on a source that lives on, however many were made from it', () => {
    const stop = new AbortController();
    for (let i = 0; i < 1000; i++) {
      const link = linkSignals([stop.signal, AbortSignal.timeout(60_000)]);
      link.release();
      link.release();
    }
    expect(signalHolds(stop.signal)).toEqual({ listeners: 0, dependants: 0 });
    // Released links no longer follow the source.
    const link = linkSignals([stop.signal]);
    link.release();
    stop.abort();
    expect(link.signal.aborted).toBe(false);
  });
});
