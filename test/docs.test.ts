/**
 * The documentation is tested: README.md and every docs/*.md, the way a reader would use them.
 *
 * Each document runs in order, in a fresh empty temporary directory of its own (also its HOME),
 * in one simulated terminal whose working directory and shell variables carry from one block to
 * the next, as they would for a reader typing them. Every block runs with `bash -euo pipefail`,
 * stdin empty, stdout and stderr together (as a terminal shows them). npm's global prefix points
 * into the temporary directory, so nothing a document installs reaches the machine; it holds what
 * README's `npm install -g .` leaves there (the package linked to this checkout, `dc09` on PATH
 * running its built CLI: `npm run build` first), except for README itself, which runs that install. DC09_* variables and
 * npm's own variables are not passed on: a document sets what it needs.
 *
 * Fenced blocks, by their info string:
 *   ```sh                  run; must exit 0 within 60 s. Background jobs it starts (`&`) are
 *                          stopped when it ends: a long-running command is a second-terminal block.
 *   ```sh second-terminal  a long-running command (`dc09 serve ...`). The paragraph before it must
 *                          say "second terminal". It starts in the terminal's current directory
 *                          with none of the variables the document set (a new terminal has none),
 *                          in the background; the test waits (at most 30 s) until it logs
 *                          `"msg":"listening"` (what `dc09 serve` logs once it takes panels, after
 *                          its HTTP interface is up), and stops it by its process group id with
 *                          SIGTERM (as Ctrl-C would; SIGKILL after 20 s) when the document ends
 *                          or fails, or when the next second-terminal block starts: there is one
 *                          second terminal, so a document can restart the receiver or replace
 *                          the demo's with another ("Ctrl-C in the second terminal, then ...").
 *                          A NATS server's "Server is ready" counts as listening too.
 *   ```sh third-terminal   (and fourth-, fifth-) more terminals, each like the second, all running
 *                          at once: a cluster's servers and receivers. The paragraph before says
 *                          "third terminal". A document whose blocks run `nats-server` (or
 *                          `mosquitto`) is skipped, with one line that says so, when it is not installed.
 *   ```sh ci               commands CI runs verbatim (`npm ci`, `npm test`): not run here (they
 *                          install and test the checkout itself); each line must be a line of .ci/run.
 *   ```sh checkout         commands run in the root of a checkout of this repository, not in the
 *                          empty directory: README's `npm install -g .`, which puts `dc09` on PATH.
 *                          A reader runs it where they ran `npm ci`; the test runs it in this
 *                          checkout with npm's prefix in the temporary directory and scripts off
 *                          (`npm ci` has already built dist/, and rebuilding it here would race
 *                          the other test files that run it). Its later blocks use the `dc09` it
 *                          installed.
 *   ```text                directly after a run block (only blank lines between): that block's
 *                          output, checked line by line after trimming trailing spaces; a line
 *                          `...` matches any number of lines, `<...>` in a line matches any text.
 * Other runnable-looking tags (bash, shell, console, zsh) are refused: they would escape the test.
 * `npx dc09` is refused too: outside the checkout npx would fetch a package of that name.
 *
 * The examples use the default ports (9000 for panels, 9080 for HTTP): the other tests listen on
 * port 0. A second-terminal block whose port is taken fails with a message that says so.
 *
 * Also checked: README.md is at most 200 lines; every relative link in README and docs points at a
 * file that exists in the repository (and its #anchor at a heading there); no document names a
 * Markdown file outside it; every route of the HTTP interface is in the route table of
 * docs/http-api.md, with who may call it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { ROUTES } from '../src/api/routes/index.js'
import { natsServerPath } from './cluster/nats.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js')
const BLOCK_TIMEOUT_MS = 60_000
const READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 20_000
/**
 * What a long-running block prints once it serves: `dc09 serve`, a NATS server, mosquitto, a
 * document's own server (`listening on 127.0.0.1:PORT`), or `dc09 surgard-client` once connected.
 */
const READY = /"msg":"listening"|Server is ready|mosquitto version \S+ running|listening on 127\.0\.0\.1:\d+|surgard-client: connected/
const README_MAX_LINES = 200

