import { randomUUID } from 'node:crypto';
import { hashPassword } from '../auth/passwords.ts';
import type { SystemClient } from './system.ts';

/** Demo credentials: printed at start-up in development, never used in production. */
export const DEMO_PASSWORD = 'demo-password-1';

const DEMO = [
  {
    name: 'Acme Rockets',
    slug: 'acme',
    users: [
      { email: 'ada@acme.example', name: 'Ada Lovelace', role: 'OWNER' },
      { email: 'grace@acme.example', name: 'Grace Hopper', role: 'ADMIN' },
      { email: 'linus@acme.example', name: 'Linus Pauling', role: 'MEMBER' },
    ],
    posts: [
      { title: 'Launch window confirmed', content: 'We fly on Friday at dawn.' },
      { title: 'Fuel supplier shortlist', content: 'Three vendors made the cut.' },
      { title: 'Retro: the hover test', content: 'What went well, what went sideways.' },
    ],
  },
  {
    name: 'Globex Corporation',
    slug: 'globex',
    users: [
      { email: 'hank@globex.example', name: 'Hank Scorpio', role: 'OWNER' },
      { email: 'mindy@globex.example', name: 'Mindy Simmons', role: 'ADMIN' },
      { email: 'homer@globex.example', name: 'Homer Simpson', role: 'MEMBER' },
    ],
    posts: [
      { title: 'Launch window confirmed', content: 'Our own launch, our own Friday.' },
      { title: 'Hammock district plans', content: 'Phase two starts in spring.' },
    ],
  },
] as const;

export type DemoAccount = Readonly<{
  organizationSlug: string;
  email: string;
  role: string;
  userId: string;
  organizationId: string;
}>;

/**
 * Seeds two organizations with users, posts and comments, once, into an empty database: one
 * transaction, one statement per model (ids made here), the password hashed meanwhile (scrypt
 * runs on libuv's thread pool). A first start waits for it: ~40 single inserts took ~0.5 s.
 */
export async function seedDemo(system: SystemClient): Promise<boolean> {
  if ((await system.organization.count()) > 0) return false;
  const hashing = hashPassword(DEMO_PASSWORD);
  const organizations = [];
  const users = [];
  const posts = [];
  const comments = [];
  // One statement gives its rows one now(): a millisecond apart, they keep the order written here.
  const began = Date.now();
  let n = 0;
  const createdAt = () => new Date(began + n++);
  for (const org of DEMO) {
    const organizationId = randomUUID();
    organizations.push({ id: organizationId, name: org.name, slug: org.slug });
    const members = org.users.map((user) => ({
      ...user,
      id: randomUUID(),
      organizationId,
      createdAt: createdAt(),
    }));
    users.push(...members);
    for (const [i, post] of org.posts.entries()) {
      const author = members[i % members.length];
      const commenter = members[(i + 1) % members.length];
      if (!author || !commenter) continue;
      const postId = randomUUID();
      posts.push({
        ...post,
        id: postId,
        organizationId,
        authorId: author.id,
        createdAt: createdAt(),
      });
      comments.push(
        {
          organizationId,
          postId,
          authorId: commenter.id,
          body: `Thanks, ${author.name.split(' ')[0]}!`,
          createdAt: createdAt(),
        },
        {
          organizationId,
          postId,
          authorId: author.id,
          body: 'Questions welcome below.',
          createdAt: createdAt(),
        },
      );
    }
  }
  const passwordHash = await hashing;
  await system.$transaction([
    system.organization.createMany({ data: organizations }),
    system.user.createMany({ data: users.map((user) => ({ ...user, passwordHash })) }),
    system.post.createMany({ data: posts }),
    system.comment.createMany({ data: comments }),
  ]);
  return true;
}

/** The demo accounts present in the database (none once they were deleted or renamed). */
export async function demoAccounts(system: SystemClient): Promise<DemoAccount[]> {
  const users = await system.user.findMany({
    where: {
      organization: { slug: { in: DEMO.map((o) => o.slug) } },
      email: { in: DEMO.flatMap((o) => o.users.map((u) => u.email)) },
    },
    include: { organization: true },
    orderBy: [{ organization: { slug: 'asc' } }, { createdAt: 'asc' }],
  });
  return users.map((u) => ({
    organizationSlug: u.organization.slug,
    email: u.email,
    role: u.role,
    userId: u.id,
    organizationId: u.organizationId,
  }));
}
