import { type GraphQLSchema, printSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export const SCHEMA_SDL_PATH = '/graphql/schema.graphql';

/**
 * `GET /graphql/schema.graphql`: the SDL, as `npm run schema:print` writes it, for codegen and
 * schema tools. Only where introspection is on (development): with it off the schema is not
 * public, and the path answers like any unknown one (404).
 */
export function useSchemaSdl(
  schema: GraphQLSchema,
  introspection: boolean,
): Plugin<Record<string, unknown>> {
  let sdl: string | undefined;
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== SCHEMA_SDL_PATH) return;
      if (!introspection || (request.method !== 'GET' && request.method !== 'HEAD')) {
        endResponse(new fetchAPI.Response(null, { status: 404 }));
        return;
      }
      sdl ??= `${printSchema(schema)}\n`;
      endResponse(
        new fetchAPI.Response(request.method === 'HEAD' ? null : sdl, {
          headers: { 'content-type': 'text/plain; charset=utf-8' },
        }),
      );
    },
  };
}
