/**
 * `npm run bench`: runs the benchmarks and rewrites bench/RESULTS.md from their figures.
 * Never edit RESULTS.md by hand. `--quick`: shorter runs and fewer cases (a test runs this so
 * the script cannot rot); `--out FILE`: write there instead. `--case NAME`: run that one case
 * alone (`flood`, `pipeline`, or an end-to-end case by name) and print its figures as JSON; RESULTS.md is
 * left as it is.
 */
import { writeFileSync } from 'node:fs'
import { runFlood, type FloodResult } from './e2e/flood.js'
import { runPipelineBench, type PipelineResult } from './e2e/pipeline.js'
import { cases, runE2e, type E2eResult, type MemoryResult } from './e2e/receiver.js'
import { fmt, machine } from './harness.js'
import { REFERENCE, runProtocolBench, type MicroCase } from './micro/protocol.js'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const outAt = args.indexOf('--out')
const out = outAt >= 0 ? args[outAt + 1]! : new URL('../../bench/RESULTS.md', import.meta.url).pathname
const caseAt = args.indexOf('--case')
const only = caseAt >= 0 ? args[caseAt + 1] ?? '' : undefined
const log = (s: string) => process.stderr.write(s + '\n')

log(`machine: ${machine()}`)
if (only !== undefined) {
  const names = ['flood', 'pipeline', ...cases(false).map((c) => c.name)]
  if (!names.includes(only)) {
    log(`no case ${JSON.stringify(only)}; the cases: ${names.map((n) => JSON.stringify(n)).join(', ')}`)
    process.exit(2)
  }
  const result = only === 'flood'
    ? await runFlood({ quick, log })
    : only === 'pipeline'
      ? await runPipelineBench({ quick, log })
      : (await runE2e({ quick: false, log, only: (c) => c.name === only, seconds: quick ? 1.5 : 6, memory: false })).results
  process.stdout.write(JSON.stringify({ machine: machine(), case: only, result }, null, 2) + '\n')
  process.exit(0)
}
const micro = runProtocolBench(log, quick)
const e2e = await runE2e({ quick, log })
const flood = await runFlood({ quick, log })
const pipeline = await runPipelineBench({ quick, log })

function microTable (micro: MicroCase[]): string {
  const reference = micro.find((m) => m.result.name === REFERENCE)?.result.opsPerSec ?? NaN
  const rows = micro.map(({ result: r, target }) => {
    let verdict = ''
    if (target !== undefined) {
      verdict = r.opsPerSec >= target
        ? `>= ${fmt(target)}: met`
        : r.bestPerSec >= target ? `>= ${fmt(target)}: met by the best sample, not the median` : `>= ${fmt(target)}: **not met**`
    }
    return `| ${r.name} | ${fmt(r.opsPerSec)} | ${fmt(r.bestPerSec)} | ±${r.spreadPct.toFixed(0)}% | ${(r.opsPerSec / reference).toFixed(2)} | ${verdict} |`
  })
  return `| case | median ops/s | best ops/s | spread | × reference | target |\n| --- | ---: | ---: | ---: | ---: | --- |\n${rows.join('\n')}`
}

const ratio = (a: number, b: number) => (b === 0 ? 'n/a' : (a / b).toFixed(2))

function e2eTable (results: E2eResult[]): string {
  const rows = results.map(({ case: c, receiver: r, baseline: b }) => {
    const tput = r.framesPerSecond / b.framesPerSecond
    const lat = r.latencyMs.p99 / b.latencyMs.p99
    let target = ''
    if (c.panels === 100 && c.proto === 'tcp' && !c.connectPerEvent) {
      target = `throughput >= 0.60 (aim 0.80): ${tput >= 0.6 ? 'met' : '**not met**'}; p99 <= 3x: ${lat <= 3 ? 'met' : '**not met**'}`
    }
    const faults = r.failed > 0 || r.flawed > 0 ? ` (**${r.failed} failed, ${r.flawed} flawed**)` : ''
    return `| ${c.name} | ${fmt(r.framesPerSecond)}${faults} | ${fmt(b.framesPerSecond)} | ${ratio(r.framesPerSecond, b.framesPerSecond)} | ${r.latencyMs.p50} / ${r.latencyMs.p99} | ${b.latencyMs.p50} / ${b.latencyMs.p99} | ${ratio(r.latencyMs.p99, b.latencyMs.p99)} | ${target} |`
  })
  return `| case | receiver frames/s | baseline frames/s | throughput ratio | receiver p50 / p99 ms | baseline p50 / p99 ms | p99 ratio | target |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n${rows.join('\n')}`
}

