/** The route table of docs/http-api.md is the route table: a route added without documenting it fails here. */
import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { ROUTES } from '../../src/api/routes/index.js'

it('documents every route, with who may call it', () => {
  const doc = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8')
  for (const r of ROUTES) {
    const path = r.path.replace(/:([a-z]+)/g, '{$1}')
    const roles = r.roles.length === 0 ? 'anyone (no token)' : r.roles.join(', ')
    expect(doc, `${r.method} ${path}`).toContain(`| \`${r.method} ${path}\` | ${roles} |`)
  }
})
