// What a long-lived AbortSignal keeps for the signals derived from it: its abort listeners (public: events'
// getEventListeners) and the composites Node's AbortSignal.any registered on it, which Node keeps in a private set
// (`Symbol(kDependantSignals)`) and, with a source that lives on, never empties (nodejs/node#55351, #64476). A Node
// without that set reports 0 dependants: nothing of the kind is kept there.
import { getEventListeners } from 'node:events';

export function signalHolds(signal: AbortSignal): { listeners: number; dependants: number } {
  const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const set = key === undefined ? undefined : (signal as unknown as Record<symbol, { size?: unknown } | undefined>)[key];
  return { listeners: getEventListeners(signal, 'abort').length, dependants: typeof set?.size === 'number' ? set.size : 0 };
}
