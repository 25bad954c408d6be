/** What the commands reach the outside world through: the process's streams, or a test's. */
export interface CliDeps {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
  /** All of standard input at once (keys and codes). */
  readonly readStdin: () => string
  /** Standard input as a stream (frames and events, line by line). */
  readonly stdin: NodeJS.ReadableStream
  /** Whether standard error is a terminal: progress lines are drawn there only then. */
  readonly stderrIsTTY: boolean
}
