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

/** Seeds two organizations with users, posts and comments, once, into an empty database. */
export async function seedDemo(system: SystemClient): Promise<boolean> {
  if ((await system.organization.count()) > 0) return false;
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  for (const org of DEMO) {
    await system.$transaction(async (tx) => {
      const organization = await tx.organization.create({
        data: { name: org.name, slug: org.slug },
      });
      const users = [];
      for (const user of org.users) {
        users.push(
          await tx.user.create({
            data: { ...user, organizationId: organization.id, passwordHash },
          }),
        );
      }
      for (const [i, post] of org.posts.entries()) {
        const author = users[i % users.length];
        const commenter = users[(i + 1) % users.length];
        if (!author || !commenter) continue;
        await tx.post.create({
          data: {
            ...post,
            organizationId: organization.id,
            authorId: author.id,
            comments: {
              create: [
                { authorId: commenter.id, body: `Thanks, ${author.name.split(' ')[0]}!` },
                { authorId: author.id, body: 'Questions welcome below.' },
              ],
            },
          },
        });
      }
    });
  }
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
