import fc from 'fast-check';
import { encodeGlobalId } from '../../../src/schema/ids.ts';
import { type Op, withStory } from './checks.ts';
import { CreateComment, DeleteComment, UpdateComment } from './commands/comments.ts';
import {
  ChangeMemberRole,
  CreateMember,
  type EmailChoice,
  ReadMembers,
  ReadViewer,
  SignUp,
} from './commands/members.ts';
import { NodeLookup, NodesLookup } from './commands/nodes.ts';
import {
  type ContentChoice,
  CreatePost,
  type CursorChoice,
  DeletePost,
  ReadPost,
  ReadPosts,
  ReadPostsPage,
  UpdatePost,
} from './commands/posts.ts';
import { type ActorRef, cmp, type IdRef, type Model, type OrgRef } from './model.ts';
import { audit, startRun } from './runs.ts';
import { BODIES, CONTENTS, KINDS, type Kind, type Role, TITLES, type World } from './world.ts';

/**
 * Property-based cross-tenant fuzzing, shared by test/isolation/fuzz.test.ts and scripts/fuzz.ts.
 *
 * fast-check generates sequences of API operations by random users of several organizations
 * whose data look alike (same emails, titles and bodies; only a hidden marker tells them
 * apart). Each command runs against the real API and is checked against a model of what every
 * tenant holds: own rows match the model exactly, role rules give FORBIDDEN only inside the
 * caller's organization, and another organization's id behaves exactly like a missing one
 * (NOT_FOUND with the same message, `null` from `node`). Every response is scanned for ids,
 * cursors, tokens and markers of another tenant. Failures shrink to a short story.
 *
 * This file is the entry point (the arbitraries and the property); ./world.ts holds what exists
 * across runs, ./model.ts what each tenant should see, ./checks.ts the checks every response
 * goes through, ./commands/ the commands by domain, ./runs.ts the reset and audit of a run.
 */

// ─── Arbitraries ─────────────────────────────────────────────────────────────────────────────

export type PropertyOptions = Readonly<{
  maxCommands: number;
  /**
   * How often the two operations that hash a password (scrypt, ~0.3 s) come up: `some` (each
   * about 1 in 80 operations, so short runs see new organizations too) or `rare` (1 in 330).
   */
  scrypt?: 'some' | 'rare';
  /** fast-check's `replayPath` hint (with `{ seed, path }`) to replay a counterexample. */
  replayPath?: string;
}>;

