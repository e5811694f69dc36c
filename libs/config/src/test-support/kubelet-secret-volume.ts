import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Projects `payload` into `dir` exactly the way kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go)
 * updates a Secret volume on Linux:
 *   read old `..data` target -> skip if nothing changed -> new `..YYYY_MM_DD_HH_MM_SS.NNN` dir with
 *   the payload -> create missing `<key> -> ..data/<key>` symlinks -> `..data_tmp -> <new dir>` ->
 *   rename `..data_tmp` over `..data` (the atomic switch) -> remove keys no longer in the payload ->
 *   remove the old timestamped dir.
 * Returns the new timestamped directory name, or undefined when kubelet would skip the write.
 */
export async function writeSecretVolume(
  dir: string,
  payload: Record<string, string>,
): Promise<string | undefined> {
  const dataDir = join(dir, '..data');
  const oldTsDir = await readlink(dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });

  let toRemove: string[] = [];
  if (oldTsDir) {
    const oldKeys = await listKeys(join(dir, oldTsDir));
    toRemove = oldKeys.filter((k) => !(k in payload));
    let changed = false;
    for (const [key, content] of Object.entries(payload)) {
      const onDisk = await readFile(join(dir, oldTsDir, key), 'utf8').catch(() => undefined);
      if (onDisk !== content) changed = true;
    }
    if (!changed && toRemove.length === 0) return undefined;
  }

  const stamp = new Date().toISOString().replace(/[-T:]/g, '_').replace(/\..*$/, '');
  // Go's os.MkdirTemp appends a random decimal number to the pattern.
  const tsDir = join(dir, `..${stamp}.${Math.floor(Math.random() * 1e9)}`);
  await mkdir(tsDir, { mode: 0o755 });
  await chmod(tsDir, 0o755);
  for (const [key, content] of Object.entries(payload)) {
    await writeFile(join(tsDir, key), content, { mode: 0o644 });
  }

  for (const key of Object.keys(payload)) {
    const exists = await lstat(join(dir, key)).then(
      () => true,
      () => false,
    );
    if (!exists) await symlink(join('..data', key), join(dir, key));
  }

  const tsName = tsDir.slice(dir.length + 1);
  await symlink(tsName, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), dataDir);

  for (const key of toRemove) await rm(join(dir, key), { force: true });
  if (oldTsDir) await rm(join(dir, oldTsDir), { recursive: true, force: true });
  return tsName;
}

async function listKeys(tsDir: string): Promise<string[]> {
  return readdir(tsDir).catch(() => []);
}
