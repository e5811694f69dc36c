// What the image specs read from a service's Dockerfile: the build stage's layout command, and the
// final stage's COPY lines, WORKDIR, USER and CMD, so the specs break when the Dockerfile changes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** One `COPY --from=<stage> <source> <destination>` of the final stage. */
export interface StageCopy {
  readonly from: string;
  readonly source: string;
  readonly destination: string;
}

/** The parts of a Dockerfile the image specs reproduce. */
export interface ImageDockerfile {
  /** `ARG NODE_VERSION`'s default: the Node the image runs. */
  readonly nodeVersion: string;
  /** The arguments the build stage gives `npm run build --` to write the image layout. */
  readonly layoutArgs: readonly string[];
  readonly copies: readonly StageCopy[];
  readonly workdir: string;
  readonly user: string;
  readonly cmd: readonly string[];
}

/** The instructions of a Dockerfile: continuations joined, comments and blank lines dropped. */
export function dockerfileInstructions(text: string): Array<{ keyword: string; args: string }> {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

function finalStageCopy(args: string): StageCopy {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const [source, destination, ...extra] = words.filter((w) => !w.startsWith('--'));
  if (from === undefined || !source || !destination || extra.length > 0)
    throw new Error(
      `COPY ${args}: the image specs understand only COPY --from=<stage> <source> <destination>`,
    );
  return { from, source, destination };
}

/** Parses `services/<service>/Dockerfile`; throws when a part the specs need is missing. */
export function readImageDockerfile(service: string): ImageDockerfile {
  const instructions = dockerfileInstructions(readFileSync(`${root}services/${service}/Dockerfile`, 'utf8'));
  const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
  const final = instructions.slice(lastFrom + 1);
  const only = (keyword: string) => {
    const found = final.filter((i) => i.keyword === keyword);
    if (found.length !== 1) throw new Error(`${service}: the final stage needs exactly one ${keyword}`);
    return found[0]!.args;
  };
  const nodeVersion = /^NODE_VERSION=(\S+)$/.exec(
    instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_VERSION='))?.args ?? '',
  )?.[1];
  const layout = instructions
    .slice(0, lastFrom)
    .find((i) => i.keyword === 'RUN' && i.args.startsWith('npm run build -- '));
  if (nodeVersion === undefined || layout === undefined)
    throw new Error(`${service}: no ARG NODE_VERSION=<version> or RUN npm run build -- <args>`);
  return {
    nodeVersion,
    layoutArgs: layout.args.slice('npm run build -- '.length).split(/\s+/),
    copies: final.filter((i) => i.keyword === 'COPY').map((i) => finalStageCopy(i.args)),
    workdir: only('WORKDIR'),
    user: only('USER'),
    cmd: JSON.parse(only('CMD')) as string[],
  };
}
