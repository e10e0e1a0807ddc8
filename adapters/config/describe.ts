// `skytide config`: the configuration in effect, variable by variable, with where each value came from and secrets
// masked (tokens, and passwords inside connection URLs), so an operator can paste it into a ticket.
import { VARS, type VarSpec } from './vars.ts';

export interface EffectiveVar {
  name: string;
  value: string | null;
  source: 'environment' | 'default' | 'unset';
}

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|KEY$/;

export function maskValue(name: string, value: string): string {
  if (SECRET_NAME.test(name) && name !== 'REDIS_KEY_PREFIX') return value.length === 0 ? '' : '****';
  // A URL may carry a password (postgres://user:pw@host/db): keep everything but the password.
  try {
    const url = new URL(value);
    if (url.password !== '') {
      url.password = '****';
      return url.toString();
    }
  } catch {
    // Not a URL: nothing to mask.
  }
  return value;
}

export function effectiveConfig(env: Record<string, string | undefined>): EffectiveVar[] {
  return (VARS as readonly VarSpec[]).map((spec) => {
    const raw = env[spec.name];
    if (raw !== undefined && raw !== '') return { name: spec.name, value: maskValue(spec.name, raw), source: 'environment' };
    if (spec.default !== undefined) return { name: spec.name, value: maskValue(spec.name, spec.default), source: 'default' };
    return { name: spec.name, value: null, source: 'unset' };
  });
}
