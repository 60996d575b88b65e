/**
 * A list route with nothing to filter: GET answers `{items, next}`, a page of rows by id
 * (`?limit=`, 1 to 1000, default 100; `?after=` the previous page's `next`).
 */
import type { FastifyInstance } from 'fastify';
import { afterParam, errorBody, limitParam, page, pageBody } from './schemas.ts';

export interface PagedList<T> {
  /** What the list holds, for the OpenAPI summary (the paging is said after it). */
  summary: string;
  /** The JSON schema of one item. */
  item: object;
  list: (p: { limit: number; afterId: number }) => Promise<T[]>;
}

export function pagedListRoute<T extends { id: number }>(app: FastifyInstance, url: string, o: PagedList<T>): void {
  app.get<{ Querystring: { limit?: number; after?: number } }>(url, {
    schema: {
      summary: `${o.summary}, by id; cursor-paginated (?after= the previous page's next)`,
      querystring: { type: 'object', additionalProperties: false, properties: { limit: limitParam, after: afterParam } },
      response: { 200: pageBody(o.item), '4xx': errorBody },
    },
  }, async (req) => {
    const { limit = 100, after = 0 } = req.query;
    return page(await o.list({ limit, afterId: after }), limit);
  });
}
