// `npm run images`: builds every service's image (services/<name>/Dockerfile, context the repository
// root) with the first container engine on PATH — docker, podman or buildah — tagged
// wxmesh/<name>:<git short sha>. Without an engine it says so and what CI proves instead, and exits 0.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCommand } from '@wxmesh/testing';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The engines tried, in order; each builds with `build -f <Dockerfile> -t <tag> .`. */
const ENGINES = ['docker', 'podman', 'buildah'];

/**
 * The first engine on PATH that can build: its `info` answers (a docker CLI without a reachable
 * daemon cannot), or undefined.
 */
async function findContainerEngine(): Promise<string | undefined> {
  let engine: string | undefined;
  for (const candidate of ENGINES) {
    if ((await findCommand(candidate)) === undefined) continue;
    engine = candidate;
    break;
  }
  if (engine === undefined) return undefined;
  const info = spawnSync(engine, ['info'], { stdio: 'ignore', timeout: 30_000 });
  if (info.status === 0) return engine;
  console.log(`${engine} is on PATH but \`${engine} info\` failed (no daemon?): not using it`);
  return undefined;
}

/** Every service that has an image: the folders under services/ with a Dockerfile. */
function imageServices(): string[] {
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
function buildImages(engine: string, sha = gitShortSha()): string[] {
  const tags: string[] = [];
  for (const service of imageServices()) {
    const tag = `wxmesh/${service}:${sha}`;
    console.log(`${engine}: building ${tag}`);
    const run = spawnSync(engine, ['build', '-f', `services/${service}/Dockerfile`, '-t', tag, '.'], {
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
  const engine = await findContainerEngine();
  if (engine === undefined) {
    explainWithoutEngine();
    process.exit(0);
  }
  const tags = buildImages(engine);
  console.log(`built ${tags.length} images:\n${tags.map((tag) => `  ${tag}`).join('\n')}`);
}
