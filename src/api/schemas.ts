/**
 * JSON Schemas of what the HTTP interface accepts. Fastify checks every request against them
 * before a handler runs (unknown fields refused, no type coercion), and the OpenAPI description
 * is made from the same objects. The account fields are checked again, with the same rules as
 * the CLI, by validateAccount.
 */
import { MAX_KEYHOLDERS, MAX_PERSON_NAME, MAX_SITE_ADDRESS, MAX_SITE_NAME } from '../accounts/account.js'

const nullable = (s: Record<string, unknown>): Record<string, unknown> => ({ anyOf: [s, { type: 'null' }] })

export const ACCOUNT_PATTERN = '^[0-9A-Za-z]{3,16}$'
export const TENANT_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'

const keyholder = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'phone', 'order'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: MAX_PERSON_NAME },
    phone: { type: 'string', minLength: 3, maxLength: 33 },
    order: { type: 'integer', minimum: 1, maximum: 99 },
  },
}

const accountFields = {
  key: nullable({ type: 'string', minLength: 1, maxLength: 64 }),
  keyFormat: { type: 'string', enum: ['hex', 'ascii'] },
  receiver: nullable({ type: 'string', maxLength: 6 }),
  prefix: nullable({ type: 'string', maxLength: 6 }),
  encryptionRequired: { type: 'boolean' },
  windowAhead: nullable({ type: 'integer' }),
  windowBehind: nullable({ type: 'integer' }),
  checkPlainTimestamp: { type: 'boolean' },
  clockOffsetSeconds: nullable({ type: 'integer' }),
  timeZone: nullable({ type: 'string', maxLength: 64 }),
  charset: nullable({ type: 'string', maxLength: 32 }),
  supervisionSeconds: nullable({ anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 8 }] }),
  tenant: nullable({ type: 'string', pattern: TENANT_PATTERN }),
  siteName: nullable({ type: 'string', maxLength: MAX_SITE_NAME }),
  siteAddress: nullable({ type: 'string', maxLength: MAX_SITE_ADDRESS }),
  keyholders: nullable({ type: 'array', maxItems: MAX_KEYHOLDERS, items: keyholder }),
  vip: { type: 'boolean' },
}

/** POST /v1/accounts: an entry of `dc09 accounts import`. */
export const accountCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['account'],
  properties: { account: { type: 'string', pattern: ACCOUNT_PATTERN }, ...accountFields },
}

/** PATCH /v1/accounts/{account}: any field but the number; null clears. */
export const accountPatch = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: accountFields,
}

export const keyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['key'],
  properties: { key: { type: 'string', minLength: 1, maxLength: 64 }, keyFormat: { type: 'string', enum: ['hex', 'ascii'] } },
}

export const userBody = {
  type: 'object',
  additionalProperties: false,
  required: ['user'],
  properties: { user: { type: 'integer', minimum: 1, maximum: 9999 }, name: { type: 'string', minLength: 1, maxLength: MAX_PERSON_NAME } },
}

/** A code, write-only: digits (the enrolment rules say how many). */
export const codeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['code'],
  properties: { code: { type: 'string', minLength: 1, maxLength: 16, pattern: '^[0-9]+$' } },
}

export const resolveBody = {
  type: 'object',
  additionalProperties: false,
  properties: { note: { type: 'string', minLength: 1, maxLength: 500 } },
}

export const tenantBody = {
  type: 'object',
  additionalProperties: false,
  required: ['tenant'],
  properties: { tenant: { type: 'string', pattern: TENANT_PATTERN }, name: { type: 'string', minLength: 1, maxLength: 200 } },
}

export const tokenBody = {
  type: 'object',
  additionalProperties: false,
  required: ['role'],
  properties: {
    role: { type: 'string', enum: ['admin', 'operator', 'installer'] },
    tenant: { type: 'string', pattern: TENANT_PATTERN },
    name: { type: 'string', minLength: 1, maxLength: 100 },
    expiresInDays: { type: 'integer', minimum: 1, maximum: 3650 },
  },
}

export const resetAllBody = {
  type: 'object',
  additionalProperties: false,
  required: ['confirm'],
  properties: { confirm: { type: 'string', const: 'every code on every account' } },
}

// Path parameters.
const str = (pattern: string): Record<string, unknown> => ({ type: 'string', pattern })
export const accountParam = { account: str(ACCOUNT_PATTERN) }
export const userParam = { user: str('^[1-9][0-9]{0,3}$') }
export const caseParam = { id: str('^[1-9][0-9]{0,15}$') }
export const tokenParam = { id: str('^[0-9a-f]{12}$') }

export const params = (...parts: Array<Record<string, unknown>>): Record<string, unknown> => {
  const properties = Object.assign({}, ...parts) as Record<string, unknown>
  return { type: 'object', additionalProperties: false, required: Object.keys(properties), properties }
}

// Query strings: strings (no coercion), read by the handlers.
export const LIMIT = str('^[1-9][0-9]{0,2}$')
export const query = (properties: Record<string, unknown>): Record<string, unknown> => ({ type: 'object', additionalProperties: false, properties })
export const pageQuery = query({ limit: LIMIT, after: str(ACCOUNT_PATTERN), tenant: str(TENANT_PATTERN), q: { type: 'string', minLength: 1, maxLength: 64 } })
export const eventsQuery = query({ limit: LIMIT, before: str('^[1-9][0-9]{0,15}$') })
export const casesQuery = query({ limit: LIMIT, after: str('^[1-9][0-9]{0,15}$'), state: { type: 'string', enum: ['open', 'closed', 'all'] } })
export const auditQuery = query({ limit: LIMIT, before: str('^[1-9][0-9]{0,15}$') })
