import {
  type GraphQLInputType,
  type GraphQLObjectType,
  getNamedType,
  isInputObjectType,
} from 'graphql';
import { schema } from '../../src/schema/index.ts';

/**
 * The ID arguments of the executable schema, found by walking it, and one call template per
 * argument path. A path without a template fails test/api/schema-ids.test.ts; the hostile-id
 * suite sends its malformed ids through the same templates.
 */

/**
 * One call per ID argument path: `$id` is the probed id; `model` is the row it names; `own`
 * names the call's other ID variables, each given a row of the caller's own organization of
 * that model (a missing one where the probe only checks the id's form).
 */
export type Template =
  | Readonly<{ doc: string; model: string; own?: Readonly<Record<string, string>> }>
  | Readonly<{ exempt: string }>;
export const TEMPLATES: Readonly<Record<string, Template>> = {
  'Query.post.id': { model: 'Post', doc: 'query($id: ID!) { post(id: $id) { id title } }' },
  'Query.dataExport.id': {
    model: 'DataExport',
    doc: 'query($id: ID!) { dataExport(id: $id) { id status } }',
  },
  'Mutation.createExportDownloadLink.id': {
    model: 'DataExport',
    doc: 'mutation($id: ID!) { createExportDownloadLink(id: $id) }',
  },
  'Query.node.id': { model: 'Post', doc: 'query($id: ID!) { node(id: $id) { id } }' },
  'Query.nodes.ids': { model: 'Comment', doc: 'query($id: ID!) { nodes(ids: [$id]) { id } }' },
  'Mutation.changeMemberRole.input.userId': {
    model: 'User',
    doc: 'mutation($id: ID!) { changeMemberRole(input: { userId: $id, role: ADMIN }) { id role } }',
  },
  'Mutation.createComment.input.postId': {
    model: 'Post',
    doc: 'mutation($id: ID!) { createComment(input: { postId: $id, body: "Hi" }) { id } }',
  },
  'Mutation.updateComment.input.id': {
    model: 'Comment',
    doc: 'mutation($id: ID!) { updateComment(input: { id: $id, body: "Edited" }) { id body } }',
  },
  'Mutation.updatePost.input.id': {
    model: 'Post',
    doc: 'mutation($id: ID!) { updatePost(input: { id: $id, title: "Edited" }) { id title } }',
  },
  'Mutation.deleteComment.id': {
    model: 'Comment',
    doc: 'mutation($id: ID!) { deleteComment(id: $id) { deletedId } }',
  },
  'Mutation.deletePost.id': {
    model: 'Post',
    doc: 'mutation($id: ID!) { deletePost(id: $id) { deletedId } }',
  },
  'Mutation.removeMember.userId': {
    model: 'User',
    doc: 'mutation($id: ID!) { removeMember(userId: $id) { deletedId } }',
  },
  'Query.posts.tag': {
    model: 'Tag',
    doc: 'query($id: ID!) { posts(tag: $id) { totalCount } }',
  },
  'Mutation.renameTag.input.id': {
    model: 'Tag',
    doc: 'mutation($id: ID!) { renameTag(input: { id: $id, name: "Renamed" }) { id name } }',
  },
  'Mutation.deleteTag.id': {
    model: 'Tag',
    doc: 'mutation($id: ID!) { deleteTag(id: $id) { deletedId } }',
  },
  'Mutation.tagPost.input.postId': {
    model: 'Post',
    own: { tagId: 'Tag' },
    doc: 'mutation($id: ID!, $tagId: ID!) { tagPost(input: { postId: $id, tagId: $tagId }) { id } }',
  },
  'Mutation.tagPost.input.tagId': {
    model: 'Tag',
    own: { postId: 'Post' },
    doc: 'mutation($id: ID!, $postId: ID!) { tagPost(input: { postId: $postId, tagId: $id }) { id } }',
  },
  'Mutation.untagPost.input.postId': {
    model: 'Post',
    own: { tagId: 'Tag' },
    doc: 'mutation($id: ID!, $tagId: ID!) { untagPost(input: { postId: $id, tagId: $tagId }) { id } }',
  },
  'Mutation.untagPost.input.tagId': {
    model: 'Tag',
    own: { postId: 'Post' },
    doc: 'mutation($id: ID!, $postId: ID!) { untagPost(input: { postId: $postId, tagId: $id }) { id } }',
  },
  'Subscription.commentAdded.postId': {
    exempt: 'probed over SSE against a running server in test/api/subscriptions.test.ts',
  },
};

function idPaths(type: GraphQLInputType, path: string): string[] {
  const named = getNamedType(type);
  if (named.name === 'ID') return [path];
  if (!isInputObjectType(named)) return [];
  return Object.values(named.getFields()).flatMap((f) => idPaths(f.type, `${path}.${f.name}`));
}

const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()];
/** Every ID argument path, e.g. Mutation.updatePost.input.id. */
export const idArgumentPaths: readonly string[] = roots
  .filter((root): root is GraphQLObjectType => root !== null && root !== undefined)
  .flatMap((root) =>
    Object.values(root.getFields()).flatMap((field) =>
      field.args.flatMap((arg) => idPaths(arg.type, `${root.name}.${field.name}.${arg.name}`)),
    ),
  );
