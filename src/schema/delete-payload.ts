import { builder } from './builder.ts';

/** What a delete mutation answers (posts, comments): the global id of the row it removed. */
export const DeletePayload = builder.objectRef<{ deletedId: string }>('DeletePayload').implement({
  fields: (t) => ({ deletedId: t.exposeID('deletedId') }),
});
