/** Placeholder: replaced by the MCP server in a later commit. */
import { CliError } from './cli-context.ts'
import type { Io } from './cli-context.ts'

export function serveStdio(_io: Io): Promise<void> {
  return Promise.reject(new CliError('grapevine mcp is not built yet'))
}
