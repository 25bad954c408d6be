/**
 * The `outputs` of the receiver's configuration: a list, each with a name, a type, the filter
 * (`kinds`, `tenants`, `personal`) and the type's own options. The command line's shortcuts
 * (`--surgard-port`, `--mqtt`, `--webhook`) add entries of the same form.
 *
 *   { "outputs": [
 *       { "name": "automation", "type": "surgard", "port": 1025 },
 *       { "name": "home", "type": "mqtt", "url": "mqtt://127.0.0.1:1883", "discovery": true },
 *       { "name": "alpha-hook", "type": "webhook", "url": "https://alpha.example/dc09",
 *         "secretFile": "/etc/dc09/alpha-hook.secret", "tenants": ["alpha"] } ] }
 */
import { packageVersion } from '../cli/options.js'
import { err, ok, type Err, type Result } from '../result.js'
import { mqttOutput, parseMqttOptions } from './mqtt.js'
import { DEFAULT_KINDS, EVENT_KINDS, type EventKind, type Output } from './output.js'
import type { OutputFilter } from './runner.js'
import type { ConfiguredOutput } from './set.js'
import { surgardOutput } from './surgard/output.js'
import { parseSurgardOptions } from './surgard/records.js'
import { parseWebhookOptions, webhookOutput } from './webhook.js'

export class OutputConfigError extends Error {
  readonly code = 'DC09_ERR_OUTPUT_CONFIG'
}

/** An output as configured, checked. */
export interface OutputConfig {
  readonly name: string
  readonly type: OutputType
  readonly filter: OutputFilter
  /** The type's own options, checked by its parser. */
  readonly options: unknown
}

type OutputType = 'surgard' | 'mqtt' | 'webhook'
/** What a type's parser answers: its options, or why not. */
type Parsed = { readonly ok: true, readonly value: unknown } | { readonly ok: false, readonly reason: string }
/** Per type: its options' parser and its factory. */
const TYPES: Readonly<Record<OutputType, { parse: (raw: unknown, env: NodeJS.ProcessEnv) => Parsed, make: (name: string, options: never) => Output }>> = {
  surgard: { parse: (raw) => parseSurgardOptions(raw), make: surgardOutput },
  mqtt: { parse: (raw, env) => parseMqttOptions(raw, env), make: mqttOutput },
  webhook: { parse: (raw) => parseWebhookOptions(raw), make: (name, options) => webhookOutput(name, options, { version: packageVersion() }) },
}

/** Most outputs one receiver runs, and most tenants one output names. */
export const MAX_OUTPUTS = 16
export const MAX_TENANTS = 1000
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/
const COMMON = new Set(['name', 'type', 'kinds', 'tenants', 'personal', 'from'])

const bad = (reason: string): Err<'DC09_ERR_OUTPUT_CONFIG'> => err('DC09_ERR_OUTPUT_CONFIG', reason)

