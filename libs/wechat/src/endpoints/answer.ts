import type { z } from 'zod';
import { WeChatMalformedAnswerError } from '../errors.js';

/**
 * Checks a WeChat answer (errcode already 0) against the API's schema and returns the parsed
 * value. A body that does not match is a {@link WeChatMalformedAnswerError} naming the failing
 * fields without their values, never a crash further down or a secret in a message.
 */
export function parseAnswer<S extends z.ZodType>(api: string, schema: S, json: unknown): z.output<S> {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  throw new WeChatMalformedAnswerError(api, result.error.issues.map(describeIssue));
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length === 0 ? '(body)' : issue.path.map(String).join('.');
  return issue.code === 'invalid_type' ? `${field}: expected ${issue.expected}` : `${field}: ${issue.code}`;
}

/** The app's credentials as WeChat's query strings spell them. They never appear in an error. */
export function appCredentials(input: { appid: string; appSecret: string }): {
  appid: string;
  secret: string;
} {
  return { appid: input.appid, secret: input.appSecret };
}
