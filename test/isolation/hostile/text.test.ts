import { describe, expect, it } from 'vitest';
import {
  a,
  gql,
  ids,
  inPool,
  judge,
  memberA,
  ownerA,
  stillServing,
  useHostileServer,
} from './harness.ts';

useHostileServer('text');

/**
 * Hostile text. `clean` strings are legitimate text (they must be stored exactly, or refused
 * for an ordinary reason such as a length rule); the others must be BAD_USER_INPUT wherever
 * they are shown. `multiline` marks what content and comments may hold; `unstorable`, what
 * even a password may not (PostgreSQL cannot store NUL; a lone surrogate is not Unicode).
 */
const TEXTS: readonly {
  label: string;
  value: string;
  clean: boolean;
  multiline?: boolean;
  unstorable?: boolean;
}[] = [
  { label: 'SQL: quote and comment', value: "'); DROP TABLE posts; --", clean: true },
  { label: 'SQL: tautology', value: "' OR '1'='1", clean: true },
  { label: 'SQL: stacked', value: "x'; SELECT pg_sleep(10); --", clean: true },
  { label: 'SQL: LIKE wildcards', value: '%_\\%', clean: true },
  { label: 'SQL: dollar quoting', value: '$$; $1 ::text', clean: true },
  { label: 'JSON operators', value: '{"$gt": ""}', clean: true },
  { label: '__proto__', value: '__proto__', clean: true },
  { label: 'HTML', value: '<script>alert(1)</script>', clean: true },
  { label: 'RTL override', value: '\u202Egnp.exe', clean: true },
  { label: 'RTL mark', value: '\u200Fשלום עולם', clean: true },
  { label: 'emoji ZWJ', value: '🚀 👩‍👩‍👧‍👦 🏳️‍🌈', clean: true },
  { label: '4-byte', value: '𝕳𝖊𝖑𝖑𝖔 𠜎𠜱', clean: true },
  { label: 'combining marks', value: 'Z̷̢͎̈́a̵̗͝l̴g̸o̶', clean: true },
  { label: 'zero width', value: 'a\u200Bb\u200Dc', clean: true },
  { label: 'BOM inside', value: 'a\uFEFFb', clean: true },
  { label: 'NUL', value: 'a\u0000b', clean: false, unstorable: true },
  { label: 'NUL alone', value: '\u0000', clean: false, unstorable: true },
  { label: 'lone high surrogate', value: 'a\uD800b', clean: false, unstorable: true },
  { label: 'lone low surrogate', value: '\uDC00z', clean: false, unstorable: true },
  { label: 'reversed pair', value: '\uDC00\uD83D', clean: false, unstorable: true },
  { label: 'ESC sequence', value: 'x\u001b[2J\u001b[31mred', clean: false },
  { label: 'DEL', value: 'x\u007fy', clean: false },
  { label: 'newline', value: 'two\nlines', clean: false, multiline: true },
  { label: 'CRLF and tab', value: 'a\r\n\tb', clean: false, multiline: true },
  { label: '100,000 characters', value: 'x'.repeat(100_000), clean: false, multiline: false },
];
const DIRTY = TEXTS.filter((t) => !t.clean);
const UNSTORABLE = TEXTS.filter((t) => t.unstorable);

