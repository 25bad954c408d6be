/**
 * `npm run bench`: runs the benchmarks and rewrites docs/benchmarks.md (how they are measured, and
 * the latest figures) from their results. Never edit docs/benchmarks.md by hand. `--quick`: shorter runs and fewer cases (a test runs this so
 * the script cannot rot); `--out FILE`: write there instead. `--case NAME`: run that one case
 * alone (`flood`, `keep-up`, `pipeline`, `million`, `connections`, `cluster`, `outputs`, or an end-to-end case by name)
 * and print its figures as JSON; docs/benchmarks.md is left as it is (with `--quick`, shorter). The million case
 * (never part of the default run: at full size it imports a million accounts and loads the
 * receiver for minutes) takes `--accounts N` and `--seconds S` (of load), and `--cpu-prof DIR` for
 * a CPU profile of the receiver; `--quick` is 20,000 accounts for 6 s. The cluster case (two
 * receivers on a 3-node nats-server cluster; not part of --quick, whose time it would double) takes
 * `--seconds S` (of each throughput run) and `--cpu-prof DIR` (profiles of its receivers). The outputs case (a receiver
 * with each output in turn; not part of --quick either) takes `--seconds S` (of each load run). `--cli FILE`: with `--case`
 * (connections, keep-up or an end-to-end case), measure another build's dc09 (its
 * dist/src/cli/main.js), to compare two builds in the same minute.
 */
import { writeFileSync } from 'node:fs'
import { clusterSection, runClusterBench, SINGLE_NODE_CASE } from './e2e/cluster.js'
import { natsServerPath } from './cluster-harness.js'
import { runConnections, type ConnectionsResult } from './e2e/connections.js'
import { runFlood, type FloodResult } from './e2e/flood.js'
import { runKeepUp, type KeepUpResult } from './e2e/keep-up.js'
import { runMillion } from './e2e/million.js'
import { outputsSection, runOutputsBench } from './e2e/outputs.js'
import { cases, runE2e, type E2eResult } from './e2e/receiver.js'
import { runPipelineBench, type PipelineResult } from './e2e/pipeline.js'
import { fmt, machine } from './harness.js'
import { REFERENCE, runProtocolBench, type MicroCase } from './micro/protocol.js'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const outAt = args.indexOf('--out')
const out = outAt >= 0 ? args[outAt + 1]! : new URL('../../docs/benchmarks.md', import.meta.url).pathname
const caseAt = args.indexOf('--case')
const only = caseAt >= 0 ? args[caseAt + 1] ?? '' : undefined
const cliAt = args.indexOf('--cli')
const log = (s: string) => process.stderr.write(s + '\n')
/** The number after a flag, if the flag is given. */
function numberArg (flag: string): number | undefined {
  const at = args.indexOf(flag)
  if (at < 0) return undefined
  const n = Number(args[at + 1])
  if (!Number.isFinite(n) || n <= 0) {
    log(`${flag} needs a positive number`)
    process.exit(2)
  }
  return n
}

