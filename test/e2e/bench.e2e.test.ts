/** `npm run bench -- --quick` works, so the benchmark script cannot rot. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'

it('runs the quick benchmark end to end and writes its tables', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-benchq-'))
  try {
    const out = join(dir, 'benchmarks.md')
    const r = spawnSync(process.execPath, [new URL('../../dist/bench/run.js', import.meta.url).pathname, '--quick', '--out', out], { encoding: 'utf8', timeout: 170_000 })
    expect(r.status, r.stderr.slice(-2000)).toBe(0)
    const md = readFileSync(out, 'utf8')
    expect(md).toContain('## End to end')
    expect(md).toMatch(/\| TCP, 100 panels, AES-128 \| [\d,]+ \| [\d,]+ \| \d+\.\d\d \|/)
    // The client's and the server's CPU time per frame, for the receiver's run and the baseline's, then the target.
    expect(md).toMatch(/\| TCP, 100 panels, AES-128 \|.* \| [\d.]+ \/ [\d.]+ \| [\d.]+ \/ [\d.]+ \| throughput >= 0\.80: /)
    expect(md).toContain('load client (bench/e2e/load-client.ts)')
    expect(md).toMatch(/Keep-up: 100 AES-128 panels .* [\d,]+ frames\/s\. Pipeline lag, .* p99 [\d,]+ events, max [\d,]+.* [\d,]+ cases opened for [\d,]+ alarms sent; alarm to case .* p50 [\d,]+ ms, p99 [\d,]+ ms/)
    expect(md).toContain('| UDP, 100 panels, plain |')
    expect(md).toContain('| TCP connect-per-event, 100 panels, plain |')
    expect(md).toMatch(/Memory: 300 idle TCP panel connections .* receiver RSS \d+ MiB/)
    expect(md).not.toContain('were not acknowledged')
    expect(md).toMatch(/Flood: 2,000 plain SIA-DCS frames of 1,70\d bytes .* 2,000 acknowledged\. Receiver RSS \d+ MiB before, \d+ MiB at most .* \d+\.\d\d journal bytes per wire byte \(target at most 3: met\)/)
    expect(md).toMatch(/Pipeline: 5,000 frames \(cid=70,sia=20,null=10\) from 500 supervised accounts, .* [\d,]+ events\/s, [\d.]+ µs of CPU per event/)
    // Not part of --quick: the page says so, and how to run its short version.
    expect(md).toContain('## Outputs\n\nNot measured in this run: not part of --quick; `npm run bench -- --case outputs --quick`')
    expect(md).toContain('## Protocol core, one core (micro)')
    expect(md).not.toContain('failed**')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}, 180_000)