/** Whether the MQTT broker and its command-line clients a document runs are installed. */
function mosquittoInstalled (): boolean {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin']
  return dirs.some((d) => existsSync(join(d, 'mosquitto'))) && dirs.some((d) => existsSync(join(d, 'mosquitto_sub')))
}

type Kind = 'run' | 'second-terminal' | 'ci' | 'checkout'

/** Terminals besides the first, by their tag: `sh second-terminal`, `sh third-terminal`, ... */
const TERMINALS = ['second', 'third', 'fourth', 'fifth'] as const

interface Fence { readonly info: string, readonly text: string, readonly line: number, readonly before: string, readonly gapBefore: boolean }
interface Step {
  readonly kind: Kind
  readonly text: string
  readonly line: number
  readonly expected?: string | undefined
  /** A long-running block's terminal (`second`, `third`, ...). */
  readonly terminal?: string | undefined
}

/** Documents in the order they are run: the README, then docs/ by name (new ones are picked up). */
function documents (): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)
  return ['README.md', ...docs]
}

const read = (doc: string): string => readFileSync(join(ROOT, doc), 'utf8')

/** Fenced blocks with their info string, first line number, and the prose just before them. */
function fences (source: string): Fence[] {
  const lines = source.split('\n')
  const out: Fence[] = []
  let prose: string[] = []
  let lastFenceEnd = -2
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!)
    if (open === null) {
      if (lines[i]!.trim() !== '') prose.push(lines[i]!)
      continue
    }
    const marker = open[1]!
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !(lines[i]!.trim().startsWith(marker[0]!.repeat(marker.length)) && lines[i]!.trim().replace(/[`~]/g, '') === ''); i++) body.push(lines[i]!)
    const gapBefore = lines.slice(lastFenceEnd + 1, start).some((l) => l.trim() !== '')
    out.push({ info: open[2]!.trim(), text: body.join('\n'), line: start + 1, before: prose.slice(-6).join('\n'), gapBefore })
    prose = []
    lastFenceEnd = i
  }
  return out
}

/** The steps of a document: its shell blocks, each with the output it must print, if shown. */
function steps (doc: string, source: string): Step[] {
  const out: Step[] = []
  const all = fences(source)
  for (let n = 0; n < all.length; n++) {
    const f = all[n]!
    const [lang = '', ...rest] = f.info.split(/\s+/)
    const where = `${doc}:${f.line}`
    if (['bash', 'shell', 'console', 'zsh', 'shell-session'].includes(lang)) throw new Error(`${where}: a \`\`\`${lang} block is not run by the docs test; tag commands to run \`\`\`sh, anything else text`)
    if (lang !== 'sh') continue
    const tag = rest.join(' ')
    const terminal = TERMINALS.find((t) => tag === `${t}-terminal`)
    const kind: Kind | undefined = tag === '' ? 'run' : terminal !== undefined ? 'second-terminal' : tag === 'ci' ? 'ci' : tag === 'checkout' ? 'checkout' : undefined
    if (kind === undefined) throw new Error(`${where}: unknown block kind "sh ${tag}" (sh, sh second-terminal (or third-, fourth-, fifth-), sh ci, sh checkout)`)
    if (/\bnpx\s+dc09\b/.test(f.text)) throw new Error(`${where}: use dc09 (on PATH), not npx dc09: outside the checkout npx would fetch a package of that name`)
    if (terminal !== undefined && !new RegExp(`${terminal} terminal`, 'i').test(f.before)) throw new Error(`${where}: the text before a ${terminal}-terminal block must say "${terminal} terminal"`)
    const next = all[n + 1]
    const expected = next !== undefined && next.info === 'text' && !next.gapBefore ? next.text : undefined
    if (expected !== undefined && kind !== 'run') throw new Error(`${where}: only a plain sh block's output is checked; show the output of a ${kind} block in prose`)
    out.push({ kind, text: f.text, line: f.line, expected, ...(terminal === undefined ? {} : { terminal }) })
    if (expected !== undefined) n++
  }
  return out
}

