import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * WeChat Pay dev keys written into `dir` by payment-callback's own dev script, run as a tool (as
 * `npm start` does): the e2e project may not import the payment scope's code. Returns the
 * environment for payment-callback and for the sandbox.
 */
export async function payKeys(dir: string) {
  const script = pathToFileURL(`${root}services/payment-callback/scripts/dev-keys.ts`).href;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import(${JSON.stringify(script)}).then(async (m) => {
        const s = await m.writeDevPaymentSecrets(${JSON.stringify(dir)});
        process.stdout.write(JSON.stringify({ paymentCallback: s.paymentCallback, sandbox: s.sandbox }));
      })`,
    ],
    { cwd: root },
  );
  return JSON.parse(stdout) as { paymentCallback: Record<string, string>; sandbox: Record<string, string> };
}
