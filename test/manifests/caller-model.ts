import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { getOption, type DescMethod, type DescService } from '@bufbuild/protobuf';
import { access, Audience } from '@wxmesh/contracts';
import ts from 'typescript';

// The two truths the mesh policy is checked against, read from where the code keeps them: who
// may call an RPC (the `wxmesh.common.v1.access` option in the proto) and which RPCs each
// service really calls on its peers (the `definePeer(<Service>, ['method', ...])` declarations
// beside its peer clients). Nothing here is hand-written per service.

/** The mesh name of the admin tools' identity; OPERATOR RPCs are served to it alone. */
export const OPERATOR = 'operator';

/** Who may call an RPC, as its proto declares it. */
export interface RpcAccess {
  readonly audiences: readonly Audience[];
  /** For INTERNAL: the mesh peers (service account names) allowed; `*` is every peer. */
  readonly peers: readonly string[];
}

/** The proto's `access` option of a method. */
export function accessOf(method: DescMethod): RpcAccess {
  const { audiences, peers } = getOption(method, access);
  return { audiences, peers };
}

/** PUBLIC or EDGE: the RPC is meant for the north-south (http) port, so the ingress may reach it. */
export function isEdgeRpc(method: DescMethod): boolean {
  const { audiences } = accessOf(method);
  return audiences.includes(Audience.PUBLIC) || audiences.includes(Audience.EDGE);
}

/**
 * Whether the proto lets the mesh peer `peer` call `method` on the east-west (grpc) port:
 * PUBLIC, INTERNAL with `peer` (or `*`) listed, or OPERATOR when `peer` is the operator.
 * `namedOnly` ignores `*` and PUBLIC, leaving what the proto grants this peer by name.
 */
export function protoAllowsPeer(method: DescMethod, peer: string, namedOnly = false): boolean {
  const { audiences, peers } = accessOf(method);
  if (!namedOnly && audiences.includes(Audience.PUBLIC)) return true;
  if (audiences.includes(Audience.OPERATOR) && peer === OPERATOR) return true;
  return (
    audiences.includes(Audience.INTERNAL) && (peers.includes(peer) || (!namedOnly && peers.includes('*')))
  );
}

/** An audience as the proto spells it (AUDIENCE_INTERNAL ...), for messages. */
export function describeAccess(method: DescMethod): string {
  const { audiences, peers } = accessOf(method);
  const names = audiences.map((a) => `AUDIENCE_${Audience[a]}`).join(', ');
  return peers.length > 0 ? `${names}; peers ${peers.join(', ')}` : names;
}

/**
 * The mesh identities the protos name that are not wxmesh services: INTERNAL peers such as the
 * business backend, and the operator when any RPC has the OPERATOR audience. Their rules in the
 * AuthorizationPolicies follow from the proto alone.
 */
export function principalsOutsideMesh(
  contracts: readonly DescService[],
  services: readonly string[],
): string[] {
  const named = new Set<string>();
  for (const method of contracts.flatMap((c) => c.methods)) {
    const { audiences, peers } = accessOf(method);
    for (const peer of peers) if (peer !== '*') named.add(peer);
    if (audiences.includes(Audience.OPERATOR)) named.add(OPERATOR);
  }
  return [...named].filter((p) => !services.includes(p)).sort();
}

/** One RPC a service's code calls on a peer, with the declaration that says so. */
export interface PeerCall {
  /** The calling service: the directory under services/ that holds the declaration. */
  readonly caller: string;
  readonly callee: DescService;
  readonly method: DescMethod;
  /** `path:line` of the `definePeer` call. */
  readonly at: string;
}

/** A `definePeer` call as written: the descriptor's exported name and the local method names. */
export interface PeerDeclaration {
  readonly service: string;
  readonly methods: readonly string[];
  readonly line: number;
}

const RPC_MODULE = '@wxmesh/rpc';
const CONTRACTS_MODULE = '@wxmesh/contracts';

/** Local names bound to `exported` by `import { exported as local } from module` in a file. */
function importedAs(file: ts.SourceFile, module: string, exported: string): Map<string, string> {
  const bindings = new Map<string, string>();
  for (const statement of file.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    if (statement.moduleSpecifier.text !== module) continue;
    const named = statement.importClause?.namedBindings;
    if (named === undefined || !ts.isNamedImports(named)) continue;
    for (const element of named.elements) {
      const original = (element.propertyName ?? element.name).text;
      if (exported === '*' || original === exported) bindings.set(element.name.text, original);
    }
  }
  return bindings;
}

