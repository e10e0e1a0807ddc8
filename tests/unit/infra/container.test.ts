// Static checks of the container deploy, in `npm test`: what infra/Dockerfile relies on (every COPY source exists
// and is in the .dockerignore allow-list, the runtime code imports only packages `npm ci --omit=dev` installs: a
// devDependency on the runtime path would crash the container at start-up), and the shape of infra/compose.yaml. The
// image itself is built and run in tests/container/image.long.test.ts (`npm run test:long`).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { settingBytes, writeSettingAdvice } from '../../../adapters/postgres/server-settings.ts';

const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
const dockerfile = readFileSync(path.join(ROOT, 'infra/Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'dev' ? [] : sources(full);
    return full.endsWith('.ts') || full.endsWith('.js') ? [full] : [];
  });
}

/** The instructions of the last stage (the image that runs). */
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

describe('infra/Dockerfile', () => {
  it('copies only paths that exist and that .dockerignore lets into the build context', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
    expect(copies.length).toBeGreaterThan(4);
    const allowed = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    expect(readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')).toMatch(/^\*$/m);
    for (const source of copies) {
      expect(existsSync(path.join(ROOT, source)), source).toBe(true);
      expect(allowed, `${source} is not in the .dockerignore allow-list`).toContain(source.replace(/\/$/, ''));
    }
  });

  it('installs production dependencies from the lock in a stage of their own', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    // The deps stage's RUN (its continuation lines included) installs exactly the lock's production tree.
    const depsStage = dockerfile.slice(0, dockerfile.lastIndexOf('\nFROM '));
    expect(depsStage).toMatch(/^RUN (?:.*\\\n)*\s*npm ci --omit=dev\b/m);
    expect(runtimeStage).toMatch(/^COPY --from=deps \/app\/node_modules \.\/node_modules$/m);
    expect(runtimeStage).not.toMatch(/^RUN npm (ci|install)/m);
  });

  it('runs as a non-root user, health-checked on /health, with SIGTERM going to node itself', () => {
    const user = /^USER (\S+)$/m.exec(runtimeStage)?.[1] ?? 'root';
    expect(user.split(':')[0]).not.toMatch(/^(root|0)$/);
    expect(runtimeStage).toMatch(/^HEALTHCHECK .*\\\n\s+CMD \[.*\/health/m);
    // Exec form: node is PID 1, so `docker stop` signals it (a shell form would signal /bin/sh, which ignores it).
    expect(runtimeStage).toMatch(/^ENTRYPOINT \["node", "bin\/skytide.js"\]$/m);
    expect(runtimeStage).toMatch(/^CMD \["run"(, "--migrate")?\]$/m);
    expect(runtimeStage).not.toMatch(/^STOPSIGNAL (?!SIGTERM)/m);
    expect(existsSync(path.join(ROOT, 'bin/skytide.js'))).toBe(true);
  });

  it('ships runtime code that imports only production dependencies or node built-ins', () => {
    // long-runners/dev is the dev network (dev-env): imported lazily by `skytide dev` only, never by `run`.
    const files = ['functions', 'adapters', 'long-runners'].flatMap((d) => sources(path.join(ROOT, d)));
    const allowed = new Set(Object.keys(pkg.dependencies));
    const offenders: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from ['"]([^'"]+)['"]|import\(['"]([^'"]+)['"]\)|^import ['"]([^'"]+)['"]/gm)) {
        const spec = m[1] ?? m[2] ?? m[3] ?? '';
        if (spec.startsWith('.') || spec.startsWith('node:') || spec.startsWith('#')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? '');
        if (!allowed.has(name)) offenders.push(`${path.relative(ROOT, file)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('keeps functions/ free of adapters, long-runners and node built-ins, except behind a runtime seam', () => {
    // package.json "imports" conditions pick a per-runtime file; only their `node` targets may use node:*.
    const seams = new Set(
      Object.values((pkg as { imports?: Record<string, { node?: string }> }).imports ?? {}).map((c) => path.join(ROOT, c.node ?? '')),
    );
    const offenders = sources(path.join(ROOT, 'functions')).filter((f) => !seams.has(f)).flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      return [...text.matchAll(/from ['"]([^'"]+)['"]/g)]
        .map((m) => m[1] ?? '')
        .filter((spec) => spec.startsWith('node:') || spec.includes('/adapters/') || spec.includes('/long-runners/'))
        .map((spec) => `${path.relative(ROOT, file)} imports ${spec}`);
    });
    expect(offenders).toEqual([]);
  });
});

describe('infra/compose.yaml', () => {
  interface Service {
    image?: string;
    build?: { context: string; dockerfile: string };
    command?: string[];
    volumes?: string[];
    depends_on?: Record<string, { condition: string }>;
    deploy?: { replicas?: number; resources?: { limits?: { memory?: string } } };
    stop_grace_period?: string;
    environment?: Record<string, string>;
  }
  const compose = parse(readFileSync(path.join(ROOT, 'infra/compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
  const services = compose.services;
  const skytide = Object.entries(services).filter(([, s]) => s.build?.dockerfile === 'infra/Dockerfile');

  it('keeps Redis durable and never evicting, and Postgres on a volume', () => {
    const redis = (services['redis']?.command ?? []).join(' ');
    expect(redis).toMatch(/--appendonly yes/);
    expect(redis).toMatch(/--maxmemory \S+/);
    expect(redis).toMatch(/--maxmemory-policy noeviction/);
    expect(services['redis']?.volumes?.[0]).toMatch(/:\/data$/);
    expect(services['postgres']?.volumes?.[0]).toMatch(/:\/var\/lib\/postgresql\/data$/);
  });

  it("gives Postgres the write settings skytide would otherwise warn about, within the container's memory", () => {
    const command = services['postgres']?.command ?? [];
    const settings = new Map(command.flatMap((arg, i) => (command[i - 1] === '-c' ? [arg.split('=') as [string, string]] : [])));
    const sharedBuffers = settingBytes(settings.get('shared_buffers') ?? '');
    expect(writeSettingAdvice({ sharedBuffersBytes: sharedBuffers, maxWalSizeBytes: settingBytes(settings.get('max_wal_size') ?? '') })).toEqual([]);
    const limit = settingBytes(`${services['postgres']?.deploy?.resources?.limits?.memory?.toUpperCase() ?? ''}B`);
    expect(sharedBuffers).toBeLessThanOrEqual(limit / 4);
  });

  it('splits skytide by --only into health-gated, memory-limited services, with two index consumers', () => {
    const only = (name: string) => {
      const cmd = services[name]?.command ?? [];
      return cmd[0] === 'run' && cmd[1] === '--only' ? (cmd[2] ?? '').split(',') : [];
    };
    expect(only('firehose')).toEqual(['firehose']);
    expect(only('labels')).toContain('labels');
    expect(only('index')).toEqual(['index']);
    expect(only('backfill')).toEqual(['backfill']);
    expect(services['index']?.deploy?.replicas).toBe(2);
    // The firehose adapter is held to the V8 sizes the soak measured it flat under; it keeps the shared variables.
    expect(services['firehose']?.environment?.['NODE_OPTIONS']).toBe('--max-semi-space-size=1 --max-old-space-size=128');
    expect(services['firehose']?.environment?.['REDIS_URL']).toBe(services['index']?.environment?.['REDIS_URL']);
    for (const name of ['firehose', 'labels', 'index', 'backfill', 'api']) {
      const s = services[name];
      expect(s?.build?.dockerfile, name).toBe('infra/Dockerfile');
      expect(s?.depends_on?.['redis']?.condition, name).toBe('service_healthy');
      expect(s?.depends_on?.['postgres']?.condition, name).toBe('service_healthy');
      expect(s?.depends_on?.['migrate']?.condition, name).toBe('service_completed_successfully');
      expect(s?.deploy?.resources?.limits?.memory, name).toMatch(/^\d+[mg]$/);
      // Longer than the supervisor's 25 s shutdown budget, so a stop flushes before SIGKILL.
      expect(Number.parseInt(s?.stop_grace_period ?? '0', 10), name).toBeGreaterThan(25);
    }
    // Every skytide service runs `migrate` or `run`: the task kinds `--only` names exist.
    const kinds = readFileSync(path.join(ROOT, 'long-runners/cli/tasks.ts'), 'utf8').match(/TASK_KINDS = \[([^\]]+)\]/)?.[1] ?? '';
    for (const [name] of skytide) for (const k of only(name)) expect(kinds, `${name}: --only ${k}`).toContain(`'${k}'`);
    expect(skytide.map(([, s]) => s.image)).toEqual(skytide.map(() => 'skytide:latest'));
  });
});