/** The commands fast-check picks from, weighted (all weights are in quarters). */
export function commandArbitrary(world: World, options: PropertyOptions): fc.Arbitrary<Op> {
  const base = world.base.length;
  const orgRef: fc.Arbitrary<OrgRef> = fc.oneof(
    { weight: 20, arbitrary: fc.record({ base: fc.nat({ max: base - 1 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({ signup: fc.nat({ max: 1 }), fallback: fc.nat({ max: base - 1 }) }),
    },
  );
  const actor: fc.Arbitrary<ActorRef> = fc.record({
    org: orgRef,
    user: fc.oneof(
      { weight: 6, arbitrary: fc.nat({ max: 2 }) },
      { weight: 1, arbitrary: fc.integer({ min: 3, max: 5 }) },
    ),
  });
  const uuid = fc.uuid({ version: 4 });
  const malformed = fc.oneof(
    fc.constantFrom('', 'not-an-id', 'UG9zdDo', 'Post:1', '%%%', 'null'),
    fc.string({ maxLength: 24 }),
    // A bare uuid, and a global id around something that is not a uuid.
    uuid,
    uuid.map((u) => encodeGlobalId('Post', `${u}0`)),
  );
  const idRef = (kind: Kind, anyKind = false): fc.Arbitrary<IdRef> => {
    const kinds = fc.oneof(
      { weight: 10, arbitrary: fc.constant(kind) },
      { weight: 1, arbitrary: fc.constantFrom(...KINDS.filter((k) => k !== kind)) },
    );
    const n = fc.nat({ max: 9 });
    const self = fc.constant('self' as const);
    const refs: fc.WeightedArbitrary<IdRef>[] = [
      {
        weight: 8,
        arbitrary: fc.record({ t: fc.constant('row'), org: self, kind: kinds, n, uuid }),
      },
      {
        weight: 7,
        arbitrary: fc.record({ t: fc.constant('row'), org: orgRef, kind: kinds, n, uuid }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('missing'), kind: kinds, uuid }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('malformed'), text: malformed }) },
    ];
    if (anyKind) {
      refs.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('unknownType'), uuid }) });
    }
    return fc.oneof(...refs);
  };
  const anyId = fc.constantFrom(...KINDS).chain((kind) => idRef(kind, true));
  const title = fc.nat({ max: TITLES.length - 1 });
  const body = fc.nat({ max: BODIES.length - 1 });
  const content: fc.Arbitrary<ContentChoice> = fc.oneof(
    fc.constant('keep' as const),
    fc.constant(null),
    fc.nat({ max: CONTENTS.length - 1 }),
  );
  const role: fc.Arbitrary<Role> = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom<Role>('ADMIN', 'MEMBER') },
    { weight: 1, arbitrary: fc.constant<Role>('OWNER') },
  );
  const email: fc.Arbitrary<EmailChoice> = fc.oneof(
    fc.constant({ fresh: true as const }),
    fc.record({ org: fc.oneof(fc.constant('self' as const), orgRef), n: fc.nat({ max: 5 }) }),
  );
  const cursor: fc.Arbitrary<CursorChoice> = fc.oneof(
    { weight: 4, arbitrary: fc.constant(null) },
    {
      weight: 4,
      arbitrary: fc.record({
        org: fc.oneof(fc.constant('self' as const), orgRef),
        n: fc.nat({ max: 9 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ garbage: fc.constantFrom('abc', 'R1BDOg==') }) },
  );
  const rarely = fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, fc.constant(true));
  const w = (weight: number, arbitrary: fc.Arbitrary<Op>) => ({ weight: weight * 4, arbitrary });
  // Quarter weights for the two scrypt-bound operations.
  const [signUps, newMembers] = options.scrypt === 'rare' ? [1, 1] : [4, 4];
  return fc.oneof(
    {
      weight: signUps,
      arbitrary: fc
        .oneof({ weight: 3, arbitrary: fc.constant(null) }, orgRef)
        .map((taken) => new SignUp(taken)),
    },
    {
      weight: newMembers,
      arbitrary: fc.tuple(actor, role, email).map(([a, r, e]) => new CreateMember(a, r, e)),
    },
    w(
      14,
      fc
        .tuple(actor, title, fc.option(fc.nat({ max: CONTENTS.length - 1 })), rarely)
        .map(([a, t, c, blank]) => new CreatePost(a, t, c, blank)),
    ),
    w(
      8,
      fc
        .tuple(actor, idRef('Post'), fc.option(title), content)
        .map(([a, id, t, c]) => new UpdatePost(a, id, t, c)),
    ),
    w(
      4,
      fc.tuple(actor, idRef('Post')).map(([a, id]) => new DeletePost(a, id)),
    ),
    w(
      10,
      fc.tuple(actor, idRef('Post'), body).map(([a, id, b]) => new CreateComment(a, id, b)),
    ),
    w(
      6,
      fc.tuple(actor, idRef('Comment'), body).map(([a, id, b]) => new UpdateComment(a, id, b)),
    ),
    w(
      3,
      fc.tuple(actor, idRef('Comment')).map(([a, id]) => new DeleteComment(a, id)),
    ),
    w(
      4,
      fc.tuple(actor, idRef('User'), role).map(([a, id, r]) => new ChangeMemberRole(a, id, r)),
    ),
    w(
      8,
      fc.tuple(actor, idRef('Post')).map(([a, id]) => new ReadPost(a, id)),
    ),
    w(
      7,
      fc
        .tuple(actor, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), cursor)
        .map(([a, first, pages, after]) => new ReadPosts(a, first, pages, after)),
    ),
    w(
      3,
      fc
        .tuple(actor, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }))
        .map(([a, page, size]) => new ReadPostsPage(a, page, size)),
    ),
    w(
      2,
      fc.tuple(actor, fc.integer({ min: 2, max: 6 })).map(([a, f]) => new ReadMembers(a, f)),
    ),
    w(
      2,
      actor.map((a) => new ReadViewer(a)),
    ),
    w(
      7,
      fc.tuple(actor, anyId).map(([a, id]) => new NodeLookup(a, id)),
    ),
    w(
      4,
      fc
        .tuple(actor, fc.array(anyId, { minLength: 1, maxLength: 5 }))
        .map(([a, ids]) => new NodesLookup(a, ids)),
    ),
  );
}

/**
 * One fast-check property: a random command sequence against a freshly reset world, checked
 * step by step against the model, then audited as a whole.
 */
export function isolationProperty(world: World, options: PropertyOptions) {
  return fc.asyncProperty(
    fc.commands([commandArbitrary(world, options)], {
      maxCommands: options.maxCommands,
      // Lengths spread up to maxCommands (the default size keeps runs to a handful of steps).
      size: 'max',
      ...(options.replayPath ? { replayPath: options.replayPath } : {}),
    }),
    async (commands) => {
      let model: Model | undefined;
      await fc.asyncModelRun(async () => {
        model = await startRun(world);
        return { model, real: world };
      }, commands);
      if (model) {
        try {
          await audit(world, model);
        } catch (error) {
          throw withStory(error, model, 'end-of-run audit');
        }
      }
    },
  );
}

/** The outcomes seen, most frequent first, then where the time went. */
export function summary(world: World): string {
  const rows = (map: Map<string, number>, unit: string) =>
    [...map.entries()]
      .sort(([a, x], [b, y]) => y - x || cmp(a, b))
      .map(([key, n]) => `${Math.round(n).toString().padStart(7)}${unit}  ${key}`);
  return ['outcomes:', ...rows(world.stats, '  '), 'time:', ...rows(world.time, 'ms')].join('\n');
}
