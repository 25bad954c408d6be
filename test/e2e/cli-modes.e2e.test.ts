/**
 * Everything the CLI writes in a data directory is the owner's only: files 0600, directories
 * 0700. The directory holds keys, code hashes, tokens and events; a umask of 022 must not open it.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { untilListening } from './helpers.js'
import { afterAll, describe, expect, it } from 'vitest'

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
const root = mkdtempSync(join(tmpdir(), 'dc09-modes-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** Runs with the usual umask (022): modes must not depend on the user's setting. */
const env = { ...process.env, DC09_PEPPER_FILE: '' }
function dc09 (args: string[], input = '') {
  const r = spawnSync('sh', ['-c', 'umask 022 && exec "$@"', 'sh', process.execPath, BIN, ...args], { input, encoding: 'utf8', timeout: 20_000, env })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** Every path under `dir` with its permission bits, e.g. `journal/00000001.seg 600`. */
function modes (dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      const st = statSync(p)
      out.push(`${relative(dir, p)}${st.isDirectory() ? '/' : ''} ${(st.mode & 0o777).toString(8)}`)
      if (st.isDirectory()) walk(p)
    }
  }
  walk(dir)
  return out.sort()
}

/** A directory that is not 0700, or a file (or socket) that is not 0600. */
const open = (m: string): boolean => !(m.includes('/ ') ? m.endsWith(' 700') : m.endsWith(' 600'))

describe('data directory modes', () => {
  it('accounts add makes the directory 0700 and its files 0600', () => {
    const data = join(root, 'add')
    expect(dc09(['accounts', 'add', '--data', data, '--account', '1234']).code).toBe(0)
    expect(statSync(data).mode & 0o777).toBe(0o700)
    const found = modes(data)
    expect(found.length).toBeGreaterThan(0)
    expect(found.filter(open)).toEqual([])
  })

  it('serve --demo, an event, and a stop leave nothing readable by others', async () => {
    const data = join(root, 'serve')
    const child = spawn('sh', ['-c', 'umask 022 && exec "$@"', 'sh', process.execPath, BIN, 'serve', '--demo', '--data', data, '--port', '0', '--api-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env })
    const { port } = await untilListening(child)
    try {
      const sent = dc09(['send', '--port', String(port)], '\\nE0CA003B"ADM-CID"0002L0#1234[#1234|1130 01 015]_12:00:00,01-15-2024\\r\n')
      expect(sent.code).not.toBeNull()
      // While it runs: the SQLite write-ahead logs and the control socket exist now.
      const running = modes(data)
      const names = running.map((m) => m.split(' ')[0])
      for (const name of ['lock.db', 'accounts.db', 'accounts.db-wal', 'pipeline.db', 'pipeline.db-wal', 'pepper', 'control.sock', 'journal/']) expect(names).toContain(name)
      expect(running.filter(open)).toEqual([])
    } finally {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    const after = modes(data)
    expect(after.filter(open)).toEqual([])
  })
})
