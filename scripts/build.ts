// Production builds: each service's composition root bundled with the workspace libs into one ESM
// file per service (`services/<name>/dist/main.mjs`); third-party packages stay in node_modules.
// Run with plain `node`, not tsx: tsx's transform keeps function names by wrapping every closure
// creation, which costs measurable CPU per call on a hot path.
// `build.ts --image <service> <dir>` writes the file layout a service's image runs (its Dockerfile
// copies <dir> to /app): the bundle, and only the third-party packages the bundle imports at run
// time (with their own dependencies), at the paths node resolves them from.
import { build, type Metafile } from 'esbuild';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

async function bundleWithMetafile(entry: string, outfile: string): Promise<Metafile> {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
    banner: {
      js: "import { createRequire as __wxmCreateRequire } from 'node:module'; const require = __wxmCreateRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'externalize-third-party',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('@wxmesh/') ? undefined : { path: args.path, external: true },
          );
        },
      },
    ],
  });
  return result.metafile;
}

/** Bundles one entry point; `@wxmesh/*` is inlined from source, every other package stays external. */
export async function bundle(entry: string, outfile: string): Promise<void> {
  await bundleWithMetafile(entry, outfile);
}

/** The package names (`pkg`, `@scope/pkg`) a bundle imports from node_modules; node builtins left out. */
export function externalPackages(metafile: Metafile): string[] {
  const names = new Set<string>();
  for (const output of Object.values(metafile.outputs))
    for (const imported of output.imports)
      if (imported.external && !imported.path.startsWith('node:'))
        names.add(
          imported.path
            .split('/')
            .slice(0, imported.path.startsWith('@') ? 2 : 1)
            .join('/'),
        );
  return [...names].sort();
}

/** Where node finds `name` from `fromDir` (repo-relative): the nearest node_modules up to the root. */
function resolvePackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (existsSync(join(root, dir, 'node_modules', name, 'package.json')))
      return join(dir, 'node_modules', name);
    if (dir === '.' || dir === '') return undefined;
  }
}

/** The packages `packageDir` needs at run time: dependencies, plus optional and peer ones installed. */
function runtimeDependencies(packageDir: string): Array<{ name: string; required: boolean }> {
  const manifest = JSON.parse(readFileSync(join(root, packageDir, 'package.json'), 'utf8')) as Record<
    string,
    Record<string, string> | undefined
  >;
  return [
    ...Object.keys(manifest.dependencies ?? {}).map((name) => ({ name, required: true })),
    ...Object.keys({ ...manifest.optionalDependencies, ...manifest.peerDependencies }).map((name) => ({
      name,
      required: false,
    })),
  ];
}

/**
 * Every package directory (repo-relative) a bundle in `fromDir` loads at run time: the packages
 * it imports, resolved as node resolves them from there, and their dependencies, transitively.
 */
export function runtimePackageDirs(packages: readonly string[], fromDir: string): string[] {
  const found = new Set<string>();
  const visit = (name: string, from: string, required: boolean) => {
    const dir = resolvePackageDir(name, from);
    if (dir === undefined) {
      if (required) throw new Error(`${name} (needed from ${from}) is not installed: run npm ci`);
      return;
    }
    if (found.has(dir)) return;
    found.add(dir);
    for (const dependency of runtimeDependencies(dir)) visit(dependency.name, dir, dependency.required);
  };
  for (const name of packages) visit(name, fromDir, true);
  return [...found].sort();
}

/** Nested node_modules (needed ones are copied as packages of their own), type declarations, source maps. */
function isBuildOnlyFile(pathInPackage: string): boolean {
  return pathInPackage.split('/').includes('node_modules') || /\.(d\.[cm]?ts|map)$/.test(pathInPackage);
}

/**
 * The entries a service's image runs: `src/main.ts` (the service) and any other `src/<name>-main.ts`
 * (commands its Jobs run, such as the projector's rebuild), each bundled to `dist/<name>.mjs`.
 */
function imageEntries(service: string): Array<{ entry: string; out: string }> {
  const srcDir = join(root, 'services', service, 'src');
  return readdirSync(srcDir)
    .filter((file) => file === 'main.ts' || file.endsWith('-main.ts'))
    .map((file) => ({ entry: join(srcDir, file), out: file.replace(/\.ts$/, '.mjs') }));
}

/**
 * Writes the layout `services/<service>/Dockerfile` copies to /app into `outDir`: the bundles at
 * services/<service>/dist/ ({@link imageEntries}) and the run-time package closure at the
 * node_modules paths it has in the repository, without what only a build reads
 * ({@link isBuildOnlyFile}). Returns the package directories copied.
 */
export async function writeImageLayout(service: string, outDir: string): Promise<string[]> {
  const distDir = join('services', service, 'dist');
  const external = new Set<string>();
  for (const { entry, out } of imageEntries(service)) {
    const metafile = await bundleWithMetafile(entry, join(outDir, distDir, out));
    for (const name of externalPackages(metafile)) external.add(name);
  }
  const packageDirs = runtimePackageDirs([...external].sort(), distDir);
  for (const dir of packageDirs)
    cpSync(join(root, dir), join(outDir, dir), {
      recursive: true,
      dereference: true,
      filter: (source) => !isBuildOnlyFile(relative(join(root, dir), source)),
    });
  return packageDirs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // `build.ts <entry.ts> <out.mjs>` bundles one entry (the benchmarks' servers); `build.ts --image
  // <service> <dir>` writes one image's layout; no arguments: every service.
  const [first, second, third] = process.argv.slice(2);
  if (first === '--image' && second && third) {
    const packages = await writeImageLayout(second, third);
    console.log(`wrote ${second}'s image layout to ${third} (${packages.length} packages)`);
    process.exit(0);
  }
  if (first && second) {
    await bundle(first, second);
    process.exit(0);
  }
  // Folders with a composition root only (services/README.md is not one).
  const services = readdirSync(`${root}services`).filter((name) =>
    existsSync(`${root}services/${name}/src/main.ts`),
  );
  await Promise.all(
    services.map((name) =>
      bundle(`${root}services/${name}/src/main.ts`, `${root}services/${name}/dist/main.mjs`),
    ),
  );
  console.log(`built ${services.length} services into services/*/dist/main.mjs`);
}
