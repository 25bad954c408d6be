/**
 * What the CLI prints of stored text (audit rows, user, token and site names, cases, dead letters,
 * the journal) cannot drive the admin's terminal: control and format characters come out escaped,
 * in the text lines and in the JSON lines.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { AccessStore } from '../../../src/api/access.js'
import * as accounts from '../../../src/cli/commands/accounts.js'
import { auditList, usersList } from '../../../src/cli/commands/codes.js'
import { exportJournal } from '../../../src/cli/commands/journal.js'
import { deadLetters, listCases } from '../../../src/cli/commands/pipeline.js'
import * as tokens from '../../../src/cli/commands/tokens.js'
import { printable, safeJson } from '../../../src/cli/escape.js'
import { FileJournal } from '../../../src/journal/file-journal.js'
import { Batch, PipelineStore } from '../../../src/pipeline/store.js'
import { Verifier } from '../../../src/verification/verifier.js'

/** Erase the line above, twice; a C1 CSI; a right-to-left override; DEL; a bell; a line separator. */
const EVIL = '\u001b[1A\u001b[2Kok\u009b2J\u202eevil\u007f\u0007\u2028x'
/** Anything a terminal would act on, rather than show. */

const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u

describe('printable and safeJson', () => {
  it('escape control and format characters, and the backslash, and keep ordinary text', () => {
    expect(printable('Müller Straße 5, Vilnius')).toBe('Müller Straße 5, Vilnius')
    expect(printable('a\u001b[2Kb')).toBe('a\\x1B[2Kb')
    expect(printable('\u009b\u202e\u2028\n\t\\')).toBe('\\x9B\\u{202E}\\u{2028}\\n\\t\\\\')
    // The marks real names need (Persian, Hebrew) stay.
    expect(printable('\u0645\u200c\u06cc')).toBe('\u0645\u200c\u06cc')
    expect(printable(EVIL)).not.toMatch(ACTIVE)
  })

  it('safeJson is JSON that reads back as the same value, with nothing active in it', () => {
    const v = { name: EVIL, n: 1 }
    const s = safeJson(v)
    expect(s).not.toMatch(ACTIVE)
    expect(JSON.parse(s)).toEqual(v)
  })
})

describe('commands printing stored text', () => {
  let data: string
  const run = (fn: (out: (s: string) => void) => unknown): string => {
    let text = ''
    fn((s) => { text += s })
    return text
  }
  const io = (out: (s: string) => void) => ({ out, err: out, readStdin: () => '' })

  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), 'dc09-cli-out-'))
    const store = new SqliteAccountStore(data)
    expect(store.add({ account: 'E100', siteName: 'Shop', tenant: 'acme' }).ok).toBe(true)
    store.close()
    // A row written under older rules (or by hand): the site name holds escapes.
    const db = new Database(join(data, 'accounts.db'))
    db.prepare('UPDATE accounts SET site_name = ? WHERE account = ?').run(EVIL, 'E100')
    db.close()
    const s2 = new SqliteAccountStore(data)
    const v = new Verifier(data, s2, {})
    v.audit(EVIL, 'api:account-read', EVIL, EVIL, null, EVIL, EVIL)
    expect(v.addUser('E100', 1, 'Ann', 'test').ok).toBe(true)
    v.close()
    s2.close()
    const access = new AccessStore(data)
    expect(access.createToken({ role: 'operator', name: 'night shift' }).ok).toBe(true)
    access.close()
    // Names stored under older rules (or by hand).
    const db2 = new Database(join(data, 'accounts.db'))
    db2.prepare('UPDATE users SET name = ?').run(EVIL)
    db2.prepare('UPDATE api_tokens SET name = ?').run(EVIL)
    db2.close()
    const pipe = new PipelineStore(data)
    const batch = new Batch()
    batch.writes.set('cases\u0000case:1', {
      stage: 'cases',
      key: 'case:0000000000000001',
      value: JSON.stringify({ id: 1, account: 'E100', state: 'resolved', openedAt: 0, events: [], cancelUntil: 0, verifyBy: 0, escalated: false, duress: false, closedAt: 1, closedBy: EVIL }),
    })
    batch.dead.push({ id: 5, stage: 'webhook', timer: '', error: EVIL, attempts: 3, at: '2030-01-01T00:00:00.000Z' })
    pipe.commit(batch, 0)
    pipe.close()
    const journal = await FileJournal.open(data)
    await journal.append({ type: 'derived', receivedAt: 0, kind: 'note', account: 'E100', stage: 'x', causedBy: 0, n: 0, data: { text: EVIL } })
    await journal.close()
  })
  afterAll(() => { rmSync(data, { recursive: true, force: true }) })

  const outputs: Array<[string, (out: (s: string) => void) => unknown]> = [
    ['dc09 audit', (out) => auditList({ data, limit: 10 }, io(out))],
    ['dc09 audit --json', (out) => auditList({ data, limit: 10, json: true }, io(out))],
    ['dc09 users list', (out) => usersList({ data, account: 'E100' }, io(out))],
    ['dc09 users list --json', (out) => usersList({ data, account: 'E100', json: true }, io(out))],
    ['dc09 tokens list', (out) => tokens.list({ data }, io(out))],
    ['dc09 tokens list --json', (out) => tokens.list({ data, json: true }, io(out))],
    ['dc09 accounts list', (out) => accounts.list(data, { json: false }, { out, readStdin: () => '' })],
    ['dc09 accounts list --json', (out) => accounts.list(data, { json: true }, { out, readStdin: () => '' })],
    ['dc09 accounts show', (out) => accounts.show(data, 'E100', false, { out, readStdin: () => '' })],
    ['dc09 accounts show --json', (out) => accounts.show(data, 'E100', true, { out, readStdin: () => '' })],
    ['dc09 cases list --all', (out) => listCases(data, { all: true, json: false }, out)],
    ['dc09 cases list --all --json', (out) => listCases(data, { all: true, json: true }, out)],
    ['dc09 pipeline dead-letters', (out) => deadLetters(data, false, out)],
    ['dc09 pipeline dead-letters --json', (out) => deadLetters(data, true, out)],
  ]

  for (const [name, fn] of outputs) {
    it(`${name} escapes what it prints`, () => {
      const text = run(fn)
      expect(text.length, name).toBeGreaterThan(10)
      for (const line of text.split('\n')) expect(line, name).not.toMatch(ACTIVE)
      if (name.endsWith('--json')) for (const line of text.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow()
    })
  }

  it('dc09 journal export escapes what it prints', async () => {
    let text = ''
    await exportJournal(data, 1, (s) => { text += s })
    expect(text).toContain('"note"')
    for (const line of text.trim().split('\n')) {
      expect(line).not.toMatch(ACTIVE)
      expect(JSON.parse(line).data.text).toBe(EVIL)
    }
  })
})
