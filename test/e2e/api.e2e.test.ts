/**
 * The HTTP interface as a user meets it: `dc09 serve` (the built binary) with the interface on
 * its own port, tokens made with `dc09 tokens create`, a session with fetch as docs/http-api.md's curl
 * session does it, a panel's alarm over TCP, and a revoked token refused at once.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
const root = mkdtempSync(join(tmpdir(), 'dc09-api-e2e-'))
const dir = join(root, 'data')
const pepper = join(root, 'pepper')
const KEY = '3f9a1c44d07e62b85a0c19d3e47b2f60'
const CODE = '58203917'
const DURESS = '64019382'

function dc09 (args: string[], input = ''): { code: number | null, out: string, err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

let server: { child: ChildProcess, port: number, api: number, exited: Promise<number | null> } | undefined
const logLines: string[] = []

function startServe (): Promise<NonNullable<typeof server>> {
  const child = spawn(process.execPath, [BIN, 'serve', '--data', dir, '--port', '0', '--api-port', '0', '--pepper-file', pepper], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  child.stderr!.on('data', (c: Buffer) => logLines.push(c.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('serve did not start')), 15_000)
    let api: number | undefined
    createInterface({ input: child.stdout! }).on('line', (l) => {
      logLines.push(l)
      const j = JSON.parse(l) as { msg?: string, port?: number }
      if (j.msg === 'HTTP interface listening') api = j.port
      if (j.msg === 'listening' && api !== undefined) { clearTimeout(timer); resolve({ child, port: j.port!, api, exited }) }
    })
    void exited.then((code) => reject(new Error(`serve exited with ${code}`)))
  })
}

async function call (method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number, json: any, text: string }> {
  const res = await fetch(`http://127.0.0.1:${server!.api}${path}`, {
    method,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, json, text }
}

const token = (role: string, ...extra: string[]): string => {
  const r = dc09(['tokens', 'create', '--data', dir, '--role', role, ...extra])
  expect(r.code, r.err).toBe(0)
  // The token is the only line printed.
  expect(r.out).toMatch(/^dc09_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n$/)
  return r.out.trim()
}

beforeAll(async () => {
  writeFileSync(pepper, randomBytes(32), { mode: 0o600 })
  server = await startServe()
}, 30_000)

afterAll(async () => {
  if (server !== undefined && server.child.exitCode === null) {
    server.child.kill('SIGTERM')
    await server.exited
  }
  rmSync(root, { recursive: true, force: true })
})

describe('dc09 serve with the HTTP interface', () => {
  it('serves a whole session: installer sets up a site, a panel alarms, an operator verifies and resolves', async () => {
    const installer = token('installer', '--tenant', 'acme', '--name', 'Acme installs')
    const operator = token('operator', '--name', 'desk 1')
    const admin = token('admin', '--name', 'root')

    expect((await call('GET', '/healthz', undefined)).json).toEqual({ status: 'ok', journal: 'ok' })
    expect((await call('GET', '/v1/accounts', undefined)).status).toBe(401)

    const created = await call('POST', '/v1/accounts', installer, {
      account: '4321', prefix: '0', key: KEY, supervisionSeconds: 'SP2', siteName: 'Corner shop', siteAddress: '1 High Street',
      keyholders: [{ name: 'Dana Keyholder', phone: '+44 20 7946 0000', order: 1 }],
    })
    expect(created.status, created.text).toBe(201)
    expect(created.json).toMatchObject({ account: '4321', tenant: 'acme', hasKey: true, siteName: 'Corner shop' })
    expect(created.json).not.toHaveProperty('vip')
    expect((await call('POST', '/v1/accounts/4321/users', installer, { user: 1, name: 'Dana' })).status).toBe(201)
    expect((await call('PUT', '/v1/accounts/4321/users/1/code', installer, { code: CODE })).status).toBe(204)
    expect((await call('PUT', '/v1/accounts/4321/users/1/duress-code', installer, { code: DURESS })).status).toBe(204)
    expect((await call('PATCH', '/v1/accounts/4321', admin, { vip: true })).status).toBe(200)

    // The panel alarms (encrypted, as installed), and the receiver acknowledges it.
    const keyFile = join(root, 'key')
    writeFileSync(keyFile, KEY, { mode: 0o600 })
    const sent = dc09(['send', '--port', String(server!.port), '--account', '4321', '--key-file', keyFile], 'ADM-CID 1130 01 015\n')
    expect(sent.code, sent.out + sent.err).toBe(0)

    let cases: any
    for (let i = 0; i < 50; i++) {
      cases = (await call('GET', '/v1/cases', operator)).json
      if (cases.items.length > 0) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(cases.items).toHaveLength(1)
    const caseId = cases.items[0].id as number
    const account = (await call('GET', '/v1/accounts/4321', operator)).json
    expect(account).toMatchObject({ vip: true, keyholders: [{ name: 'Dana Keyholder', order: 1 }] })

    const valid = await call('POST', '/v1/accounts/4321/verify', operator, { code: CODE })
    const duress = await call('POST', '/v1/accounts/4321/verify', operator, { code: DURESS })
    expect(valid.json).toEqual({ result: 'valid', account: '4321', user: 1 })
    expect(duress.text).toBe(valid.text)

    const events = (await call('GET', '/v1/accounts/4321/events', installer)).json
    expect(events.items.some((e: any) => e.type === 'frame' && e.encrypted === true)).toBe(true)
    expect(events.items.every((e: any) => e.type === 'frame' || String(e.kind).startsWith('supervision'))).toBe(true)
    expect((await call('GET', '/v1/accounts/4321/supervision', installer)).json).toMatchObject({ supervised: true, failed: false })

    // The valid code verified the case (resolving it now is a conflict); the duress code, answered
    // as valid, opened a new, silent duress case, which the operator resolves.
    let after: any
    for (let i = 0; i < 50; i++) {
      after = (await call('GET', `/v1/accounts/4321/cases/${caseId}`, operator)).json
      if (after.state !== 'open') break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(after.state).toBe('verified')
    expect((await call('POST', `/v1/accounts/4321/cases/${caseId}/resolve`, operator, { note: 'called keyholder' })).status).toBe(409)
    // The pipeline runs the duress event after the answer: wait for the case it opens.
    let open: any
    for (let i = 0; i < 50; i++) {
      open = (await call('GET', '/v1/accounts/4321/cases?state=open', operator)).json
      if (open.items.length > 0) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(open.items).toHaveLength(1)
    expect(open.items[0]).toMatchObject({ duress: true, state: 'open' })
    const resolved = await call('POST', `/v1/accounts/4321/cases/${open.items[0].id}/resolve`, operator, { note: 'police sent' })
    expect(resolved.status, resolved.text).toBe(200)
    expect(resolved.json).toMatchObject({ state: 'resolved', closedBy: expect.stringMatching(/^operator:/) })

    const metrics = (await call('GET', '/metrics', undefined)).text
    expect(metrics).toMatch(/dc09_frames_total\{type="\*ADM-CID",answer="ACK"\} 1/)
    expect(metrics).toMatch(/dc09_verifications_total\{outcome="valid"\} 2/)
    expect(metrics).not.toContain('4321')

    const audit = (await call('GET', '/v1/audit?limit=100', admin)).json
    expect(audit.items.some((r: any) => r.action === 'api:code-set' && r.account === '4321' && r.source === '127.0.0.1')).toBe(true)

    // Nothing secret in any answer, or in the receiver's log.
    const everything = [created.text, valid.text, JSON.stringify(events), JSON.stringify(audit), metrics, logLines.join('\n')].join('\n')
    for (const secret of [KEY, KEY.toUpperCase(), CODE, DURESS]) expect(everything).not.toContain(secret)
  })

  it('refuses a token once revoked with dc09 tokens revoke', async () => {
    const t = token('operator')
    expect((await call('GET', '/v1/me', t)).json).toMatchObject({ role: 'operator' })
    const id = t.slice(5, 17)
    expect(dc09(['tokens', 'revoke', '--data', dir, '--id', id]).code).toBe(0)
    expect((await call('GET', '/v1/me', t)).status).toBe(401)
    const listed = dc09(['tokens', 'list', '--data', dir, '--json']).out
    expect(listed).toContain(`"id":"${id}"`)
    expect(listed).not.toContain(t.slice(18))
  })

  it('dc09 accounts takes the site and the VIP marker, and removing an account forgets its users', async () => {
    const added = dc09(['accounts', 'add', '--data', dir, '--account', '7777', '--tenant', 'acme', '--site-name', 'Mill House', '--site-address', '2 Mill Lane', '--vip'])
    expect(added.code, added.err).toBe(0)
    expect(added.out).toContain('site "Mill House", VIP')
    expect(JSON.parse(dc09(['accounts', 'show', '--data', dir, '--account', '7777', '--json']).out)).toMatchObject({ siteName: 'Mill House', siteAddress: '2 Mill Lane', vip: true, keyholders: [] })
    // The running receiver's interface sees the change; its installer does not see the marker.
    const installer = token('installer', '--tenant', 'acme')
    const seen = (await call('GET', '/v1/accounts/7777', installer)).json
    expect(seen).toMatchObject({ siteName: 'Mill House' })
    expect(seen).not.toHaveProperty('vip')
    expect(dc09(['users', 'add', '--data', dir, '--account', '7777', '--user', '3', '--name', 'Sam']).code).toBe(0)
    expect(dc09(['accounts', 'remove', '--data', dir, '--account', '7777'])).toMatchObject({ code: 0, out: 'removed account 7777 and its 1 user(s)\n' })
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '7777']).code).toBe(0)
    expect(dc09(['users', 'list', '--data', dir, '--account', '7777']).out).toBe('account 7777 has no users\n')
  })

  it('refuses an installer token without a tenant, and a bad role', () => {
    expect(dc09(['tokens', 'create', '--data', dir, '--role', 'installer']).code).toBe(2)
    expect(dc09(['tokens', 'create', '--data', dir, '--role', 'root']).code).not.toBe(0)
  })
})