/** Whether `actual` is what `expected` shows: `...` lines match any lines, `<...>` any text in a line. */
function matches (expected: string, actual: string): boolean {
  const clean = (s: string): string[] => {
    const lines = s.split('\n').map((l) => l.trimEnd())
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
    return lines
  }
  const want = clean(expected)
  const got = clean(actual)
  const lineRe = want.map((w) => new RegExp('^' + w.split('<...>').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$'))
  // ok[i][j]: want[i..] matches got[j..]
  const ok: boolean[][] = Array.from({ length: want.length + 1 }, () => new Array<boolean>(got.length + 1).fill(false))
  ok[want.length]![got.length] = true
  for (let i = want.length - 1; i >= 0; i--) {
    for (let j = got.length; j >= 0; j--) {
      ok[i]![j] = want[i] === '...'
        ? ok[i + 1]![j]! || (j < got.length && ok[i]![j + 1]!)
        : j < got.length && lineRe[i]!.test(got[j]!) && ok[i + 1]![j + 1]!
    }
  }
  return ok[0]![0]!
}

/** The environment every block starts from: no DC09_* or npm_* variables, npm's prefix in `dir`. */
function baseEnv (dir: string, home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(DC09_|npm_|INIT_CWD$|NODE_OPTIONS$|VITEST|TEST$)/i.test(k)) continue
    env[k] = v
  }
  const prefix = join(dir, '.npm-global')
  // vitest runs under npm or npx, which put node_modules/.bin first: a reader's PATH has no such entry.
  const inherited = (process.env.PATH ?? '').split(':').filter((p) => !p.includes(`node_modules${sep}.bin`))
  const path = [join(prefix, 'bin'), dirname(process.execPath), ...inherited]
  return { ...env, HOME: home, PATH: path.join(':'), npm_config_prefix: prefix, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', NO_COLOR: '1' }
}

/** Saves the terminal's state when a block ends (its directory, the variables set), for the next block. */
const SAVE_STATE = String.raw`
__dc09_save () {
  local rc=$?
  pwd > "$__DC09_CWD" 2>/dev/null || true
  for __n in $(compgen -v); do
    case $__n in BASH*|SHELLOPTS|BASHOPTS|PPID|UID|EUID|SHLVL|_|PWD|OLDPWD|PIPESTATUS|FUNCNAME|GROUPS|RANDOM|SRANDOM|SECONDS|LINENO|HISTCMD|EPOCH*|DIRSTACK|COMP_*|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|OPTIND|OPTARG|OPTERR|IFS|PS1|PS2|PS4|__*) ;;
      *) declare -p "$__n" 2>/dev/null ;;
    esac
  done > "$__DC09_STATE" 2>/dev/null || true
  return $rc
}
trap __dc09_save EXIT
`

/** The terminal a document's blocks share: where it is, and the variables set so far. */
interface Terminal { readonly env: NodeJS.ProcessEnv, readonly state: string, readonly cwd: string }

const running = new Set<ChildProcess>()

/** Stops a process group started here, by its id: SIGTERM, then SIGKILL if it lingers. */
async function stop (child: ChildProcess): Promise<void> {
  if (child.pid === undefined) return
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  const kill = (signal: NodeJS.Signals): void => { try { process.kill(-child.pid!, signal) } catch { /* already gone */ } }
  kill('SIGTERM')
  const timer = setTimeout(() => kill('SIGKILL'), STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
  kill('SIGKILL') // anything the block left in its group
  running.delete(child)
}

function start (script: string, cwd: string, env: NodeJS.ProcessEnv): { child: ChildProcess, output: () => string } {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', `exec 2>&1\n${script}`], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  return { child, output: () => out }
}

const portHint = (out: string): string => /EADDRINUSE/.test(out) ? '\n(a port it needs is taken: the examples use 9000 and 9080; stop whatever listens there)' : ''

function failure (doc: string, step: Step, what: string, output: string): Error {
  return new Error(`${doc}:${step.line}: ${what}\n--- block ---\n${step.text}\n--- output ---\n${output}${portHint(output)}`)
}

/** Runs one block in the terminal, in `cwd`, within the block timeout; returns what it printed. */
async function runBlock (doc: string, step: Step, cwd: string, t: Terminal, extra: NodeJS.ProcessEnv = {}): Promise<string> {
  const script = `${SAVE_STATE}\nsource ${JSON.stringify(t.state)}\n${step.text}\n`
  const { child, output } = start(script, cwd, { ...t.env, ...extra, __DC09_STATE: t.state, __DC09_CWD: t.cwd })
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }, BLOCK_TIMEOUT_MS)
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  // Background jobs do not outlive their block (a long-running command is a second-terminal block).
  try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ }
  running.delete(child)
  // Everything it printed, once every holder of its output has gone (or after 5 s, if one escaped the group).
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000).unref())])
  if (timedOut) throw failure(doc, step, `did not finish within ${BLOCK_TIMEOUT_MS / 1000} s`, output())
  if (code !== 0) throw failure(doc, step, `exit code ${String(code)}`, output())
  return output()
}