log(`machine: ${machine()}`)
if (only !== undefined) {
  const names = ['flood', 'keep-up', 'pipeline', 'million', 'connections', 'cluster', 'outputs', ...cases(false).map((c) => c.name)]
  if (!names.includes(only)) {
    log(`no case ${JSON.stringify(only)}; the cases: ${names.map((n) => JSON.stringify(n)).join(', ')}`)
    process.exit(2)
  }
  const cli = cliAt >= 0 ? args[cliAt + 1] : undefined
  const runOne = async (): Promise<unknown> => {
    switch (only) {
      case 'flood': return await runFlood({ quick, log })
      case 'keep-up': return await runKeepUp({ quick, log, cli })
      case 'million': return await runMillion({ quick, log, accounts: numberArg('--accounts'), seconds: numberArg('--seconds'), profileDir: args.includes('--cpu-prof') ? args[args.indexOf('--cpu-prof') + 1] : undefined })
      case 'pipeline': return await runPipelineBench({ quick, log })
      case 'connections': return await runConnections({ count: quick ? 1000 : 100_000, log, cli })
      case 'cluster': {
        const r = await runClusterBench({ quick, log, seconds: numberArg('--seconds'), profileDir: args.includes('--cpu-prof') ? args[args.indexOf('--cpu-prof') + 1] : undefined })
        // The section the full run would write, for a reader to see it without rewriting the page.
        log(`\n${clusterSection(r, '')}`)
        return r
      }
      case 'outputs': {
        const r = await runOutputsBench({ quick, log, seconds: numberArg('--seconds') })
        log(`\n${outputsSection(r, '')}`)
        return r
      }
      default: return (await runE2e({ quick: false, log, only: (c) => c.name === only, seconds: quick ? 1.5 : 6, memory: false, cli })).results
    }
  }
  const result = await runOne()
  process.stdout.write(JSON.stringify({ machine: machine(), case: only, result }, null, 2) + '\n')
  process.exit(0)
}
const micro = runProtocolBench(log, quick)
const e2e = await runE2e({ quick, log })
const keepUp = await runKeepUp({ quick, log })
const flood = await runFlood({ quick, log })
const pipeline = await runPipelineBench({ quick, log })
// The cluster case starts three nats-servers and two receivers for minutes: not part of --quick
// (`--case cluster --quick` is its short version).
const clusterWhy = quick
  ? 'not part of --quick; `npm run bench -- --case cluster --quick` runs a short version.'
  : natsServerPath() === undefined ? 'nats-server is not installed (apt-get install -y nats-server).' : ''
const cluster = clusterWhy !== ''
  ? undefined
  : await runClusterBench({ quick, log, singleNode: e2e.results.find((r) => r.case.name === SINGLE_NODE_CASE) })
// The outputs case starts four receivers (one without outputs) and the baseline and waits for each output's backlog: not part of --quick
// either (`--case outputs --quick` is its short version).
const outputsWhy = quick ? 'not part of --quick; `npm run bench -- --case outputs --quick` runs a short version.' : ''
const outputs = quick ? undefined : await runOutputsBench({ quick, log })

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

/** The target of a case, and whether this run met it. */
function e2eTarget (c: E2eResult['case'], tput: number, lat: number): string {
  const met = (ok: boolean) => (ok ? 'met' : '**not met**')
  if (c.connectPerEvent) return ''
  if (c.panels === 1) return 'report: bound by one fdatasync per event'
  if (c.proto === 'tcp' && c.panels === 100) {
    const min = c.aes ? 0.8 : 0.85
    return `throughput >= ${min.toFixed(2)}: ${met(tput >= min)}; p99 <= 2x: ${met(lat <= 2)}`
  }
  if (c.proto === 'tcp' && c.panels === 1000 && c.aes) return `throughput >= 0.80: ${met(tput >= 0.8)}`
  if (c.proto === 'udp' && c.panels === 100) return `throughput >= 0.70: ${met(tput >= 0.7)}`
  return ''
}

