import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { AccountError } from '../../src/accounts/account.js'
import { AccessError } from '../../src/api/access.js'
import { ERRORS, errorInfo, type ErrorArea, type ErrorInfo } from '../../src/errors.js'
import { ErrorCode, REPLY_FOR } from '../../src/protocol/errors.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SRC = join(ROOT, 'src')
const DOC = join(ROOT, 'docs/errors.md')
const TABLE_FILE = 'src/errors.ts'
/** A whole code: `DC09_ERR_` alone, or followed by `*` or `...` in prose, is not one. */
const CODE = /DC09_ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*/g

const AREAS: readonly ErrorArea[] = ['protocol', 'receiver', 'accounts', 'verification', 'api', 'journal', 'pipeline', 'outputs', 'cluster', 'cli']
const AREA_TITLE: Readonly<Record<ErrorArea, string>> = {
  protocol: 'Protocol: one frame',
  receiver: 'Receiver: decisions on a frame',
  accounts: 'Accounts',
  verification: 'Verification: users and disarm codes',
  api: 'HTTP interface: tokens and tenants',
  journal: 'Journal',
  pipeline: 'Pipeline',
  outputs: 'Outputs',
  cluster: 'Cluster (NATS JetStream)',
  cli: 'Command line',
}
/** The constant objects that name codes, as the source spells them. */
const CONSTANTS: ReadonlyArray<readonly [string, Readonly<Record<string, string>>]> = [
  ['ErrorCode', ErrorCode], ['AccountError', AccountError], ['AccessError', AccessError],
]

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : []
  })
}

const sources = sourceFiles(SRC).map((p) => ({ path: relative(ROOT, p).split('\\').join('/'), text: readFileSync(p, 'utf8') }))
const table = Object.entries(ERRORS) as Array<[string, ErrorInfo]>
const codes = table.map(([c]) => c)

/** The source without comments, and without the lines that define a code (`KEY: 'DC09_ERR_X'`, `DC09_ERR_X: 'NAK'`). */
function usesOnly (text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|\s)\/\/.*$/gm, '$1')
    .replace(/^\s*[A-Z_]+: '(DC09_ERR_\w+)',?\s*$/gm, '')
    .replace(/^\s*(DC09_ERR_\w+): '(NAK|DUH|none)',?\s*$/gm, '')
}

/** docs/errors.md, written from the table. */
function renderErrorsDoc (): string {
  const lines = [
    '# Error codes',
    '',
    'Every failure dc09 expects has a stable code, `DC09_ERR_` and a name. Match on the code, never on the',
    'reason text beside it: reasons are for people and may be reworded. No reason ever holds a key, a',
    'disarm code, a token or the pepper.',
    '',
    'For a frame, the code says what the receiver answered the panel: NAK (the panel sends the frame again),',
    'DUH (the frame is intact but not processed, and is not sent again) or nothing. Unreadable frames (bad',
    'CRC, length or framing) get their NAK unless the receiver\'s nakUnreadable setting is turned off.',
    'Every refused frame is logged with its code and counted in the metrics by code.',
    '',
    'This page is written from the table in `src/errors.ts`; a unit test fails when the two differ. After a',
    'change to the table, write it again with `DC09_WRITE_ERRORS_DOC=1 npx vitest run test/unit/errors.test.ts`.',
    '',
  ]
  for (const area of AREAS) {
    lines.push(`## ${AREA_TITLE[area]}`, '')
    for (const [code, e] of table) {
      if (e.area !== area) continue
      lines.push(`### ${code}`, '', e.meaning, '', `- Answer: ${e.answer}.`, `- What to do: ${e.action}`, '')
    }
  }
  return lines.join('\n').replace(/\n+$/, '\n')
}

describe('the error table', () => {
  it('holds every DC09_ERR_* code written anywhere in src', () => {
    const missing: string[] = []
    for (const s of sources) {
      for (const c of s.text.match(CODE) ?? []) if (errorInfo(c) === undefined) missing.push(`${c} (${s.path})`)
    }
    expect(missing).toEqual([])
  })

  it('holds no code that src does not raise', () => {
    const used = (code: string): boolean => sources.some((s) => {
      if (s.path === TABLE_FILE) return false
      const text = usesOnly(s.text)
      if (text.includes(`'${code}'`)) return true
      return CONSTANTS.some(([name, obj]) => Object.entries(obj).some(([k, v]) => v === code && new RegExp(`\\b${name}\\.${k}\\b`).test(text)))
    })
    expect(codes.filter((c) => !used(c))).toEqual([])
  })

  it('has each code once, well formed, and no code under two names', () => {
    for (const c of codes) expect(c).toMatch(/^DC09_ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*$/)
    const named = CONSTANTS.flatMap(([, obj]) => Object.values(obj))
    expect(new Set(named).size).toBe(named.length)
    for (const c of named) expect(errorInfo(c), c).toBeDefined()
  })

  it('gives every code an area, a meaning, an answer and an action', () => {
    for (const [c, e] of table) {
      expect(AREAS, c).toContain(e.area)
      for (const t of [e.meaning, e.answer, e.action]) expect(t.trim().length, c).toBeGreaterThan(0)
      expect(e.meaning, c).toMatch(/\.$/)
    }
  })

  it('answers frame codes as the protocol says, and only frame codes are protocol or receiver codes', () => {
    const frameCodes = new Set<string>(Object.values(ErrorCode))
    for (const [c, e] of table) {
      expect(frameCodes.has(c), c).toBe(e.area === 'protocol' || e.area === 'receiver')
      if (frameCodes.has(c)) expect(e.reply, c).toBe(REPLY_FOR[c as ErrorCode])
      else expect(e.reply, c).toBeUndefined()
    }
  })

  it('is documented in docs/errors.md: a section per code, no other code, and the page is current', () => {
    const expected = renderErrorsDoc()
    if (process.env.DC09_WRITE_ERRORS_DOC === '1') writeFileSync(DOC, expected)
    expect(existsSync(DOC), 'docs/errors.md is missing').toBe(true)
    const doc = readFileSync(DOC, 'utf8')
    const sections = [...doc.matchAll(/^### (DC09_ERR_\w+)$/gm)].map((m) => m[1]!)
    expect([...sections].sort()).toEqual([...codes].sort())
    expect([...new Set(doc.match(CODE))].filter((c) => errorInfo(c) === undefined)).toEqual([])
    // Nothing a docs test would try to run.
    expect(doc).not.toMatch(/^```sh/m)
    expect(doc).toBe(expected)
  })
})
