import { existsSync } from 'node:fs';
import path from 'node:path';
import { ENV, loadConfig } from '@relay/gateway';
import { ROOT, envPairs, execForm, parseDockerfile, read, type Stage } from './artefacts';

// No container engine runs where the tests run: the image is checked as text, against the
// gateway it packages. (routes.test.ts runs its HEALTHCHECK command against a real node.)

const stages = parseDockerfile(read('deploy/Dockerfile'));
const final = stages[stages.length - 1] as Stage;
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const last = (stage: Stage, keyword: string) => all(stage, keyword).pop();
/** Shell commands of a stage's RUN instructions, split at `&&` and `;`, in order. */
const commands = (stage: Stage) => all(stage, 'RUN').flatMap((i) => i.args.split(/&&|;/).map((c) => c.trim()));

describe('deploy/Dockerfile', () => {
  test('is multi-stage, every stage on Node 20 slim Debian (glibc, for the uWebSockets.js binary)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const names = stages.map((s) => s.name);
    for (const stage of stages) {
      if (names.includes(stage.image)) continue; // FROM an earlier stage
      expect(stage.image).toMatch(/^node:20(-bookworm)?-slim$/);
    }
  });

  test('the runtime stage gets production dependencies only', () => {
    const copies = all(final, 'COPY');
    const modules = copies.find((c) => /\bnode_modules\b/.test(c.args));
    const from = /--from=(\S+)/.exec(modules?.args ?? '')?.[1];
    const source = stages.find((s) => s.name === from);
    expect(source).toBeDefined();
    const npm = commands(source as Stage).filter((c) => /^npm (install|ci|prune|i)\b/.test(c));
    // dev dependencies (TypeScript, jest, ...) are installed to build, then pruned away
    expect(npm[npm.length - 1]).toMatch(/--omit=dev/);
    const build = commands(source as Stage).findIndex((c) => c === 'npm run build');
    expect(build).toBeGreaterThanOrEqual(0);
    expect(build).toBeLessThan(commands(source as Stage).indexOf(npm[npm.length - 1] as string));
    // and the runtime stage installs nothing of its own
    expect(commands(final).filter((c) => /^npm (install|ci|i)\b/.test(c) && !/--omit=dev/.test(c))).toEqual([]);
  });

  test('installs with `npm ci`, from the lock file, never `npm install`', () => {
    const npm = stages.flatMap(commands).filter((c) => /^npm /.test(c));
    expect(npm.some((c) => /^npm (install|i)\b/.test(c))).toBe(false);
    expect(npm.some((c) => /^npm ci\b/.test(c))).toBe(true);
    const installs = stages.filter((s) => commands(s).some((c) => /^npm ci\b/.test(c)));
    for (const stage of installs) expect(all(stage, 'COPY').some((c) => /package-lock\.json/.test(c.args))).toBe(true);
  });

  test("has every npm workspace's package.json in place before installing", () => {
    const workspaces: string[] = JSON.parse(read('package.json')).workspaces;
    expect(workspaces.length).toBeGreaterThan(0);
    const build = stages.find((s) => s.instructions.some((i) => i.keyword === 'RUN' && /npm run build/.test(i.args))) as Stage;
    const installAt = build.instructions.findIndex((i) => i.keyword === 'RUN' && /npm ci\b/.test(i.args));
    const copied = build.instructions.slice(0, installAt).filter((i) => i.keyword === 'COPY').map((i) => i.args);
    // either each manifest by name, or all of packages/ through a stage that keeps only manifests
    const viaStage = copied.some((args) => {
      const from = /--from=(\S+)\s+\S*packages\/?\s/.exec(args)?.[1];
      const stage = stages.find((s) => s.name === from);
      return (
        stage !== undefined &&
        all(stage, 'COPY').some((c) => /^packages\/? packages\/?$/.test(c.args)) &&
        commands(stage).some((c) => /^find packages .*! -name package\.json .*-exec rm -rf/.test(c))
      );
    });
    for (const workspace of workspaces) {
      const byName = copied.some((args) => args.includes(`${workspace}/package.json`));
      expect([workspace, byName || (viaStage && workspace.startsWith('packages/'))]).toEqual([workspace, true]);
    }
  });

  test('runs as a non-root user, by number (Kubernetes can verify runAsNonRoot only then)', () => {
    const user = last(final, 'USER')?.args ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    // USER comes before the command, so the command runs as that user
    const at = (keyword: string) => final.instructions.findIndex((i) => i.keyword === keyword);
    expect(at('USER')).toBeLessThan(at('CMD'));
  });

  test('exposes the default PORT, and its ENV names are ones the gateway reads', () => {
    expect(all(final, 'EXPOSE').map((e) => e.args)).toEqual([ENV.PORT.default]);
    const env = Object.assign({}, ...stages.flatMap((s) => all(s, 'ENV').map((e) => envPairs(e.args)))) as Record<string, string>;
    for (const name of Object.keys(env)) expect(Object.keys(ENV)).toContain(name);
    expect(env.PORT ?? ENV.PORT.default).toBe(ENV.PORT.default);
    expect(() => loadConfig(env)).not.toThrow();
  });

  test('HEALTHCHECK asks /healthz with node (no curl in slim images)', () => {
    const healthcheck = all(final, 'HEALTHCHECK');
    expect(healthcheck).toHaveLength(1);
    expect(healthcheck[0]?.args).toMatch(/\bCMD \["node", "-e", /);
    expect(healthcheck[0]?.args).toMatch(/path:'\/healthz'/);
    expect(healthcheck[0]?.args).toMatch(/process\.env\.PORT/);
  });

  test('STOPSIGNAL SIGTERM: the signal the gateway drains on', () => {
    expect(all(final, 'STOPSIGNAL').map((s) => s.args)).toEqual(['SIGTERM']);
    expect(read('packages/gateway/src/main.ts')).toMatch(/process\.on\('SIGTERM'/);
  });

  test("CMD starts the gateway's built entry point, in exec form (node is PID 1 and gets the signal)", () => {
    const cmd = execForm(last(final, 'CMD')?.args ?? '');
    expect(cmd).toEqual(['node', 'packages/gateway/dist/main.js']);
    const bin = JSON.parse(read('packages/gateway/package.json')).bin.relay as string;
    expect(path.posix.join('packages/gateway', bin)).toBe(cmd[1]);
    expect(existsSync(path.join(ROOT, cmd[1] as string))).toBe(true); // npm test builds before jest
    expect(final.instructions.some((i) => i.keyword === 'ENTRYPOINT')).toBe(false);
  });

  test('.dockerignore keeps host builds and secrets out, and lets in what the build copies', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const pattern of ['**/node_modules', '**/dist', '.env', '.git']) expect(ignored).toContain(pattern);
    const sources = stages
      .flatMap((s) => all(s, 'COPY'))
      .filter((c) => !c.args.startsWith('--from'))
      .flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      const top = source.replace(/\/$/, '').split('/')[0] as string;
      expect([source, ignored.includes(top) || ignored.includes(source)]).toEqual([source, false]);
      expect([source, existsSync(path.join(ROOT, source))]).toEqual([source, true]);
    }
  });
});