async function startSecond (doc: string, step: Step, cwd: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const { child, output } = start(step.text, cwd, env)
  const ready = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), READY_TIMEOUT_MS)
    const check = (): void => { if (READY.test(output())) { clearTimeout(timer); resolve('ready') } }
    child.stdout!.on('data', check)
    child.stderr!.on('data', check)
    child.once('exit', () => { clearTimeout(timer); resolve(READY.test(output()) ? 'ready' : 'exit') })
  })
  if (ready === 'ready' && child.exitCode === null) return child
  await stop(child)
  throw failure(doc, step, ready === 'timeout' ? `did not log that it listens within ${READY_TIMEOUT_MS / 1000} s` : 'exited before it listened', output())
}

function checkCi (doc: string, step: Step): void {
  const ci = read('.ci/run').split('\n').map((l) => l.trim())
  for (const line of step.text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue
    if (!ci.includes(line)) throw failure(doc, step, `"${line}" is not a command of .ci/run, which CI runs`, read('.ci/run'))
  }
}

/** Runs every step of a document; stops what it started, whatever happens. */
async function runDocument (doc: string, list: Step[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-docs-'))
  /** What runs in each terminal besides the first. */
  const background = new Map<string, ChildProcess>()
  try {
    if (!list.some((s) => s.kind === 'checkout')) {
      // What README's `npm install -g .` leaves in npm's global prefix: the package linked to the
      // checkout (so `npm link dc09` works, as docs/pipeline.md does) and `dc09` on PATH.
      const prefix = join(dir, '.npm-global')
      mkdirSync(join(prefix, 'lib', 'node_modules'), { recursive: true })
      symlinkSync(ROOT, join(prefix, 'lib', 'node_modules', 'dc09'))
      mkdirSync(join(prefix, 'bin'))
      writeFileSync(join(prefix, 'bin', 'dc09'), `#!/usr/bin/env bash\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 })
    }
    const home = join(dir, 'home')
    mkdirSync(home)
    const t: Terminal = { env: baseEnv(dir, home), state: join(dir, '.state'), cwd: join(dir, '.cwd') }
    writeFileSync(t.state, '')
    writeFileSync(t.state + '-checkout', '')
    writeFileSync(t.cwd, home + '\n')
    const cwd = (): string => readFileSync(t.cwd, 'utf8').replace(/\n$/, '')
    for (const step of list) {
      if (step.kind === 'ci') { checkCi(doc, step); continue }
      if (step.kind === 'second-terminal') {
        // What runs in that terminal is stopped (Ctrl-C) before the next command there.
        const terminal = step.terminal ?? 'second'
        const before = background.get(terminal)
        if (before !== undefined) await stop(before)
        background.set(terminal, await startSecond(doc, step, cwd(), t.env))
        continue
      }
      // A checkout block runs in the checkout; the terminal stays where it was, with its variables.
      const output = step.kind === 'checkout'
        ? await runBlock(doc, step, ROOT, { env: t.env, state: t.state + '-checkout', cwd: t.cwd + '-checkout' }, { npm_config_ignore_scripts: 'true' })
        : await runBlock(doc, step, cwd(), t)
      if (step.expected !== undefined && !matches(step.expected, output)) {
        throw failure(doc, step, `printed something other than the output shown after it\n--- shown ---\n${step.expected}`, output)
      }
    }
  } finally {
    // The last started first: receivers before the servers they use.
    for (const child of [...background.values()].reverse()) await stop(child)
    rmSync(dir, { recursive: true, force: true })
  }
}

// A test that times out leaves its promise running: whatever it started is stopped here.
afterEach(async () => { for (const child of [...running]) await stop(child) })
afterAll(async () => { for (const child of [...running]) await stop(child) })
// They run in process groups of their own, so nothing else would stop them if this process ends first.
process.once('exit', () => { for (const child of running) { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } } })

describe('every shell block of the documentation runs as written', () => {
  it('finds the built CLI (npm run build)', () => {
    expect(existsSync(CLI), `${CLI}: run npm run build first`).toBe(true)
  })
  for (const doc of documents()) {
    const list = steps(doc, read(doc))
    const budget = list.length * BLOCK_TIMEOUT_MS + list.filter((s) => s.kind === 'second-terminal').length * (READY_TIMEOUT_MS + STOP_TIMEOUT_MS) + 30_000
    // A document that runs NATS servers needs nats-server (CI installs it; say so once here).
    const needsNats = list.some((s) => /\bnats-server\b/.test(s.text)) && natsServerPath() === undefined
    if (needsNats) console.log(`${doc}: nats-server is not installed: its blocks are skipped (apt-get install -y nats-server)`)
    const needsMosquitto = list.some((s) => /\bmosquitto\b/.test(s.text)) && !mosquittoInstalled()
    if (needsMosquitto) console.log(`${doc}: mosquitto is not installed: its blocks are skipped (apt-get install -y mosquitto mosquitto-clients)`)
    it.skipIf(list.length === 0 || needsNats || needsMosquitto)(doc, async () => { await runDocument(doc, list) }, budget)
  }
})

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

function anchors (source: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  const text = source.replace(/^ {0,3}(`{3,}|~{3,})[\s\S]*?^ {0,3}\1\s*$/gm, '')
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1]!)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** Relative links of a document (outside code), as written. */
function links (source: string): string[] {
  const text = source.replace(/^ {0,3}(`{3,}|~{3,})[\s\S]*?^ {0,3}\1\s*$/gm, '').replace(/`[^`\n]*`/g, '')
  const out: string[] = []
  for (const m of text.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue
    out.push(target)
  }
  return out
}

describe('the documentation', () => {
  it(`README.md is at most ${README_MAX_LINES} lines`, () => {
    const lines = read('README.md').replace(/\n$/, '').split('\n').length
    expect(lines).toBeLessThanOrEqual(README_MAX_LINES)
  })

  it('links only to files and headings that exist in the repository', () => {
    const broken: string[] = []
    for (const doc of documents()) {
      for (const target of links(read(doc))) {
        const [path = '', anchor] = target.split('#')
        const file = path === '' ? join(ROOT, doc) : resolve(dirname(join(ROOT, doc)), decodeURIComponent(path))
        const rel = relative(ROOT, file)
        if (rel.startsWith('..') || rel.split(sep)[0] === 'node_modules') { broken.push(`${doc}: ${target} is outside the repository`); continue }
        if (!existsSync(file)) { broken.push(`${doc}: ${target}: no such file`); continue }
        if (anchor !== undefined && anchor !== '') {
          if (!file.endsWith('.md') || statSync(file).isDirectory()) { broken.push(`${doc}: ${target}: an anchor into a file that is not Markdown`); continue }
          if (!anchors(readFileSync(file, 'utf8')).has(anchor)) broken.push(`${doc}: ${target}: no such heading`)
        }
      }
    }
    expect(broken).toEqual([])
  })

  it('names no Markdown file outside the repository', () => {
    const found: string[] = []
    const names = markdownNames()
    for (const doc of documents()) {
      // Links are checked above; what is left are names in the text, as `bench/RESULTS.md` or NOTES.md.
      const source = read(doc).replace(/\]\([^)]*\)/g, ']')
      for (const m of source.matchAll(/(?<![\w/.-])((?:\.{1,2}\/|\/)?[\w./-]*\w\.md)\b/g)) {
        const name = m[1]!
        const here = (file: string): boolean => inRepo(file)
        const exists = name.includes('/')
          ? !name.startsWith('/') && (here(resolve(ROOT, name)) || here(resolve(dirname(join(ROOT, doc)), name)))
          : names.has(name)
        if (!exists) found.push(`${doc}: ${name}`)
      }
      for (const m of source.matchAll(/\.\.\/shared|\/work\//g)) found.push(`${doc}: ${m[0]}`)
    }
    expect(found).toEqual([])
  })

  // The route table in the HTTP interface's document is the route table: a route added without
  // documenting it, or with other roles than documented, fails here.
  it('docs/http-api.md documents every route, with who may call it', () => {
    const doc = read('docs/http-api.md')
    for (const r of ROUTES) {
      const path = r.path.replace(/:([a-z]+)/g, '{$1}')
      const roles = r.roles.length === 0 ? 'anyone (no token)' : r.roles.join(', ')
      expect(doc, `${r.method} ${path}`).toContain(`| \`${r.method} ${path}\` | ${roles} |`)
    }
  })
})

const inRepo = (file: string): boolean => !relative(ROOT, file).startsWith('..') && existsSync(file)

/** The names of the repository's Markdown files (a bare name in a document must be one of them). */
function markdownNames (): Set<string> {
  const names = new Set<string>()
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.') || ['node_modules', 'dist', 'coverage'].includes(e.name)) continue
      if (e.isDirectory()) walk(join(dir, e.name))
      else if (e.name.endsWith('.md')) names.add(e.name)
    }
  }
  walk(ROOT)
  return names
}

describe('the docs runner itself', () => {
  it('matches output line by line, with ... for any lines and <...> for any text', () => {
    expect(matches('a\nb', 'a  \nb\n\n')).toBe(true)
    expect(matches('a\nb', 'a\nc')).toBe(false)
    expect(matches('a\n...\nd', 'a\nb\nc\nd')).toBe(true)
    expect(matches('a\n...\nd', 'a\nd')).toBe(true)
    expect(matches('a\n...', 'a')).toBe(true)
    expect(matches('a', 'a\nb')).toBe(false)
    expect(matches('{"ok":true,<...>}', '{"ok":true,"seq":"0001"}')).toBe(true)
    expect(matches('{"ok":true,<...>}', '{"ok":false,"seq":"0001"}')).toBe(false)
    expect(matches('x (1.5)', 'x (145)')).toBe(false)
  })

  it('reads the kinds of block, their expected output, and refuses what would escape the test', () => {
    const doc = [
      'Run:', '```sh', 'echo hi', '```', '', '```text', 'hi', '```',
      'In a second terminal:', '```sh second-terminal', 'dc09 serve', '```',
      '```sh ci', 'npm ci', '```', '```json', '{}', '```', '```sh', 'true', '```', 'prose', '```text', 'not checked', '```',
    ].join('\n')
    expect(steps('d.md', doc)).toEqual([
      { kind: 'run', text: 'echo hi', line: 2, expected: 'hi' },
      { kind: 'second-terminal', text: 'dc09 serve', line: 10, expected: undefined, terminal: 'second' },
      { kind: 'ci', text: 'npm ci', line: 13, expected: undefined },
      { kind: 'run', text: 'true', line: 19, expected: undefined },
    ])
    expect(steps('d.md', 'In a third terminal:\n```sh third-terminal\nnats-server\n```')).toEqual([{ kind: 'second-terminal', text: 'nats-server', line: 2, expected: undefined, terminal: 'third' }])
    expect(() => steps('d.md', 'In a second terminal:\n```sh third-terminal\nnats-server\n```')).toThrow(/third terminal/)
    expect(() => steps('d.md', '```sh\nnpx dc09 decode\n```')).toThrow(/not npx dc09/)
    expect(() => steps('d.md', 'Start it:\n```sh second-terminal\ndc09 serve\n```')).toThrow(/second terminal/)
    expect(() => steps('d.md', '```bash\nls\n```')).toThrow(/not run/)
    expect(() => steps('d.md', '```sh later\nls\n```')).toThrow(/unknown block kind/)
  })

  it('makes GitHub\'s anchors', () => {
    expect(slug('The HTTP interface')).toBe('the-http-interface')
    expect(slug('`dc09 decode`: what is in a frame')).toBe('dc09-decode-what-is-in-a-frame')
  })
})
