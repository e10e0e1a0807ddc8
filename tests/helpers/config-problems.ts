// What parseConfig refuses in an environment: its ConfigError's problems, none when it parses.
import { ConfigError, parseConfig } from '../../adapters/config/parse.ts';

export function configProblems(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
}
