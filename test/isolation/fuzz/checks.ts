import assert from 'node:assert/strict';
import type fc from 'fast-check';
import { decodeGlobalId, encodeGlobalId } from '../../../src/schema/ids.ts';
import { UUIDS_IN_TEXT } from '../../../src/tenancy/ids.ts';
import type { GraphQLResponse } from '../../support/api.ts';
import {
  type Actor,
  at,
  classify,
  isForeign,
  type Model,
  NODE_FIELDS,
  nodeShape,
  type Resolved,
} from './model.ts';
import { type Kind, markersIn, UNOWNED, visible, type World } from './world.ts';

/** The checks every response goes through, and the step and command base every command uses. */

// ─── Checks ──────────────────────────────────────────────────────────────────────────────────

/** A failed check; the message names the step and ends with the story of the run. */
export class IsolationFailure extends Error {
  override readonly name = 'IsolationFailure';
}

/**
 * Every string of a response (data and errors), and what it decodes to when it looks like
 * base64 (global ids, cursors, token parts), may only name the caller's rows: uuids another
 * tenant owns, or markers of another tenant, are leaks. A uuid nobody handed out is a failure
 * too: the model would not know that row.
 */
export function scan(world: World, caller: number, response: GraphQLResponse, who: string): void {
  const tenant = (key: number) => world.names.get(key) ?? `tenant #${key}`;
  const check = (text: string, path: string) => {
    const decoded = /^[A-Za-z0-9_\-+/=.]{16,}$/.test(text)
      ? text.split('.').map((part) => Buffer.from(part, 'base64').toString('latin1'))
      : [];
    for (const candidate of [text, ...decoded]) {
      for (const [uuid] of candidate.matchAll(UUIDS_IN_TEXT)) {
        const owner = world.owners.get(uuid.toLowerCase());
        if (owner === undefined) {
          throw new IsolationFailure(`unknown uuid ${uuid} in the response to ${who} at ${path}`);
        }
        if (owner !== caller && owner !== UNOWNED) {
          throw new IsolationFailure(
            `LEAK: the response to ${who} holds a row of ${tenant(owner)} ` +
              `(uuid ${uuid}) at ${path}`,
          );
        }
      }
      for (const key of markersIn(candidate)) {
        if (key !== caller) {
          throw new IsolationFailure(
            `LEAK: the response to ${who} holds text of ${tenant(key)} at ${path}: ` +
              JSON.stringify(visible(candidate)),
          );
        }
      }
    }
  };
  const visit = (value: unknown, path: string): void => {
    if (typeof value === 'string') check(value, path);
    else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) visit(item, `${path}[${i}]`);
    } else if (value && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) visit(item, `${path}.${key}`);
    }
  };
  visit({ data: response.data, errors: response.errors }, 'response');
}

export function same(actual: unknown, expected: unknown, context: string): void {
  try {
    assert.deepStrictEqual(actual, expected);
  } catch (error) {
    throw new IsolationFailure(`${context}\n${(error as Error).message}`);
  }
}

export function expectError(
  res: GraphQLResponse,
  code: string,
  context: string,
  data: unknown = null,
): void {
  const errors = res.errors ?? [];
  const got = errors.map((e) => e.extensions?.code ?? `(no code: ${e.message})`);
  if (errors.length !== 1 || got[0] !== code) {
    throw new IsolationFailure(
      `${context}: expected ${code}, got ${got.join(', ') || 'no error'}: ${JSON.stringify(res)}`,
    );
  }
  same(res.data ?? null, data, `${context}: data next to the ${code} error`);
}

export function okData(res: GraphQLResponse, context: string): Readonly<Record<string, unknown>> {
  if (res.errors?.length || !res.data) {
    const got = (res.errors ?? []).map((e) => e.extensions?.code ?? `(no code: ${e.message})`);
    throw new IsolationFailure(
      `${context}: expected success, got ${got.join(', ') || 'no data'}: ${JSON.stringify(res)}`,
    );
  }
  return res.data;
}

