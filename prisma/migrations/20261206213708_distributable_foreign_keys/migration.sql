-- DropForeignKey
ALTER TABLE "comments" DROP CONSTRAINT "comments_organization_id_author_id_fkey";

-- DropForeignKey
ALTER TABLE "comments" DROP CONSTRAINT "comments_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "comments" DROP CONSTRAINT "comments_organization_id_post_id_fkey";

-- DropForeignKey
ALTER TABLE "data_export_chunks" DROP CONSTRAINT "data_export_chunks_organization_id_export_id_fkey";

-- DropForeignKey
ALTER TABLE "data_export_chunks" DROP CONSTRAINT "data_export_chunks_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "data_exports" DROP CONSTRAINT "data_exports_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "data_exports" DROP CONSTRAINT "data_exports_organization_id_requested_by_id_fkey";

-- DropForeignKey
ALTER TABLE "notifications" DROP CONSTRAINT "notifications_organization_id_comment_id_fkey";

-- DropForeignKey
ALTER TABLE "notifications" DROP CONSTRAINT "notifications_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "notifications" DROP CONSTRAINT "notifications_organization_id_recipient_id_fkey";

-- DropForeignKey
ALTER TABLE "post_tags" DROP CONSTRAINT "post_tags_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "post_tags" DROP CONSTRAINT "post_tags_organization_id_post_id_fkey";

-- DropForeignKey
ALTER TABLE "post_tags" DROP CONSTRAINT "post_tags_organization_id_tag_id_fkey";

-- DropForeignKey
ALTER TABLE "posts" DROP CONSTRAINT "posts_organization_id_author_id_fkey";

-- DropForeignKey
ALTER TABLE "posts" DROP CONSTRAINT "posts_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "tags" DROP CONSTRAINT "tags_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "users" DROP CONSTRAINT "users_organization_id_fkey";

