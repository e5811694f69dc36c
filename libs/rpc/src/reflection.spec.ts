import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { equals, fromBinary, type DescService } from '@bufbuild/protobuf';
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { AuthVerifyService, SessionService } from '@wxmesh/contracts';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { Registry } from 'prom-client';
import { HEALTH_FILE } from './grpc-health-descriptor.js';
import { createLogger, defineService, echoService, RpcServer } from './index.js';
import { exactFiles, type ExactFile } from './reflection.js';

// Reflection as a standard client sees it, against a real in-process server: what is served must
// be byte for byte what protobuf-es holds (the compiled descriptors), with every import reachable,
// so clients such as grpcurl can build the full schema and encode requests from it.

const require = createRequire(import.meta.url);
type Reflection = { [method: string]: unknown } & grpc.Client;
type Ctor = new (address: string, credentials: grpc.ChannelCredentials) => Reflection;
const protoFor = (version: string) =>
  require.resolve(`@grpc/reflection/build/proto/grpc/reflection/${version}/reflection.proto`);
const clientCtors = {
  v1: (
    grpc.loadPackageDefinition(loadSync(protoFor('v1'), { oneofs: true })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: Ctor } } };
    }
  ).grpc.reflection.v1.ServerReflection,
  v1alpha: (
    grpc.loadPackageDefinition(loadSync(protoFor('v1alpha'), { oneofs: true })) as unknown as {
      grpc: { reflection: { v1alpha: { ServerReflection: Ctor } } };
    }
  ).grpc.reflection.v1alpha.ServerReflection,
};

