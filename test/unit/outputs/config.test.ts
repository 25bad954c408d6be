/**
 * The `outputs` of the configuration: the fields every output shares (name, type, kinds, tenants,
 * personal), each type's own options checked by its parser, the limits, and the shortcuts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { makeOutputs, MAX_OUTPUTS, MAX_TENANTS, OutputConfigError, parseOutputs, shortcutOutputs } from '../../../src/outputs/config.js'
import { DEFAULT_KINDS } from '../../../src/outputs/output.js'

const dir = mkdtempSync(join(tmpdir(), 'dc09-outputs-config-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })
const secret = join(dir, 'hook.secret')
writeFileSync(secret, 'a-secret-of-at-least-16-bytes\n', { mode: 0o600 })

const surgard = { name: 'automation', type: 'surgard', port: 1025 }

function reason (raw: unknown): string {
  const r = parseOutputs(raw, {})
  if (r.ok) throw new Error('accepted')
  expect(r.code).toBe('DC09_ERR_OUTPUT_CONFIG')
  return r.reason
}

describe('the outputs configuration', () => {
  it('takes the three types with their defaults and filters', () => {
    const r = parseOutputs([
      surgard,
      { name: 'home', type: 'mqtt', url: 'mqtt://127.0.0.1:1883', kinds: ['alarm', 'supervision'] },
      { name: 'alpha', type: 'webhook', url: 'https://alpha.example/dc09', secretFile: secret, tenants: ['alpha'], personal: true },
    ], {})
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const [a, h, w] = r.value
    expect(a!.type).toBe('surgard')
    // Automation takes no pipeline events (cases, verifications) unless asked.
    expect([...a!.filter.kinds]).toEqual(DEFAULT_KINDS.filter((k) => k !== 'pipeline'))
    expect(a!.filter.tenants).toBeUndefined()
    expect([...h!.filter.kinds]).toEqual(['alarm', 'supervision'])
    expect(w!.filter).toMatchObject({ personal: true })
    expect([...w!.filter.tenants!]).toEqual(['alpha'])
    expect(parseOutputs(undefined, {})).toEqual({ ok: true, value: [] })
  })

  it('refuses what cannot work, saying which output and why', () => {
    expect(reason({})).toMatch(/must be a list/)
    expect(reason([null])).toMatch(/outputs\[0\] must be an object/)
    expect(reason([{ ...surgard, name: '' }])).toMatch(/name must be/)
    expect(reason([{ ...surgard, name: 'a'.repeat(33) }])).toMatch(/name must be/)
    expect(parseOutputs([{ ...surgard, name: 'a'.repeat(32) }], {}).ok).toBe(true)
    expect(reason([{ ...surgard, type: 'smtp' }])).toMatch(/type must be one of surgard, mqtt, webhook/)
    expect(reason([{ ...surgard, kinds: ['alarms'] }])).toMatch(/output automation: kinds must be/)
    expect(reason([{ ...surgard, kinds: [] }])).toMatch(/kinds/)
    expect(reason([{ ...surgard, tenants: [] }])).toMatch(/tenants/)
    expect(reason([{ ...surgard, tenants: Array.from({ length: MAX_TENANTS + 1 }, (_, i) => `t${i}`) }])).toMatch(/tenants/)
    expect(parseOutputs([{ ...surgard, tenants: Array.from({ length: MAX_TENANTS }, (_, i) => `t${i}`) }], {}).ok).toBe(true)
    expect(reason([{ ...surgard, personal: 'yes' }])).toMatch(/personal/)
    expect(reason([surgard, { ...surgard, port: 1026 }])).toMatch(/two outputs are named automation/)
    // The type's own checks, named by output.
    expect(reason([{ ...surgard, port: 0 }])).toMatch(/output automation: port/)
    expect(reason([{ ...surgard, heartbeatSeconds: 0 }])).toMatch(/heartbeat/)
    expect(reason([{ name: 'h', type: 'webhook', url: 'https://x.example/', secretFile: join(dir, 'missing') }])).toMatch(/output h:/)
  })

  it('runs at most MAX_OUTPUTS outputs', () => {
    const many = Array.from({ length: MAX_OUTPUTS + 1 }, (_, i) => ({ ...surgard, name: `o${i}`, port: 2000 + i }))
    expect(reason(many)).toMatch(new RegExp(`at most ${MAX_OUTPUTS} outputs`))
    expect(parseOutputs(many.slice(0, MAX_OUTPUTS), {}).ok).toBe(true)
  })

  it('never puts a credential in its reason', () => {
    const why = reason([{ name: 'home', type: 'mqtt', url: 'mqtt://user:hunter2-password@127.0.0.1:1883' }])
    expect(why).not.toContain('hunter2')
  })

  it('makes fresh outputs each time from what it checked, and throws the reason for a bad list', () => {
    const make = makeOutputs([surgard, { name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/', secretFile: secret }], {})
    const one = make()
    const two = make()
    expect(one.map((o) => [o.output.name, o.output.type])).toEqual([['automation', 'surgard'], ['hook', 'webhook']])
    expect(one[0]!.output).not.toBe(two[0]!.output)
    expect(() => makeOutputs([{ ...surgard, type: 'x' }], {})).toThrow(OutputConfigError)
  })

  it('turns the command line\'s shortcuts into outputs named after their type', () => {
    expect(shortcutOutputs({})).toEqual([])
    const list = shortcutOutputs({ surgardPort: 1025, surgardHost: '0.0.0.0', mqtt: 'mqtt://127.0.0.1:1883', webhook: 'http://127.0.0.1:8080/', webhookSecretFile: secret })
    expect(list).toEqual([
      { name: 'surgard', type: 'surgard', port: 1025, host: '0.0.0.0' },
      { name: 'mqtt', type: 'mqtt', url: 'mqtt://127.0.0.1:1883' },
      { name: 'webhook', type: 'webhook', url: 'http://127.0.0.1:8080/', secretFile: secret },
    ])
    expect(parseOutputs(list, {}).ok).toBe(true)
    // A webhook without its secret cannot start.
    expect(reason(shortcutOutputs({ webhook: 'http://127.0.0.1:8080/' }))).toMatch(/output webhook: .*secret/i)
  })
})