-- AddForeignKey
ALTER TABLE "users" ADD CONSTRAINT "users_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "posts" ADD CONSTRAINT "posts_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "posts" ADD CONSTRAINT "posts_organization_id_author_id_fkey" FOREIGN KEY ("organization_id", "author_id") REFERENCES "users"("organization_id", "id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "tags" ADD CONSTRAINT "tags_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "post_tags" ADD CONSTRAINT "post_tags_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "post_tags" ADD CONSTRAINT "post_tags_organization_id_post_id_fkey" FOREIGN KEY ("organization_id", "post_id") REFERENCES "posts"("organization_id", "id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "post_tags" ADD CONSTRAINT "post_tags_organization_id_tag_id_fkey" FOREIGN KEY ("organization_id", "tag_id") REFERENCES "tags"("organization_id", "id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "comments" ADD CONSTRAINT "comments_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "comments" ADD CONSTRAINT "comments_organization_id_post_id_fkey" FOREIGN KEY ("organization_id", "post_id") REFERENCES "posts"("organization_id", "id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "comments" ADD CONSTRAINT "comments_organization_id_author_id_fkey" FOREIGN KEY ("organization_id", "author_id") REFERENCES "users"("organization_id", "id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_organization_id_recipient_id_fkey" FOREIGN KEY ("organization_id", "recipient_id") REFERENCES "users"("organization_id", "id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_organization_id_comment_id_fkey" FOREIGN KEY ("organization_id", "comment_id") REFERENCES "comments"("organization_id", "id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "data_exports" ADD CONSTRAINT "data_exports_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "data_exports" ADD CONSTRAINT "data_exports_organization_id_requested_by_id_fkey" FOREIGN KEY ("organization_id", "requested_by_id") REFERENCES "users"("organization_id", "id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "data_export_chunks" ADD CONSTRAINT "data_export_chunks_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "data_export_chunks" ADD CONSTRAINT "data_export_chunks_organization_id_export_id_fkey" FOREIGN KEY ("organization_id", "export_id") REFERENCES "data_exports"("organization_id", "id") ON DELETE CASCADE ON UPDATE NO ACTION;

-- Hand-written: sharding by tenant on Citus (the distributed PostgreSQL). Above, Prisma's part:
-- foreign keys without ON UPDATE CASCADE, which Citus refuses on keys that include the
-- distribution column (organization ids never change: the scoped client refuses it).
--
-- `distribute_tenant_tables` makes organizations a reference table (on every node) and
-- distributes the given tenant tables by organization_id, co-located, so that everything of one
-- organization lives on one shard group and its requests touch one shard. Without the citus
-- extension it does nothing: PostgreSQL and PGlite keep their plain tables. Idempotent: a table
-- already distributed is left as it is, so `npm run db:distribute` can run it on a database
-- that got Citus after its migrations. `npm run db:migration` calls it for every tenant table a
-- new migration creates, before that migration's foreign keys.
CREATE OR REPLACE FUNCTION distribute_tenant_tables(tenant_tables regclass[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  organizations regclass := 'organizations';
  tables regclass[];
  target regclass;
  colocate_with regclass;
  enum_type regtype;
  cast_function text;
  fk record;
  keys text[] := '{}';
  i int;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
    RETURN;
  END IF;
  -- Triggers (audit_log's append_only) run on the shards; re-adding keys between distributed
  -- tables inside one transaction needs one connection per node.
  PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
  PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);

  -- Citus refuses non-IMMUTABLE functions in RETURNING, and an enum's text output is STABLE:
  -- every `RETURNING "role"::text` Prisma writes would fail. An IMMUTABLE cast per enum type
  -- (the labels of an enum never change meaning) replaces the I/O conversion.
  FOR enum_type IN
    SELECT t.oid::regtype FROM pg_type t
    WHERE t.typtype = 'e' AND t.typnamespace = current_schema()::regnamespace
      AND NOT EXISTS (SELECT FROM pg_cast c WHERE c.castsource = t.oid AND c.casttarget = 'text'::regtype)
  LOOP
    cast_function := format('%s_to_text', (SELECT typname FROM pg_type WHERE oid = enum_type));
    EXECUTE format(
      'CREATE FUNCTION %I(value %s) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE '
      'AS $body$ SELECT textin(enum_out(value)) $body$', cast_function, enum_type);
    EXECUTE format('CREATE CAST (%s AS text) WITH FUNCTION %I(%s) AS ASSIGNMENT',
      enum_type, cast_function, enum_type);
  END LOOP;

  tables := ARRAY(
    SELECT t FROM unnest(tenant_tables) AS t
    WHERE NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = t));
  IF NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = organizations) THEN
    tables := organizations || tables;
  END IF;
  IF cardinality(tables) = 0 THEN
    RETURN;
  END IF;

  -- Citus distributes a table only while no other local table points at it: drop every foreign
  -- key that touches a table about to be distributed, and add it back afterwards.
  FOR fk IN
    SELECT c.conrelid::regclass AS tab, c.conname, pg_get_constraintdef(c.oid) AS def
    FROM pg_constraint c
    WHERE c.contype = 'f' AND (c.conrelid = ANY (tables) OR c.confrelid = ANY (tables))
    ORDER BY c.conrelid::regclass::text, c.conname
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tab, fk.conname);
    keys := keys || format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tab, fk.conname, fk.def);
  END LOOP;

  IF organizations = ANY (tables) THEN
    PERFORM create_reference_table(organizations);
  END IF;
  SELECT p.logicalrelid INTO colocate_with FROM pg_dist_partition p
  WHERE p.partmethod = 'h' ORDER BY p.logicalrelid::text LIMIT 1;
  FOREACH target IN ARRAY tables LOOP
    CONTINUE WHEN target = organizations;
    IF colocate_with IS NULL THEN
      PERFORM create_distributed_table(target, 'organization_id');
      colocate_with := target;
    ELSE
      PERFORM create_distributed_table(target, 'organization_id', colocate_with => colocate_with::text);
    END IF;
  END LOOP;

  FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
    EXECUTE keys[i];
  END LOOP;
END
$$;

-- Every tenant table (src/tenancy/models.ts; test/tenancy/migration-isolation.test.ts checks
-- that each is distributed by a migration).
SELECT distribute_tenant_tables(ARRAY[
  '"users"', '"posts"', '"comments"', '"notifications"', '"data_exports"',
  '"data_export_chunks"', '"audit_log"', '"tags"', '"post_tags"'
]::regclass[]);
