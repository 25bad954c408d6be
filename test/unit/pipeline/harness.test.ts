/**
 * The stage harness (src/pipeline/testing.ts) through the pipeline's own loader, runner and
 * scheduler: the example stage, a built-in stage's timers on the fake clock, state, dead
 * letters, annotations, and clear errors for what a test gets wrong.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createHarness, HarnessError, type StageHarness } from '../../../src/pipeline/testing.js'
import type { Stage, StageFactory } from '../../../src/pipeline/stage.js'

const EXAMPLES = new URL('../../../examples/', import.meta.url).pathname
const HOUR = 3_600_000
let h: StageHarness | undefined

afterEach(async () => {
  await h?.close()
  h = undefined
})

describe('the example stage through the harness', () => {
  it('emits one maintenance-due after three low-battery reports within a day, until a restore', async () => {
    h = await createHarness({ stages: [{ module: './stages/battery-watch.mjs', options: { reports: 3, withinHours: 24 } }], baseDir: EXAMPLES })
    expect((await h.contactId('4321', '1302 01 000')).emitted).toEqual([])
    await h.advance(2 * HOUR)
    await h.contactId('4321', '1302 01 000')
    await h.contactId('9999', '1302 01 000')
    await h.advance(HOUR)
    const third = await h.contactId('4321', '1302 01 000')
    expect(third.emitted.map((e) => [e.kind, e.account, e.causedBy, e.stage, e.data])).toEqual([
      ['maintenance-due', '4321', third.id, 'battery-watch', { reason: 'low battery', reports: 3, withinHours: 24 }],
    ])
    expect((await h.contactId('4321', '1302 01 000')).emitted).toEqual([]) // already flagged
    expect(h.state<{ flagged: boolean }>('battery-watch')['4321']?.flagged).toBe(true)
    await h.sia('4321', 'Nri1/YR000') // restore clears the account's state
    expect(h.state('battery-watch')).not.toHaveProperty('4321')
    expect(h.emitted('maintenance-due')).toHaveLength(1)
  })

  it('refuses bad options when made, with the loader\'s message', async () => {
    await expect(createHarness({ stages: [{ module: './stages/battery-watch.mjs', options: { reports: 0 } }], baseDir: EXAMPLES }))
      .rejects.toThrow(new HarnessError('stage 1: battery-watch: reports is a whole number, at least 1'))
  })
})

describe('timers on the fake clock', () => {
  it('fires supervision when an account stays silent past its interval, with ctx.now the deadline', async () => {
    h = await createHarness({ stages: ['supervision'], accounts: [{ account: '1234', supervisionSeconds: 600 }], start: '2026-03-01T00:00:00Z' })
    await h.linkTest('1234')
    expect(await h.advance(599_000)).toEqual([])
    const fired = await h.advance(2_000)
    expect(fired.map((e) => [e.kind, e.account])).toEqual([['supervision-failure', '1234']])
    expect(h.now).toBe(Date.parse('2026-03-01T00:10:01Z'))
    const back = await h.contactId('1234', '1602 00 000')
    expect(back.emitted.map((e) => e.kind)).toEqual(['supervision-restore'])
  })

  it('runs a timer a stage set at its due time, and what it emits there is journaled', async () => {
    const stage: Stage = {
      name: 'reminder',
      run ({ record }, ctx) {
        if (record.type === 'frame') ctx.schedule(record.account, ctx.now + 1000)
      },
      due (key, ctx) {
        ctx.state.set(key, ctx.now)
        return { emit: [{ kind: 'reminded', account: key }] }
      },
    }
    h = await createHarness({ stages: [stage], start: 0 })
    await h.contactId('1234', '1130 01 015')
    expect(h.scheduled('reminder', '1234')).toBe(true)
    expect(h.timers).toBe(1)
    const fired = await h.advanceTo(5000)
    expect(fired.map((e) => [e.kind, e.account, e.receivedAt])).toEqual([['reminded', '1234', 5000]])
    expect(h.state('reminder')).toEqual({ 1234: 1000 })
    expect(h.scheduled('reminder', '1234')).toBe(false)
  })
})

describe('what the harness reads back', () => {
  it('annotations from every stage, emitted events that later stages also see, and the journal', async () => {
    const seen: string[] = []
    const echo: Stage = { name: 'echo', run: ({ record }) => (record.type === 'frame' ? { emit: [{ kind: 'echo', account: record.account }] } : undefined) }
    const watcher: Stage = { name: 'watcher', run: ({ record }) => { seen.push(record.type === 'frame' ? 'frame' : record.kind) } }
    h = await createHarness({ stages: ['classify', echo, watcher] })
    const fed = await h.contactId('1234', '1130 01 015')
    expect(fed.annotations).toMatchObject({ class: 'alarm' })
    expect(fed.record).toMatchObject({ type: 'frame', account: '1234', token: 'ADM-CID', flags: { quarantine: true } })
    expect(fed.emitted.map((e) => e.kind)).toEqual(['echo'])
    expect(seen).toEqual(['frame', 'echo'])
    expect(h.journal().map((r) => r.type)).toEqual(['frame', 'derived'])
  })

  it('parks an event a stage keeps failing on in the dead-letter list, and goes on', async () => {
    const flaky: Stage = {
      name: 'flaky',
      run ({ record }) {
        if (record.type === 'frame' && record.account === 'BAD1') throw new Error('no such site')
        return { emit: [{ kind: 'ok', account: record.account }] }
      },
    }
    h = await createHarness({ stages: [flaky], retries: 1, start: 0 })
    const bad = await h.contactId('BAD1', '1130 01 015')
    await h.contactId('1234', '1130 01 015')
    expect(h.deadLetters()).toEqual([{ id: bad.id, stage: 'flaky', timer: '', error: 'no such site', attempts: 2, at: new Date(0).toISOString() }])
    expect(h.emitted().map((e) => e.account)).toEqual(['1234'])
  })

  it('gives factories an environment: the accounts, and the users `users` names (any case)', async () => {
    const known: Stage['run'] = () => undefined
    let env: Parameters<StageFactory>[1] | undefined
    h = await createHarness({ stages: [{ factory: (_o, e) => { env = e; return { name: 'env', run: known } } }], accounts: [{ account: '12ab', tenant: 'acme' }], users: { '12ab': [3] } })
    expect(env!.isUser('12AB', 3)).toBe(true)
    expect(env!.isUser('12AB', 4)).toBe(false)
    expect(env!.accounts.get('12AB')?.tenant).toBe('acme')
  })

  it('names the holder of registered accounts on frames, as the receiver does', async () => {
    h = await createHarness({ stages: ['classify'], accounts: [{ account: 'abc1' }], start: '2026-05-01T12:00:00Z' })
    const fed = await h.linkTest('ABC1')
    expect(fed.record).toMatchObject({ account: 'ABC1', holder: '2026-05-01T12:00:00.000Z', flags: { linkTest: true } })
  })
})

describe('harness errors are clear', () => {
  it('an invalid Contact ID or SIA event says what and why', async () => {
    h = await createHarness({ stages: ['classify'] })
    await expect(h.contactId('1234', '11300')).rejects.toThrow(/^contactId\("1234", "11300"\): DC09_ERR_\w+: /)
    await expect(h.contactId('12', '1130 01 015')).rejects.toThrow(new HarnessError('contactId("12", "1130 01 015"): the account is 3 to 16 letters or digits, such as \'1234\''))
    await expect(h.sia('1234', 'Xgarbage')).rejects.toThrow(/^sia\("1234", "Xgarbage"\): DC09_ERR_\w+: /)
    await expect(h.derived({ kind: '', account: '1234' })).rejects.toThrow('derived(...): kind must be a non-empty string')
    await expect(h.advance(-1)).rejects.toThrow(/never goes back/)
    expect(() => h!.state('nope')).toThrow('no stage named "nope" (there are classify)')
  })

  it('a stage that cannot be made, a missing module, a bad shape, a name taken twice', async () => {
    await expect(createHarness({ stages: [] })).rejects.toThrow('createHarness: expected { stages: [...] } with at least one stage')
    await expect(createHarness({ stages: ['classify', { module: './nowhere.mjs' }] })).rejects.toThrow(/^stage 2: cannot load \.\/nowhere\.mjs/)
    await expect(createHarness({ stages: [{ factory: () => { throw new Error('needs a file option') } }] })).rejects.toThrow('stage 1: needs a file option')
    await expect(createHarness({ stages: [{ factory: () => ({ name: 'x' }) as unknown as Stage }] })).rejects.toThrow('stage 1: a stage is { name, run(event, ctx) }')
    await expect(createHarness({ stages: ['classify', { name: 'x', run: () => {} }, { name: 'x', run: () => {} }] })).rejects.toThrow('stage 3: a second stage named "x"')
    await expect(createHarness({ stages: [{ name: 'verify', run: () => {} }] })).rejects.toThrow('stage 1: the stage name "verify" is reserved')
  })

  it('a stage that never finishes fails the feed after the timeout instead of hanging the test', async () => {
    const stuck: Stage = { name: 'stuck', run: () => new Promise(() => {}) }
    h = await createHarness({ stages: [stuck], timeoutMs: 200 })
    await expect(h.contactId('1234', '1130 01 015')).rejects.toThrow(/^the stages did not finish within 200 ms \(journal id 0 of 1 run\)/)
  })

  it('a closed harness says so', async () => {
    const closed = await createHarness({ stages: ['classify'] })
    await closed.close()
    await expect(closed.contactId('1234', '1130 01 015')).rejects.toThrow('the harness is closed')
  })
})
