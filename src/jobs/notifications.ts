import { rowKey } from '../tenancy/scope.ts';
import type { TenantJobHandler } from './tenant-job.ts';

export const COMMENT_ON_YOUR_POST = 'COMMENT_ON_YOUR_POST';

/**
 * Someone commented on your post: one row in your organization's outbox. The comment is read
 * through the job's scoped client, so a comment id of another organization is simply not found
 * and nothing is written. The row is unique per (comment, recipient): a retried job adds nothing.
 */
export const notifyComment: TenantJobHandler<'notify-comment'> = async ({ scope, db, job }) => {
  const comment = await db.comment.findUnique({
    where: rowKey(scope, job.data.commentId),
    select: { id: true, authorId: true, post: { select: { authorId: true } } },
  });
  if (!comment || comment.authorId === comment.post.authorId) return undefined;
  await db.notification.createMany({
    data: [
      {
        organizationId: scope.organizationId,
        recipientId: comment.post.authorId,
        commentId: comment.id,
        kind: COMMENT_ON_YOUR_POST,
      },
    ],
    skipDuplicates: true,
  });
  return undefined;
};
