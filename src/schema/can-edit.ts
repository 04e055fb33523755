/** Who may update or delete a post or a comment: its author, or an ADMIN/OWNER of the organization. */
export function canEdit(
  user: Readonly<{ id: string; role: string }> | null,
  authorId: string,
): boolean {
  return !!user && (user.id === authorId || user.role === 'OWNER' || user.role === 'ADMIN');
}
