/**
 * `dc09 send` run twice with the same events: without --seq each run numbers its frames from the
 * clock, so the receiver journals both runs instead of taking the second for retransmissions.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { untilListening } from './helpers.js'
import { afterAll, describe, expect, it } from 'vitest'

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
const data = mkdtempSync(join(tmpdir(), 'dc09-send-'))
afterAll(() => rmSync(data, { recursive: true, force: true }))

function dc09 (args: string[], input = '') {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('dc09 send, run again', () => {
  it('journals the same event sent by two runs, and says when a run repeats itself', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--demo', '--data', data, '--port', '0', '--no-api'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const { port } = await untilListening(child)
    try {
      const send = (input: string) => dc09(['send', '--port', String(port), '--account', '1234'], input)
      const first = send('ADM-CID 1130 01 015\n')
      // At least a tenth of a second later, as any second run by hand is.
      await new Promise((resolve) => setTimeout(resolve, 150))
      const second = send('ADM-CID 1130 01 015\n')
      for (const r of [first, second]) {
        expect(r.code).toBe(0)
        expect(JSON.parse(r.out)).not.toHaveProperty('repeatOf')
      }
      const frames = dc09(['journal', 'export', '--data', data]).out.trim().split('\n')
        .map((l) => JSON.parse(l) as { type: string, token?: string, seq?: string }).filter((r) => r.type === 'frame')
      expect(frames.map((f) => f.token)).toEqual(['ADM-CID', 'ADM-CID'])
      expect(new Set(frames.map((f) => f.seq)).size).toBe(2)

      // Whole frames keep their numbers: the same frame twice in one run is answered twice, journaled once.
      const FRAME = '\\nE0CA003B"ADM-CID"0002L0#1234[#1234|1130 01 015]_12:00:00,01-15-2024\\r'
      const raw = dc09(['send', '--port', String(port)], `${FRAME}\n${FRAME}\n`)
      const answers = raw.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(answers.map((a) => a.token)).toEqual(['ACK', 'ACK'])
      expect(answers[1]).toMatchObject({ repeatOf: 1, note: expect.stringContaining('duplicate window') })
    } finally {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  })
})
