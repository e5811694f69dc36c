import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, getOption, hasOption, type DescMessage } from '@bufbuild/protobuf';
import { field as fieldRules } from '@bufbuild/protovalidate/gen/buf/validate/validate_pb.js';
import * as contracts from '@wxmesh/contracts';
import { createRequestValidator } from './validation.js';

function messagesOf(): DescMessage[] {
  const seen = new Map<string, DescMessage>();
  const visit = (message: DescMessage) => {
    if (seen.has(message.typeName)) return;
    seen.set(message.typeName, message);
    for (const f of message.fields) if (f.message) visit(f.message);
    for (const nested of message.nestedMessages) visit(nested);
  };
  for (const value of Object.values(contracts)) {
    if (typeof value === 'object' && value !== null && (value as { kind?: string }).kind === 'message') {
      visit(value as DescMessage);
    }
  }
  return [...seen.values()];
}

test('every pattern rule in the contracts compiles as a V8 unicode RegExp', () => {
  const patterns = new Set<string>();
  for (const message of messagesOf()) {
    for (const f of message.fields) {
      if (!hasOption(f, fieldRules)) continue;
      const rules = getOption(f, fieldRules);
      if (rules.type.case === 'string' && rules.type.value.pattern) patterns.add(rules.type.value.pattern);
      if (rules.type.case === 'repeated') {
        const items = rules.type.value.items;
        if (items?.type.case === 'string' && items.type.value.pattern) patterns.add(items.type.value.pattern);
      }
    }
  }
  assert.ok(patterns.size >= 5, `found ${patterns.size} patterns`);
  for (const pattern of patterns) assert.doesNotThrow(() => new RegExp(pattern, 'u'), pattern);
});

test('the V8 matcher enforces pattern rules exactly as written', () => {
  const validator = createRequestValidator();
  const ok = validator.validate(
    contracts.GetUserJourneyRequestSchema,
    create(contracts.GetUserJourneyRequestSchema, { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' }),
  );
  assert.equal(ok.kind, 'valid');
  const bad = validator.validate(
    contracts.GetUserJourneyRequestSchema,
    create(contracts.GetUserJourneyRequestSchema, { openid: 'o/../../etc' }),
  );
  assert.equal(bad.kind, 'invalid');
});
