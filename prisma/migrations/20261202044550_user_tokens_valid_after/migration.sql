-- Tokens issued before this instant are refused (src/auth/authenticate.ts): set by a password
-- change and a demotion. Null for every existing user: their tokens stay valid.
-- AlterTable
ALTER TABLE "users" ADD COLUMN     "tokens_valid_after" TIMESTAMPTZ(3);

-- The application role writes it through the scoped client. Its grant on "users" is table-wide
-- (20261123094330_row_level_security), which covers a new column already; said again here so
-- that narrowing that grant to columns one day cannot silently drop this one.
GRANT SELECT, UPDATE ("tokens_valid_after") ON "users" TO scopegraph_app;