function parseOne (raw: unknown, i: number, env: NodeJS.ProcessEnv): Result<OutputConfig, Err> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad(`outputs[${i}] must be an object`)
  const o = raw as Record<string, unknown>
  if (typeof o.name !== 'string' || !NAME_RE.test(o.name)) return bad(`outputs[${i}].name must be 1 to 32 letters, digits, - or _ (starting with a letter or digit)`)
  const name = o.name
  if (typeof o.type !== 'string' || !Object.hasOwn(TYPES, o.type)) return bad(`output ${name}: type must be one of ${Object.keys(TYPES).join(', ')}`)
  const type = o.type as OutputType
  // Automation software takes what panels and the receiver report, not the pipeline's own events
  // (cases, verifications): it keeps its own.
  let kinds: readonly EventKind[] = type === 'surgard' ? DEFAULT_KINDS.filter((k) => k !== 'pipeline') : DEFAULT_KINDS
  if (o.kinds !== undefined) {
    if (!Array.isArray(o.kinds) || o.kinds.length === 0 || o.kinds.length > EVENT_KINDS.length * 2 || !o.kinds.every((k) => typeof k === 'string' && (EVENT_KINDS as readonly string[]).includes(k))) {
      return bad(`output ${name}: kinds must be a non-empty list of ${EVENT_KINDS.join(', ')}`)
    }
    kinds = o.kinds as EventKind[]
  }
  let tenants: Set<string> | undefined
  if (o.tenants !== undefined) {
    if (!Array.isArray(o.tenants) || o.tenants.length === 0 || o.tenants.length > MAX_TENANTS || !o.tenants.every((t) => typeof t === 'string' && t.length > 0 && t.length <= 64)) {
      return bad(`output ${name}: tenants must be a list of 1 to ${MAX_TENANTS} tenant names`)
    }
    tenants = new Set(o.tenants as string[])
  }
  if (o.personal !== undefined && typeof o.personal !== 'boolean') return bad(`output ${name}: personal must be true or false`)
  if (o.from !== undefined && o.from !== 'next' && o.from !== 'beginning') return bad(`output ${name}: from must be "next" (the default: a new output starts with the next event) or "beginning" (the whole journal)`)
  const own: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (!COMMON.has(k)) own[k] = v
  const parsed = TYPES[type].parse(own, env)
  if (!parsed.ok) return bad(`output ${name}: ${parsed.reason}`)
  return ok({ name, type, filter: { kinds: new Set(kinds), tenants, personal: o.personal === true, fromBeginning: o.from === 'beginning' }, options: parsed.value })
}

/** Checks the `outputs` list (reading the secret files it names). */
export function parseOutputs (raw: unknown, env: NodeJS.ProcessEnv = process.env): Result<OutputConfig[], Err> {
  if (raw === undefined) return ok([])
  if (!Array.isArray(raw)) return bad('outputs must be a list')
  if (raw.length > MAX_OUTPUTS) return bad(`at most ${MAX_OUTPUTS} outputs`)
  const out: OutputConfig[] = []
  const names = new Set<string>()
  for (let i = 0; i < raw.length; i++) {
    const r = parseOne(raw[i], i, env)
    if (!r.ok) return r
    if (names.has(r.value.name)) return bad(`two outputs are named ${r.value.name}`)
    names.add(r.value.name)
    out.push(r.value)
  }
  return ok(out)
}

/**
 * A maker of the configured outputs: checks them now (throws OutputConfigError with the reason),
 * and makes a fresh set each time it is called (a cluster node makes them anew each time it
 * takes the pipeline's lease).
 */
export function makeOutputs (raw: readonly unknown[], env: NodeJS.ProcessEnv = process.env): () => ConfiguredOutput[] {
  const parsed = parseOutputs(raw, env)
  if (!parsed.ok) throw new OutputConfigError(parsed.reason)
  const configs = parsed.value
  return () => configs.map((c) => ({ output: TYPES[c.type].make(c.name, c.options as never), filter: c.filter }))
}

/** The command line's shortcuts, as `outputs` entries (named after their type). */
export interface OutputShortcuts {
  readonly surgardPort?: number | undefined
  readonly surgardHost?: string | undefined
  readonly mqtt?: string | undefined
  readonly webhook?: string | undefined
  readonly webhookSecretFile?: string | undefined
}

export function shortcutOutputs (s: OutputShortcuts): unknown[] {
  const out: unknown[] = []
  if (s.surgardPort !== undefined) out.push({ name: 'surgard', type: 'surgard', port: s.surgardPort, ...(s.surgardHost === undefined ? {} : { host: s.surgardHost }) })
  if (s.mqtt !== undefined) out.push({ name: 'mqtt', type: 'mqtt', url: s.mqtt })
  if (s.webhook !== undefined) out.push({ name: 'webhook', type: 'webhook', url: s.webhook, ...(s.webhookSecretFile === undefined ? {} : { secretFile: s.webhookSecretFile }) })
  return out
}
