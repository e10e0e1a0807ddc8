// The dev network's deterministic PRNG (long-runners/dev/prng.ts) with the draws the chaos harness needs, so a run is
// replayed from its printed seed. Not for anything that needs unpredictability.
import { prng } from '../../long-runners/dev/prng.ts';

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  /** A new generator whose sequence depends only on this one's seed and `label`. */
  fork(label: string): Random;
  readonly seed: number;
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function createRandom(seed: number): Random {
  const next = prng(seed);
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)] as T;
    },
    chance: (p) => next() < p,
    fork: (label) => createRandom((seed ^ hash(label)) >>> 0),
  };
}

/** CHAOS_SEED when set (to replay a run), otherwise a fresh one; either way the caller prints it. */
export function seedFromEnv(value: string | undefined): number {
  if (value !== undefined && value !== '') {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`CHAOS_SEED must be a non-negative integer, got ${JSON.stringify(value)}`);
    return n >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}