function e2eTable (results: E2eResult[]): string {
  const rows = results.map(({ case: c, receiver: r, baseline: b }) => {
    const tput = r.framesPerSecond / b.framesPerSecond
    const lat = r.latencyMs.p99 / b.latencyMs.p99
    const faults = r.failed > 0 ? ` (**${fmt(r.failed)} failed**)` : ''
    return `| ${c.name} | ${fmt(r.framesPerSecond)}${faults} | ${fmt(b.framesPerSecond)} | ${ratio(r.framesPerSecond, b.framesPerSecond)} | ` +
      `${r.latencyMs.p50} / ${r.latencyMs.p99} | ${b.latencyMs.p50} / ${b.latencyMs.p99} | ${ratio(r.latencyMs.p99, b.latencyMs.p99)} | ` +
      `${r.clientCpuUsPerFrame} / ${b.clientCpuUsPerFrame} | ${r.serverCpuUsPerFrame} / ${b.serverCpuUsPerFrame} | ${e2eTarget(c, tput, lat)} |`
  })
  return '| case | receiver frames/s | baseline frames/s | throughput ratio | receiver p50 / p99 ms | baseline p50 / p99 ms | p99 ratio | ' +
    'client CPU µs/frame (receiver / baseline run) | server CPU µs/frame (receiver / baseline) | target |\n' +
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n${rows.join('\n')}`
}

function keepUpLine (k: KeepUpResult): string {
  const met = (ok: boolean) => (ok ? 'met' : '**not met**')
  const secs = k.lagSeconds
  const lagTarget = secs === undefined
    ? 'lag p99 <= 1 s: not measured (the receiver reports its lag in events only)'
    : `lag p99 <= 1 s: ${met(secs.p99 <= 1)}`
  const a = k.alarmToCaseMs
  return `${k.load.panels} AES-128 panels over TCP in ping-pong for ${k.seconds} s, every other frame of a panel a burglary alarm ` +
    `(Contact ID 1130, opens a case) and the next a cancel (1406, closes it): ${fmt(k.load.framesPerSecond)} frames/s` +
    `${k.load.failed > 0 ? ` (**${fmt(k.load.failed)} failed**)` : ''}. Pipeline lag, \`GET /metrics\` every 250 ms from the first frame until caught up ` +
    `(${k.samples} samples): p99 ${fmt(k.lagEvents.p99)} events, max ${fmt(k.lagEvents.max)}` +
    `${secs === undefined ? '' : `; p99 ${secs.p99} s, max ${secs.max} s`}. Caught up ` +
    `${k.catchUpSeconds === undefined ? `**not within ${k.waitedSeconds} s**` : `${k.catchUpSeconds} s after the load stopped`}. ` +
    `${fmt(k.casesOpened)} cases opened for ${fmt(k.alarms)} alarms sent; alarm to case (the case-opened record's time minus its ` +
    `alarm frame's) ${a === undefined ? 'not measured' : `p50 ${fmt(a.p50)} ms, p99 ${fmt(a.p99)} ms, max ${fmt(a.max)} ms`}. ` +
    `Targets: ${lagTarget}; alarm to case p99 <= 1 s: ${a === undefined ? '**not met**' : met(a.p99 <= 1000)}.`
}