function memoryLine (m: MemoryResult): string {
  const mib = m.loadedRssBytes / 2 ** 20
  const target = m.connections >= 10_000 ? ` Target: at most 300 MB with 10,000: ${m.loadedRssBytes <= 300e6 ? 'met' : '**not met**'}.` : ''
  return `${fmt(m.connections)} idle TCP panel connections (each sends a NULL every 60 s): receiver RSS ${mib.toFixed(0)} MiB ` +
    `(${(m.idleRssBytes / 2 ** 20).toFixed(0)} MiB before they connected), about ${fmt(m.bytesPerConnection)} bytes per connection.${target}` +
    (m.connected ? '' : ' **Not every panel got its link test acknowledged.**')
}

function floodLine (f: FloodResult): string {
  const growth = (f.peakRssBytes - f.idleRssBytes) / 2 ** 20
  const ratio = f.journalBytes / f.wireBytes
  return `${fmt(f.frames)} plain SIA-DCS frames of ${fmt(f.frameBytes)} bytes (64 events each, modifiers changing from event ` +
    `to event) sent to one account in ${f.seconds.toFixed(1)} s over 4 TCP connections, rate limits raised out of the way: ` +
    `${fmt(f.acknowledged)} acknowledged${f.refused > 0 ? ` (**${fmt(f.refused)} not**)` : ''}. Receiver RSS ${(f.idleRssBytes / 2 ** 20).toFixed(0)} MiB before, ` +
    `${(f.peakRssBytes / 2 ** 20).toFixed(0)} MiB at most (+${growth.toFixed(0)} MiB); journal ${(f.journalBytes / 2 ** 20).toFixed(1)} MiB for ` +
    `${(f.wireBytes / 2 ** 20).toFixed(1)} MiB on the wire: ${ratio.toFixed(2)} journal bytes per wire byte ` +
    `(target at most 3: ${ratio <= 3 ? 'met' : '**not met**'}). Ordinary Contact ID frames (${f.cidWireBytesPerFrame} bytes): ` +
    `${fmt(f.cidJournalBytesPerFrame)} journal bytes each.`
}

function pipelineLine (p: PipelineResult): string {
  return `${fmt(p.frames)} frames (cid=70,sia=20,null=10) from ${fmt(p.accounts)} supervised accounts, journaled by the receiver, ` +
    `then run through the default pipeline (classify, supervision, cases, jsonl) in one process: ${fmt(p.events)} events ` +
    `(${fmt(p.derived)} made by the stages) in ${p.seconds.toFixed(1)} s, ${fmt(p.eventsPerSecond)} events/s, ` +
    `${p.cpuMicrosPerEvent} µs of CPU per event, RSS at most ${(p.rssBytes / 2 ** 20).toFixed(0)} MiB. ` +
    `Target: above 25,000 events/s: ${p.eventsPerSecond > 25_000 ? 'met' : '**not met**'}.`
}

const md = `# Benchmark results

Generated by \`npm run bench\`${quick ? ' --quick (short runs: indicative only)' : ''} (bench/run.ts); do not edit by hand.

Machine: ${machine()}

## End to end

The receiver (\`dc09 serve\`, journal on disk with an fdatasync per group, logs at the default level to a file) and the
simulator (\`dc09 simulate\`, ping-pong: each panel sends its next event as soon as the previous one is acknowledged)
run in separate processes on this machine, sharing its cores. Every case runs the same simulator command against a bare
baseline server in the same benchmark run: a node:net/dgram server that answers each CR-terminated line with a fixed
30-byte line and does nothing else (the simulator's \`--any-answer\`). That is the physical limit of the machine for
that load; the ratios say what the receiver keeps of it. ${quick ? '1.5' : '6'} s per run; the event mix is
cid=70,sia=20,null=10; the receiver answers every frame after its commit.

${e2eTable(e2e.results)}

Memory: ${e2e.memory === undefined ? 'not measured' : memoryLine(e2e.memory)}

Flood: ${floodLine(flood)}

Pipeline: ${pipelineLine(pipeline)}

## Protocol core, one core (micro)

Median and best of ${micro[0]?.result.samples ?? 0} samples per case after a warm-up, taken round-robin across the
cases so that noise from the shared machine falls on all of them alike. ± is half the spread between the fastest and
slowest sample. This machine is a VM on a shared host and the same build varies by up to ±40% between runs, so the
ratio to the reference workload measured in the same run is the steadier figure.

"Parse" is what the targets measure: envelope, CRC and length checked, decrypted when encrypted, and the
content split into data, extended data and timestamp. "Full decode" adds the Contact ID or SIA events,
code-table lookups and the timestamp window: everything the receiver does before journaling.

${microTable(micro)}
`
writeFileSync(out, md)
log(`wrote ${out}`)
