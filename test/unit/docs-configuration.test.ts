/**
 * docs/configuration.md cannot drift from the code: every key of the receiver's defaults and of
 * each limits-file section has a row there with its default value, and every option of
 * `dc09 serve` (from the built CLI's help) is named.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { defaultApiOptions } from '../../src/api/server.js'
import { defaultOptions } from '../../src/receiver/options.js'
import { defaultHashLimits } from '../../src/verification/verifier.js'

const ROOT = new URL('../../', import.meta.url).pathname
const DOC = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')

/** The default cell of each table row that names a key: | `key` | default | ... */
function rows (): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const line of DOC.split('\n')) {
    const m = /^\| `(\w+)` \| ([^|]*) \|/.exec(line)
    if (m === null) continue
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!.trim()])
  }
  return out
}

/** A default as the document writes it: numbers with thousands separators, anything else as JSON in backticks. */
function written (value: unknown): string {
  return typeof value === 'number' ? value.toLocaleString('en-US') : '`' + JSON.stringify(value) + '`'
}

const SECTIONS: ReadonlyArray<[string, object]> = [
  ['receiver (defaultOptions)', defaultOptions],
  ['api (defaultApiOptions)', defaultApiOptions],
  ['verification (defaultHashLimits)', defaultHashLimits],
]

describe('docs/configuration.md', () => {
  const table = rows()
  for (const [section, defaults] of SECTIONS) {
    it(`has every ${section} key with its default`, () => {
      const missing: string[] = []
      for (const [key, value] of Object.entries(defaults)) {
        const cells = table.get(key)
        if (cells?.includes(written(value)) !== true) missing.push(`${key}: ${written(value)} (the document says ${cells === undefined ? 'nothing' : cells.join(' / ')})`)
      }
      expect(missing).toEqual([])
    })
  }

  it('names every option of dc09 serve', () => {
    const cli = `${ROOT}dist/src/cli/main.js`
    if (!existsSync(cli)) throw new Error('dist/src/cli/main.js is missing: run `npm run build` first')
    const help = spawnSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8' }).stdout
    const options = [...new Set(help.match(/--[a-z][a-z-]+/g) ?? [])].filter((o) => o !== '--help')
    expect(options.length).toBeGreaterThan(10)
    expect(options.filter((o) => !DOC.includes('`' + o))).toEqual([])
  })
})
