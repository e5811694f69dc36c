// Production builds: each service's composition root bundled with the workspace libs into one ESM
// file per service (`services/<name>/dist/main.mjs`); third-party packages stay in node_modules.
// Run with plain `node`, not tsx: tsx's transform keeps function names by wrapping every closure
// creation, which costs measurable CPU per call on a hot path.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Bundles one entry point; `@wxmesh/*` is inlined from source, every other package stays external. */
export async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
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
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // `build.ts <entry.ts> <out.mjs>` bundles one entry (the benchmarks' servers); no arguments: every service.
  const [entry, outfile] = process.argv.slice(2);
  if (entry && outfile) {
    await bundle(entry, outfile);
    process.exit(0);
  }
  const services = readdirSync(`${root}services`);
  await Promise.all(
    services.map((name) =>
      bundle(`${root}services/${name}/src/main.ts`, `${root}services/${name}/dist/main.mjs`),
    ),
  );
  console.log(`built ${services.length} services into services/*/dist/main.mjs`);
}
