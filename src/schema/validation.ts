import { z } from 'zod';

/** Input rules shared by the schema's arguments; each failure is BAD_USER_INPUT with the field. */
export const rules = {
  email: z
    .string()
    .trim()
    .toLowerCase()
    .max(254, 'Email is too long')
    .pipe(z.email({ message: 'Enter a valid email address' })),
  personName: z
    .string()
    .trim()
    .min(1, 'Name is required')
    .max(100, 'Name is at most 100 characters'),
  organizationName: z
    .string()
    .trim()
    .min(1, 'Organization name is required')
    .max(100, 'Organization name is at most 100 characters'),
  slug: z
    .string()
    .regex(
      /^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$/,
      'Slug: 3 to 40 lowercase letters, digits or dashes, not starting or ending with a dash',
    ),
  // Length over composition (NIST 800-63B), plus a floor on variety against "aaaaaaaaaa".
  password: z
    .string()
    .min(10, 'Password must be at least 10 characters')
    .max(128, 'Password is at most 128 characters')
    .refine((p) => new Set(p).size >= 5, 'Password is too repetitive')
    .refine(
      (p) => [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(p)).length >= 2,
      'Password needs at least two of: lowercase, uppercase, digits, symbols',
    ),
  title: z.string().trim().min(1, 'Title is required').max(255, 'Title is at most 255 characters'),
  content: z.string().max(50_000, 'Content is at most 50,000 characters'),
  body: z
    .string()
    .trim()
    .min(1, 'Comment is required')
    .max(10_000, 'Comment is at most 10,000 characters'),
  page: z.number().int().min(1, 'Page starts at 1').max(10_000, 'Page is at most 10,000'),
  pageSize: z.number().int().min(1, 'Page size is at least 1').max(100, 'Page size is at most 100'),
};