function memoryLine (m: ConnectionsResult): string {
  const mib = (n: number) => (n / 2 ** 20).toFixed(0)
  const limited = m.connections < m.wanted
    ? ` The limit on open files here (${fmt(m.fileLimit)}, not raised) allowed ${fmt(m.connections)} of the ${fmt(m.wanted)} connections wanted ` +
      `(all ${fmt(m.wanted)} accounts loaded); at that cost each, ${fmt(m.wanted)} would take about ${mib(m.extrapolatedRssBytes ?? 0)} MiB.`
    : ''
  const total = m.extrapolatedRssBytes ?? m.loadedRssBytes
  const target = m.wanted >= 100_000 ? ` Target: ${fmt(m.wanted)} within 1 GiB: ${total <= 2 ** 30 ? 'met' : '**not met**'}${limited !== '' ? ' (extrapolated)' : ''}.` : ''
  return `${fmt(m.open)} idle TCP panel connections (each on its own account and source address, a NULL link test every 60 s): receiver RSS ${mib(m.loadedRssBytes)} MiB ` +
    `(${mib(m.idleRssBytes)} MiB before they connected, at most ${mib(m.peakRssBytes)} MiB), about ${fmt(m.bytesPerConnection)} bytes per connection; ` +
    `all connected in ${m.connectSeconds.toFixed(1)} s.${limited}${target}` +
    (m.acknowledged >= m.connections ? '' : ` **${fmt(m.connections - m.acknowledged)} link tests were not acknowledged.**`)
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

const md = `# Benchmarks

Generated by \`npm run bench\`${quick ? ' --quick (short runs: indicative only)' : ''} (bench/run.ts); do not edit by hand:
the next run rewrites this page, method and figures together.

## How to run them

\`npm run bench\` builds, then runs every case below in one sitting (about eight minutes, and five more for the outputs) and rewrites this page.
Run it on a machine doing nothing else: the cases load both the receiver and its client to their limit.
\`npm run bench -- --quick --out FILE\` runs short versions of every case and writes the page elsewhere (a test
does this, so the script cannot rot). \`npm run bench -- --case NAME\` runs one case alone and prints its figures as
JSON without touching this page; the names are \`flood\`, \`keep-up\`, \`pipeline\`, \`connections\`, \`million\`
(a million accounts imported, then 100,000 of them reporting: never part of the default run), \`cluster\` (two
receivers on a 3-node nats-server cluster: part of the default run, not of \`--quick\`; \`--case cluster --quick\` is
its short version), \`outputs\` (a receiver with each output in turn: part of the default run, not of \`--quick\`;
\`--case outputs --quick\` is its short version) and each end-to-end case by its name in the table. With \`--case\`, \`--cli OTHER/dist/src/cli/main.js\` measures another build's
receiver instead, so that two builds can be compared in the same minute on the same machine.

How to read the figures:
- A shared or virtual machine varies from run to run (by up to ±40% here). Each end-to-end case is therefore
  measured against a bare baseline server driven by the same client in the same run, and each micro case against
  a reference workload: the ratios are steadier than the raw rates.
- A target is printed next to the case it applies to, with whether this run met it. A target not met is
  reported as such, never hidden.
- One panel that waits for each ACK is bound by one write and one fdatasync per event: that case measures the
  disk, not the receiver.

Machine: ${machine()}

## End to end

The receiver (\`dc09 serve\`, journal on disk with an fdatasync per group, logs at the default level to a file) and a
load client (bench/e2e/load-client.ts) run in separate processes on this machine, sharing its cores. The client is built
to cost as little per frame as it can: its panels are in ping-pong (each sends its next frame as soon as the previous one
is answered), every frame is built from precomputed parts (the header, account and pad fixed; the sequence number, the
event's group and zone and a timestamp renewed once a second written in; one AES call when encrypted), and an answer is
checked by its first bytes only (\`"ACK"\`, or \`"*ACK"\` for an encrypted frame; anything else counts as failed). Every
frame is a Contact ID periodic test that no other frame of its account repeats, so that none is taken for a
retransmission. The full simulator (\`dc09 simulate\`) is for behaviour, not for the limit. Every case runs the same client
against a bare baseline server in the same benchmark run: a node:net/dgram server that answers each CR-terminated line
with a fixed 30-byte line and does nothing else (the client's \`--any-answer\`). That is the machine's limit for that
load; the ratios say what the receiver keeps of it. The CPU columns are the client's CPU time per acknowledged frame
(its own process.cpuUsage) and the server process's (from /proc, the receiver's or the baseline's), read over the
same run. Every run starts once the receiver has gone quiet (its pipeline done with the run before), so that the
baseline does not share the cores with that work. ${quick ? '1' : '6'} s per run; the receiver answers every frame after its commit. The connect-per-event case
opens a new TCP connection for every frame, and its latency includes the connect.

${e2eTable(e2e.results)}

Keep-up: ${keepUpLine(keepUp)}

Memory: ${e2e.memory === undefined ? 'not measured' : memoryLine(e2e.memory)}

Flood: ${floodLine(flood)}

Pipeline: ${pipelineLine(pipeline)}

${clusterSection(cluster, clusterWhy)}
${outputsSection(outputs, outputsWhy)}
## Protocol core, one core (micro)

Median and best of ${micro[0]?.result.samples ?? 0} samples per case after a warm-up, taken round-robin across the
cases so that noise from the shared machine falls on all of them alike. ± is half the spread between the fastest and
slowest sample. This machine is a VM on a shared host and the same build varies by up to ±40% between runs, so the
ratio to the reference workload measured in the same run is the steadier figure.

"Parse" is what the targets measure: envelope, CRC and length checked, decrypted when encrypted, and the
content split into data, extended data and timestamp. "Full decode" adds the Contact ID or SIA events,
code-table lookups and the timestamp window: everything the receiver does before journaling.

${microTable(micro)}

## Other measurements

Two timing tests have pages of their own, each rewritten by its command: \`npm run bench:timing\` writes
[bench/TIMING.md](../bench/TIMING.md), a dudect-style test that disarm-code verification takes the same time whether
the code is valid, wrong, a duress code or for an unknown account; \`npm run bench:isolation\` writes
[bench/ISOLATION.md](../bench/ISOLATION.md), the same kind of test that another tenant's account answers an
installer in the same time as a missing one.
`
writeFileSync(out, md)
log(`wrote ${out}`)
