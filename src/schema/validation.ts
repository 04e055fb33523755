import { z } from 'zod';
import { PAGE_SIZE } from './pagination.ts';

/**
 * `line`: names and titles. `multiline`: post content and comments (tabs and line breaks
 * allowed). `secret`: passwords, which are never shown.
 */
export type TextKind = 'line' | 'multiline' | 'secret';

/**
 * Whether a string is text we can store and show. Refused in every kind: NUL, which
 * PostgreSQL's text cannot hold (the write failed as a masked INTERNAL_SERVER_ERROR), and
 * unpaired surrogates, which are not Unicode (Prisma cannot even serialize them: the same
 * masked error). Refused where text is shown: the other control characters (ESC sequences,
 * and line breaks in a name or a title), which garble terminals, logs and layouts.
 */
export function isCleanText(value: string, kind: TextKind): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++; // a well-formed pair: one character outside the BMP (emoji, 𠜎)
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    } else if (c === 0) {
      return false;
    } else if ((c < 0x20 || c === 0x7f) && kind !== 'secret') {
      const lineBreakOrTab = c === 0x09 || c === 0x0a || c === 0x0d;
      if (kind === 'line' || !lineBreakOrTab) return false;
    }
  }
  return true;
}

const clean = (kind: TextKind) => (value: string) => isCleanText(value, kind);

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
    .max(100, 'Name is at most 100 characters')
    .refine(clean('line'), 'Name contains characters that are not allowed'),
  organizationName: z
    .string()
    .trim()
    .min(1, 'Organization name is required')
    .max(100, 'Organization name is at most 100 characters')
    .refine(clean('line'), 'Organization name contains characters that are not allowed'),
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
    )
    .refine(clean('secret'), 'Password contains characters that are not allowed'),
  title: z
    .string()
    .trim()
    .min(1, 'Title is required')
    .max(255, 'Title is at most 255 characters')
    .refine(clean('line'), 'Title contains characters that are not allowed'),
  content: z
    .string()
    .max(50_000, 'Content is at most 50,000 characters')
    .refine(clean('multiline'), 'Content contains characters that are not allowed'),
  body: z
    .string()
    .trim()
    .min(1, 'Comment is required')
    .max(10_000, 'Comment is at most 10,000 characters')
    .refine(clean('multiline'), 'Comment contains characters that are not allowed'),
  tagName: z
    .string()
    .trim()
    .min(1, 'Tag name is required')
    .max(50, 'Tag name is at most 50 characters')
    .refine(clean('line'), 'Tag name contains characters that are not allowed'),
  page: z.number().int().min(1, 'Page starts at 1').max(10_000, 'Page is at most 10,000'),
  pageSize: z
    .number()
    .int()
    .min(1, 'Page size is at least 1')
    .max(PAGE_SIZE.max, `Page size is at most ${PAGE_SIZE.max}`),
};
