// `npm run images`: builds every service's image (services/<name>/Dockerfile, context the repository
// root) with the first container engine on PATH — docker, podman or buildah — tagged
// wxmesh/<name>:<git short sha>. Without an engine it says so and what CI proves instead, and exits 0.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The engines tried, in order, with the arguments that build one image. */
const ENGINES: Record<string, (dockerfile: string, tag: string) => string[]> = {
  docker: (dockerfile, tag) => ['build', '-f', dockerfile, '-t', tag, '.'],
  podman: (dockerfile, tag) => ['build', '-f', dockerfile, '-t', tag, '.'],
  buildah: (dockerfile, tag) => ['build', '-f', dockerfile, '-t', tag, '.'],
};

/** The first of {@link ENGINES} that is an executable on `path`, or undefined. */
export function findContainerEngineOnPath(path = process.env.PATH ?? ''): string | undefined {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  return Object.keys(ENGINES).find((engine) =>
    path
      .split(delimiter)
      .filter(Boolean)
      .some((dir) => executable(join(dir, engine))),
  );
}

/**
 * The first engine on PATH that can build: its `info` answers (a docker CLI without a reachable
 * daemon cannot), or undefined.
 */
export function findContainerEngine(path = process.env.PATH ?? ''): string | undefined {
  const engine = findContainerEngineOnPath(path);
  if (engine === undefined) return undefined;
  const info = spawnSync(engine, ['info'], { stdio: 'ignore', timeout: 30_000 });
  if (info.status === 0) return engine;
  console.log(`${engine} is on PATH but \`${engine} info\` failed (no daemon?): not using it`);
  return undefined;
}

/** Every service that has an image: the folders under services/ with a Dockerfile. */
export function imageServices(): string[] {
  return readdirSync(join(root, 'services'))
    .filter((name) => existsSync(join(root, 'services', name, 'Dockerfile')))
    .sort();
}

function gitShortSha(): string {
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  if (git.status !== 0) throw new Error(`git rev-parse failed: ${git.stderr}`);
  return git.stdout.trim();
}

function explainWithoutEngine(): void {
  console.log(
    [
      'npm run images: no usable container engine (docker, podman or buildah) on PATH; no image was built.',
      'What CI proves instead (npm test, project e2e):',
      "  test/images/image-layout.spec.ts: each Dockerfile's final-stage files, copied as its COPY lines",
      '    say, start with its CMD and WORKDIR under plain node and answer gRPC health SERVING and /readyz 200;',
      "  test/images/node-lts.spec.ts: the unit specs pass on the Dockerfiles' NODE_VERSION (the `node` npm package).",
    ].join('\n'),
  );
}

/** Builds every image with `engine`; returns the tags built, throws on the first failed build. */
export function buildImages(engine: string, sha = gitShortSha()): string[] {
  const tags: string[] = [];
  for (const service of imageServices()) {
    const tag = `wxmesh/${service}:${sha}`;
    console.log(`${engine}: building ${tag}`);
    const run = spawnSync(engine, ENGINES[engine]!(`services/${service}/Dockerfile`, tag), {
      cwd: root,
      stdio: 'inherit',
    });
    if (run.status !== 0)
      throw new Error(`${engine} build of ${tag} failed (exit ${run.status ?? run.signal})`);
    tags.push(tag);
  }
  return tags;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = findContainerEngine();
  if (engine === undefined) {
    explainWithoutEngine();
    process.exit(0);
  }
  const tags = buildImages(engine);
  console.log(`built ${tags.length} images:\n${tags.map((tag) => `  ${tag}`).join('\n')}`);
}
