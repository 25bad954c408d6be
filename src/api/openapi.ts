/** The interface described in OpenAPI 3.1, made from the route list (the same schemas fastify checks). */
import type { RouteDef } from './contract.js'

/** The OpenAPI 3.1 description, made from the table. */
export function openapi (routes: readonly RouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const path = r.path.replace(/:([a-z]+)/g, '{$1}')
    const parameters: unknown[] = []
    const p = r.schema?.params as { properties?: Record<string, unknown> } | undefined
    for (const [name, schema] of Object.entries(p?.properties ?? {})) parameters.push({ name, in: 'path', required: true, schema })
    const q = r.schema?.querystring as { properties?: Record<string, unknown> } | undefined
    for (const [name, schema] of Object.entries(q?.properties ?? {})) parameters.push({ name, in: 'query', required: false, schema })
    paths[path] ??= {}
    paths[path][r.method.toLowerCase()] = {
      summary: r.summary,
      ...(r.roles.length === 0 ? { security: [] } : { description: `Roles: ${r.roles.join(', ')}.` }),
      ...(parameters.length === 0 ? {} : { parameters }),
      ...(r.schema?.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: r.schema.body } } } }),
      responses: {
        200: { description: 'done' },
        ...(r.roles.length === 0 ? {} : { 401: { description: 'no valid token' }, 403: { description: 'the token\'s role may not do this' }, 429: { description: 'too many requests from this token' } }),
        ...(r.schema?.params === undefined ? {} : { 404: { description: 'not found (or not this token\'s to see: the same answer)' } }),
        ...(r.schema?.body === undefined && r.schema?.querystring === undefined ? {} : { 400: { description: 'the request does not follow the schema' } }),
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'dc09 alarm receiver', version: '1', description: 'Accounts, users, codes, events, supervision and cases. Bearer tokens: dc09 tokens create.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  }
}