export function record(value: unknown, what: string): Readonly<Record<string, unknown>> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new IsolationFailure(`${what}: expected an object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

export function text(value: unknown, what: string): string {
  if (typeof value !== 'string') {
    throw new IsolationFailure(`${what}: expected a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function rawOf(globalId: string): string {
  return decodeGlobalId(globalId).id;
}

/** Data and errors only (the test API adds status and headers), comparable as a whole. */
export function normalize(res: GraphQLResponse): GraphQLResponse {
  return {
    ...('data' in res ? { data: res.data } : {}),
    ...(res.errors ? { errors: res.errors } : {}),
  };
}

export function timed(world: World, key: string, started: number): void {
  world.time.set(key, (world.time.get(key) ?? 0) + performance.now() - started);
}

export function count(world: World, key: string): void {
  world.stats.set(key, (world.stats.get(key) ?? 0) + 1);
}

/** One request as `token`, scanned for other tenants' rows on behalf of `caller`. */
export async function request(
  world: World,
  caller: number,
  who: string,
  token: string | undefined,
  query: string,
  variables: Record<string, unknown>,
  created?: string,
): Promise<GraphQLResponse> {
  const res = normalize(await world.api.gql(query, variables, token));
  world.requests += 1;
  // A row the call just created is the caller's: register it before the scan looks for it.
  const row = created && !res.errors?.length ? res.data?.[created] : undefined;
  if (row && typeof row === 'object' && 'id' in row && typeof row.id === 'string') {
    world.owners.set(rawOf(row.id), caller);
  }
  scan(world, caller, res, who);
  return res;
}

/** What one command does; `describe` the resolved step before the first request. */
export class Step {
  description = '';
  outcome = '';
  constructor(
    readonly world: World,
    readonly model: Model,
    readonly name: string,
  ) {}

  describe(text: string): void {
    this.description = text;
  }

  done(outcome: string): void {
    this.outcome = outcome;
    count(this.world, `${this.name} ${outcome}`);
  }

  call(
    actor: Actor,
    query: string,
    variables: Record<string, unknown>,
    created?: string,
  ): Promise<GraphQLResponse> {
    return request(
      this.world,
      actor.org.key,
      actor.label,
      actor.user.token,
      query,
      variables,
      created,
    );
  }

  /**
   * An operation on one id. An id that is not of `kind` is BAD_USER_INPUT; an absent one
   * (missing, deleted, or another tenant's) is NOT_FOUND; a live own row gets `own()`. A role
   * rule checked before the id (`before`) wins over all of these. For another tenant's id, the
   * same operation with a made-up id of the same type must answer exactly the same, and the
   * row must be untouched afterwards (read back by its own organization's owner).
   */
  async targeted(options: {
    actor: Actor;
    target: Resolved;
    kind: Kind;
    query: string;
    variables: (id: string) => Record<string, unknown>;
    created?: string;
    before?: string | null;
    /** An error given after the id parses but before the row is looked up. */
    afterParse?: string | null;
    own: () => { error: string } | { check: (data: Readonly<Record<string, unknown>>) => void };
  }): Promise<void> {
    const { actor, target, kind } = options;
    const res = await this.call(
      actor,
      options.query,
      options.variables(target.id),
      options.created,
    );
    const cls = classify(target, kind, actor);
    const expectation =
      options.before != null
        ? { error: options.before }
        : cls === 'invalid'
          ? { error: 'BAD_USER_INPUT' }
          : options.afterParse != null
            ? { error: options.afterParse }
            : cls === 'absent'
              ? { error: 'NOT_FOUND' }
              : options.own();
    const foreign = isForeign(target, actor) && target.kind === kind;
    if ('error' in expectation) {
      expectError(res, expectation.error, `${this.name}(${target.label})`);
      this.done(`${expectation.error}${foreign ? ' (foreign)' : ''}`);
    } else {
      expectation.check(okData(res, `${this.name}(${target.label})`));
      this.done('ok');
    }
    if (foreign) {
      const twinId = encodeGlobalId(kind, target.uuid);
      const twin = await this.call(actor, options.query, options.variables(twinId));
      same(
        res,
        twin,
        `${this.name}: another tenant's id (${target.label}) must answer exactly like a ` +
          `missing ${kind} id`,
      );
      if (target.live) await this.untouched(target);
    }
  }

  /** A foreign row, read back by its own organization's owner, still matches the model. */
  async untouched(target: Resolved): Promise<void> {
    const org = target.org;
    if (!org) return;
    const owner = at(org.users, 0);
    const res = await request(
      this.world,
      org.key,
      `${org.label}.owner`,
      owner.token,
      `query Node($id: ID!) { node(id: $id) { ${NODE_FIELDS} } }`,
      { id: target.id },
    );
    same(
      okData(res, `${target.label} read back by its owner`).node,
      nodeShape(target),
      `${target.label}, read back by its own organization, changed`,
    );
  }
}

// ─── Commands ────────────────────────────────────────────────────────────────────────────────

export abstract class Op implements fc.AsyncCommand<Model, World> {
  abstract readonly name: string;
  abstract toString(): string;
  protected abstract exec(step: Step): Promise<void>;

  check(): boolean {
    return true;
  }

  async run(model: Model, world: World): Promise<void> {
    world.ops += 1;
    const started = performance.now();
    const step = new Step(world, model, this.name);
    const index = model.story.length;
    model.story.push(`${index + 1}. ${this.toString()}`);
    try {
      await this.exec(step);
      model.story[index] = `${index + 1}. ${step.description || this.toString()} → ${step.outcome}`;
      timed(world, this.name, started);
    } catch (error) {
      model.story[index] = `${index + 1}. ${step.description || this.toString()} → FAILED`;
      throw withStory(error, model, `step ${index + 1}`);
    }
  }
}

export function withStory(error: unknown, model: Model, where: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new IsolationFailure(
    `${where}: ${message}\n\nThe run, step by step (shrunk by fast-check):\n` +
      model.story.join('\n'),
    { cause: error },
  );
}