/** `x as const`, `(x)`, `x satisfies T` read as `x`. */
function unwrap(node: ts.Expression): ts.Expression {
  if (ts.isAsExpression(node) || ts.isParenthesizedExpression(node) || ts.isSatisfiesExpression(node))
    return unwrap(node.expression);
  return node;
}

function calleeName(call: ts.CallExpression): string | undefined {
  const callee = call.expression;
  if (ts.isIdentifier(callee)) return callee.text;
  if (ts.isPropertyAccessExpression(callee)) return callee.name.text;
  return undefined;
}

/**
 * Every `definePeer(<Service>, ['method', ...])` call in one source file, read with the
 * TypeScript parser. The service must be an identifier (an import from @wxmesh/contracts, aliases
 * resolved) and the methods an array of string literals, so the declaration can be read without
 * running the code; any other shape throws, naming the file and line.
 */
export function peerDeclarationsIn(fileName: string, text: string): PeerDeclaration[] {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const definePeerNames = new Set(['definePeer', ...importedAs(file, RPC_MODULE, 'definePeer').keys()]);
  const contracts = importedAs(file, CONTRACTS_MODULE, '*');
  const found: PeerDeclaration[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && definePeerNames.has(calleeName(node) ?? '')) {
      found.push(readDeclaration(file, node, contracts));
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function readDeclaration(
  file: ts.SourceFile,
  call: ts.CallExpression,
  contracts: Map<string, string>,
): PeerDeclaration {
  const line = file.getLineAndCharacterOfPosition(call.getStart(file)).line + 1;
  const fail = (why: string): never => {
    throw new Error(
      `${file.fileName}:${line}: ${call.getText(file)}: ${why}; write definePeer(<Service>, ['method', ...]) ` +
        'with the descriptor and string literals inline, so the mesh policy can be checked against it',
    );
  };
  const [service, methods, ...rest] = call.arguments;
  if (service === undefined || methods === undefined || rest.length > 0)
    return fail('expected two arguments');
  const serviceNode = unwrap(service);
  if (!ts.isIdentifier(serviceNode)) return fail('the service is not an identifier');
  const list = unwrap(methods);
  if (!ts.isArrayLiteralExpression(list)) return fail('the methods are not an array literal');
  const names = list.elements.map((element) => {
    const value = ts.isSpreadElement(element) ? element : unwrap(element);
    if (!ts.isStringLiteralLike(value)) return fail(`${element.getText(file)} is not a string literal`);
    return value.text;
  });
  return { service: contracts.get(serviceNode.text) ?? serviceNode.text, methods: names, line };
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') && !entry.name.endsWith('.d.ts')
      ? [path]
      : [];
  });
}

/**
 * The RPCs each service calls on its peers, read from the `definePeer` declarations in
 * `<servicesDir>/<service>/src/**\/*.ts` (specs excluded). `descriptors` maps the exported
 * descriptor names (`SessionService`) to the descriptors; a declaration naming another
 * identifier or an unknown method throws.
 */
export function peerCallsIn(
  servicesDir: string,
  descriptors: Readonly<Record<string, DescService>>,
  root = servicesDir,
): PeerCall[] {
  const calls: PeerCall[] = [];
  for (const caller of readdirSync(servicesDir, { withFileTypes: true })) {
    if (!caller.isDirectory()) continue;
    const src = join(servicesDir, caller.name, 'src');
    if (!existsSync(src)) continue;
    for (const file of sourceFiles(src)) {
      const where = relative(root, file);
      for (const declaration of peerDeclarationsIn(where, readFileSync(file, 'utf8'))) {
        const callee = descriptors[declaration.service];
        if (callee === undefined) {
          throw new Error(
            `${where}:${declaration.line}: definePeer(${declaration.service}, ...) names no wxmesh service ` +
              `descriptor (known: ${Object.keys(descriptors).join(', ')})`,
          );
        }
        for (const localName of declaration.methods) {
          const method = callee.methods.find((m) => m.localName === localName);
          if (method === undefined) {
            throw new Error(`${where}:${declaration.line}: ${callee.typeName} has no method ${localName}`);
          }
          calls.push({ caller: caller.name, callee, method, at: `${where}:${declaration.line}` });
        }
      }
    }
  }
  return calls;
}
