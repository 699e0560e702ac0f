/** Placeholder: replaced by the hooks installer in the next commit. */
import { CliError } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'

export function installCommand(_ctx: Ctx, _opts: object): void {
  throw new CliError('grapevine hooks is not built yet')
}
export const uninstallCommand = installCommand
export const statusCommand = installCommand