describe('hostile text in every text field of every mutation', () => {
  type Field = Readonly<{
    name: string;
    /** The mutation and its variables for one hostile value. */
    make: (value: string, n: number) => [query: string, variables: Record<string, unknown>];
    /** Where the stored value comes back, for the round trip of clean text. */
    read?: (data: Record<string, unknown>) => unknown;
    multiline?: boolean;
    /** The rule trims: clean text comes back trimmed. */
    trimmed?: boolean;
    token?: () => string;
    /** Which texts to try: sign-up, sign-in and createMember hash a password (~250 ms). */
    texts?: typeof TEXTS;
    /** Codes other than BAD_USER_INPUT a value may get here. */
    alsoCodes?: readonly string[];
  }>;

  const signUp = (over: Record<string, string>, n: number) => ({
    input: {
      organizationName: 'Hostile Inc',
      organizationSlug: `hostile-${n}`,
      email: `h${n}@example.com`,
      password: 'correct-horse-9',
      name: 'Harriet',
      ...over,
    },
  });
  const SIGN_UP =
    'mutation($input: SignUpInput!) { signUp(input: $input) { user { name } organization { name } } }';
  const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { token } }';
  const CREATE_MEMBER =
    'mutation($input: CreateMemberInput!) { createMember(input: $input) { name } }';
  const UPDATE_PROFILE =
    'mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { name email } }';
  const CREATE_POST =
    'mutation($input: CreatePostInput!) { createPost(input: $input) { title content } }';
  const UPDATE_POST =
    'mutation($input: UpdatePostInput!) { updatePost(input: $input) { title content } }';
  const CREATE_COMMENT =
    'mutation($input: CreateCommentInput!) { createComment(input: $input) { body } }';
  const UPDATE_COMMENT =
    'mutation($input: UpdateCommentInput!) { updateComment(input: $input) { body } }';
  // Each sign-up that passes validation hashes a password (~250 ms): one clean text per field.
  const withSql = [...DIRTY, ...TEXTS.filter((t) => t.label === 'SQL: quote and comment')];
  const with4Byte = [...DIRTY, ...TEXTS.filter((t) => t.label === '4-byte')];
  // Sign-in hashes even a wrong password: only what reaches the database differently.
  const signInFew = TEXTS.filter((t) =>
    ['NUL', 'lone high surrogate', 'SQL: quote and comment'].includes(t.label),
  );
  const fields = (): Field[] => [
    {
      name: 'signUp.organizationName',
      trimmed: true,
      make: (v, n) => [SIGN_UP, signUp({ organizationName: v }, n)],
      read: (d) => (d.signUp as { organization: { name: string } }).organization.name,
      texts: withSql,
    },
    {
      name: 'signUp.organizationSlug',
      make: (v, n) => [SIGN_UP, signUp({ organizationSlug: v }, n)],
      texts: TEXTS,
    },
    { name: 'signUp.email', make: (v, n) => [SIGN_UP, signUp({ email: v }, n)], texts: TEXTS },
    {
      name: 'signUp.password',
      make: (v, n) => [SIGN_UP, signUp({ password: `Aa1-${v}-long-enough` }, n)],
      texts: UNSTORABLE,
    },
    {
      name: 'signUp.name',
      trimmed: true,
      make: (v, n) => [SIGN_UP, signUp({ name: v }, n)],
      read: (d) => (d.signUp as { user: { name: string } }).user.name,
      texts: with4Byte,
    },
    {
      name: 'signIn.organizationSlug',
      make: (v) => [
        SIGN_IN,
        { input: { organizationSlug: v, email: 'owner@example.com', password: 'x' } },
      ],
      texts: signInFew,
      alsoCodes: ['UNAUTHENTICATED'],
    },
    {
      name: 'signIn.email',
      make: (v) => [SIGN_IN, { input: { organizationSlug: 'acme', email: v, password: 'x' } }],
      texts: signInFew,
      alsoCodes: ['UNAUTHENTICATED'],
    },
    {
      name: 'signIn.password',
      make: (v) => [
        SIGN_IN,
        { input: { organizationSlug: 'acme', email: 'owner@example.com', password: v } },
      ],
      texts: signInFew.filter((t) => !t.clean),
      alsoCodes: ['UNAUTHENTICATED'],
    },
    {
      name: 'createMember.email',
      make: (v) => [CREATE_MEMBER, { input: { email: v, name: 'M', password: 'correct-horse-9' } }],
      token: () => ownerA,
      texts: TEXTS,
    },
    {
      name: 'createMember.name',
      trimmed: true,
      make: (v, n) => [
        CREATE_MEMBER,
        { input: { email: `m${n}@example.com`, name: v, password: 'correct-horse-9' } },
      ],
      read: (d) => (d.createMember as { name: string }).name,
      token: () => ownerA,
      texts: DIRTY,
    },
    {
      name: 'createMember.password',
      make: (v, n) => [
        CREATE_MEMBER,
        { input: { email: `p${n}@example.com`, name: 'P', password: `Aa1-${v}-long-enough` } },
      ],
      token: () => ownerA,
      texts: UNSTORABLE,
    },
    {
      name: 'updateProfile.name',
      trimmed: true,
      make: (v) => [UPDATE_PROFILE, { input: { name: v } }],
      read: (d) => (d.updateProfile as { name: string }).name,
      token: () => memberA,
    },
    {
      name: 'updateProfile.email',
      make: (v) => [UPDATE_PROFILE, { input: { email: v } }],
      token: () => memberA,
    },
    {
      name: 'createPost.title',
      trimmed: true,
      make: (v) => [CREATE_POST, { input: { title: v } }],
      read: (d) => (d.createPost as { title: string }).title,
      token: () => memberA,
    },
    {
      name: 'createPost.content',
      make: (v) => [CREATE_POST, { input: { title: 't', content: v } }],
      read: (d) => (d.createPost as { content: string }).content,
      multiline: true,
      token: () => memberA,
    },
    {
      name: 'updatePost.title',
      trimmed: true,
      make: (v) => [UPDATE_POST, { input: { id: ids.post(a.post), title: v } }],
      read: (d) => (d.updatePost as { title: string }).title,
      token: () => ownerA,
    },
    {
      name: 'updatePost.content',
      make: (v) => [UPDATE_POST, { input: { id: ids.post(a.post), content: v } }],
      read: (d) => (d.updatePost as { content: string }).content,
      multiline: true,
      token: () => ownerA,
    },
    {
      name: 'createComment.body',
      trimmed: true,
      make: (v) => [CREATE_COMMENT, { input: { postId: ids.post(a.post), body: v } }],
      read: (d) => (d.createComment as { body: string }).body,
      multiline: true,
      token: () => memberA,
    },
    {
      name: 'updateComment.body',
      trimmed: true,
      make: (v) => [UPDATE_COMMENT, { input: { id: ids.comment(a.comment), body: v } }],
      read: (d) => (d.updateComment as { body: string }).body,
      multiline: true,
      token: () => memberA,
    },
  ];

  it('is stored exactly or refused with BAD_USER_INPUT, never an internal error', async () => {
    let n = 0;
    const tasks = fields().flatMap((field) =>
      (field.texts ?? TEXTS).map((text) => async () => {
        const [query, variables] = field.make(text.value, n++);
        const outcome = await gql(
          `${field.name} ← ${text.label}`,
          query,
          variables,
          field.token?.(),
        );
        const allowed = ['BAD_USER_INPUT', ...(field.alsoCodes ?? [])];
        const acceptable = text.clean || (field.multiline && text.multiline);
        judge(
          outcome,
          acceptable
            ? { codes: allowed, orData: true }
            : { code: allowed.length > 1 ? undefined : 'BAD_USER_INPUT', codes: allowed },
        );
        if (!acceptable && !field.alsoCodes) {
          expect
            .soft(outcome.body?.errors?.[0]?.extensions?.field, outcome.label)
            .toBe(field.name.split('.')[1]);
        }
        const data = outcome.body?.data;
        if (data && field.read) {
          // Stored exactly (up to the trimming the rules do), and read back the same.
          expect
            .soft(field.read(data), outcome.label)
            .toBe(field.trimmed ? text.value.trim() : text.value);
        }
      }),
    );
    await inPool(tasks, 4);
  });
});

stillServing();