interface ReflectionAnswer {
  listServicesResponse?: { service: Array<{ name: string }> };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  allExtensionNumbersResponse?: { baseTypeName: string; extensionNumber: number[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

/** One request on a fresh ServerReflectionInfo stream, and its one answer. */
function reflect(client: Reflection, request: Record<string, unknown>): Promise<ReflectionAnswer> {
  return new Promise((resolve, reject) => {
    const open = client.ServerReflectionInfo as () => grpc.ClientDuplexStream<unknown, ReflectionAnswer>;
    const stream = open.call(client);
    stream.once('data', (answer: ReflectionAnswer) => {
      stream.end();
      resolve(answer);
    });
    stream.once('error', reject);
    stream.write(request);
  });
}

const files = (answer: ReflectionAnswer): FileDescriptorProto[] => {
  assert.equal(answer.errorResponse, undefined, JSON.stringify(answer.errorResponse));
  return answer.fileDescriptorResponse!.fileDescriptorProto.map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
};

const SERVICES: readonly DescService[] = [echoService.desc, SessionService, AuthVerifyService];
let server: RpcServer;
let address: string;
let exact: Map<string, ExactFile>;

before(async () => {
  server = new RpcServer({
    name: 'reflection-test',
    services: [echoService, defineService(SessionService, {}), defineService(AuthVerifyService, {})],
    logger: createLogger({ name: 'reflection-test', level: 'silent' }),
    registry: new Registry(),
    callers: { behindGateway: false, peerIdentity: 'declared' },
  });
  address = `127.0.0.1:${(await server.start()).grpcPort}`;
  exact = new Map(exactFiles(SERVICES).map((file) => [file.name, file]));
});
after(() => server.shutdown());

test('the health descriptor is what buf compiles from the health.proto grpc-health-check serves', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wxmesh-health-'));
  try {
    await mkdir(join(dir, 'grpc/health/v1'), { recursive: true });
    await copyFile(healthProtoPath, join(dir, 'grpc/health/v1/health.proto'));
    await writeFile(join(dir, 'buf.yaml'), 'version: v2\n');
    const buf = fileURLToPath(new URL('../../../node_modules/.bin/buf', import.meta.url));
    await promisify(execFile)(buf, ['build', '--exclude-source-info', '-o', join(dir, 'health.binpb')], {
      cwd: dir,
    });
    const compiled = fromBinary(FileDescriptorSetSchema, await readFile(join(dir, 'health.binpb')));
    assert.equal(compiled.file.length, 1);
    assert.ok(
      equals(FileDescriptorProtoSchema, compiled.file[0]!, HEALTH_FILE),
      'HEALTH_FILE matches buf build',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the files protobuf-es holds keep what a rebuild through protobufjs lost', () => {
  const session = fromBinary(FileDescriptorProtoSchema, exact.get(SessionService.file.proto.name)!.bytes);
  assert.ok(session.dependency.includes('buf/validate/validate.proto'), 'option-only imports are listed');
  assert.ok(session.dependency.includes('google/protobuf/timestamp.proto'));
  const sessionMessage = session.messageType.find((m) => m.name === 'Session')!;
  const attributes = sessionMessage.field.find((f) => f.name === 'attributes')!;
  assert.equal(attributes.typeName, '.wxmesh.session.v1.Session.AttributesEntry', 'absolute names');
  assert.ok(
    sessionMessage.nestedType.some((n) => n.name === 'AttributesEntry'),
    'map entries keep their name',
  );
  assert.equal(sessionMessage.field.find((f) => f.name === 'session_id')!.jsonName, 'sessionId');
  const request = session.messageType.find((m) => m.name === 'CreateSessionRequest')!;
  const appid = request.field.find((f) => f.name === 'appid')!;
  assert.ok(
    appid.options?.$unknown?.some((u) => u.no === 1159),
    'buf.validate options are kept',
  );
});

for (const version of ['v1', 'v1alpha'] as const) {
  describe(`reflection ${version}`, () => {
    let client: Reflection;
    before(() => {
      client = new clientCtors[version](address, grpc.credentials.createInsecure());
    });
    after(() => client.close());

    test('lists exactly the services this server runs, and grpc.health.v1', async () => {
      const answer = await reflect(client, { listServices: '*' });
      const names = answer.listServicesResponse!.service.map((s) => s.name).sort();
      assert.deepEqual(names, [...SERVICES.map((s) => s.typeName), 'grpc.health.v1.Health'].sort());
    });

    test('every file is served byte for byte as compiled, with all its imports in the answer', async () => {
      for (const service of SERVICES) {
        const answer = await reflect(client, { fileContainingSymbol: service.typeName });
        const served = answer.fileDescriptorResponse!.fileDescriptorProto;
        assert.equal(
          served[0]!.toString('base64'),
          Buffer.from(exact.get(service.file.proto.name)!.bytes).toString('base64'),
        );
        const names = new Set(files(answer).map((f) => f.name));
        const closure = exactFiles([service]).map((f) => f.name);
        assert.deepEqual(
          [...names].sort(),
          [...closure].sort(),
          `${service.typeName}: the closure of its imports`,
        );
        for (const proto of files(answer)) {
          assert.ok(
            equals(
              FileDescriptorProtoSchema,
              proto,
              fromBinary(FileDescriptorProtoSchema, exact.get(proto.name!)!.bytes),
            ),
            `${proto.name} decodes to exactly protobuf-es' proto`,
          );
        }
      }
    });

    test('every dependency of every served file is resolvable by file_by_filename', async () => {
      for (const file of exact.values()) {
        for (const dependency of [file.name, ...file.dependency]) {
          const [first] = files(await reflect(client, { fileByFilename: dependency }));
          assert.equal(first!.name, dependency);
          assert.ok(
            equals(
              FileDescriptorProtoSchema,
              first!,
              fromBinary(FileDescriptorProtoSchema, exact.get(dependency)!.bytes),
            ),
            `${dependency} is served as compiled`,
          );
        }
      }
    });

    test('methods and message types resolve to their file', async () => {
      for (const symbol of ['wxmesh.session.v1.SessionService.GetSession', 'wxmesh.session.v1.Session']) {
        const [first] = files(await reflect(client, { fileContainingSymbol: symbol }));
        assert.equal(first!.name, SessionService.file.proto.name, symbol);
      }
      const missing = await reflect(client, { fileContainingSymbol: 'wxmesh.nope.v1.Nope' });
      assert.equal(missing.errorResponse?.errorCode, grpc.status.NOT_FOUND);
    });

    test('extensions are found under the extendee name clients ask for', async () => {
      const numbers = await reflect(client, { allExtensionNumbersOfType: 'google.protobuf.MethodOptions' });
      assert.ok(numbers.allExtensionNumbersResponse!.extensionNumber.includes(50700));
      const [access] = files(
        await reflect(client, {
          fileContainingExtension: {
            containingType: 'google.protobuf.MethodOptions',
            extensionNumber: 50700,
          },
        }),
      );
      assert.equal(access!.name, 'wxmesh/common/v1/access.proto');
    });

    test('grpc.health.v1.Health is served as compiled', async () => {
      const answer = await reflect(client, { fileContainingSymbol: 'grpc.health.v1.Health' });
      assert.ok(equals(FileDescriptorProtoSchema, files(answer)[0]!, HEALTH_FILE));
      assert.equal(
        answer.fileDescriptorResponse!.fileDescriptorProto.length,
        1,
        'health.proto imports nothing',
      );
    });
  });
}
