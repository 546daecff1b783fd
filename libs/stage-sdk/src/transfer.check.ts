import { BadSegmentError, ValidationFailedError, validateValue, type TransferDecl } from '@livemesh/contracts';
import type { SegmentScope, StageResult } from './stage.definition.js';

/**
 * Checks what a segment carries in (`Lm-Transfer`) against what the stage reads: a required
 * parameter missing, or any read one off its schema, makes the segment bad input (BadSegmentError:
 * dead-lettered at once, never retried), before the stage sees it. Parameters the stage does not
 * read pass through unchecked: they are meant for stages further down the chain.
 */
export function checkTransferIn(stage: { name: string; transfer?: TransferDecl }, transfer: Record<string, unknown> | undefined): void {
  const problems: string[] = [];
  for (const [name, read] of Object.entries(stage.transfer?.reads ?? {})) {
    const value = transfer?.[name];
    if (value === undefined) {
      if (read.required) problems.push(`transfer.${name}: required by ${stage.name}, but no earlier hop passed it on`);
      continue;
    }
    problems.push(...validateValue(read.schema, value, `transfer.${name}`));
  }
  if (problems.length) throw new BadSegmentError(`segment's transfer parameters do not fit what ${stage.name} reads: ${problems.join('; ')}`);
}

/**
 * Checks what a stage (or a fused hop's stages, `stages`) emitted: each transfer parameter of each
 * output that is new or differs from what came in must be declared in some stage's `emits` and fit
 * its schema. Passing on what came in unchanged is not emitting. A misfit is the stage's error
 * (ValidationFailedError: not retried), named with the stage, the output and the parameter.
 */
export function checkTransferOut(
  stages: readonly { name: string; transfer?: TransferDecl }[],
  input: Record<string, unknown> | undefined,
  result: StageResult,
): void {
  const outputs = Array.isArray(result) ? result : [result];
  const names = stages.map((s) => s.name).join('+');
  const problems: string[] = [];
  outputs.forEach((o, i) => {
    const t = o?.transfer;
    if (t === null || typeof t !== 'object' || Array.isArray(t)) return; // planPublishes names a malformed one
    for (const [name, value] of Object.entries(t)) {
      if (input && name in input && JSON.stringify(input[name]) === JSON.stringify(value)) continue;
      const declaring = [...stages].reverse().find((s) => s.transfer?.emits?.[name] !== undefined);
      const at = `${Array.isArray(result) ? `[${i}].` : ''}transfer.${name}`;
      if (!declaring) problems.push(`${at}: ${names} does not declare emitting "${name}" (add it to transfer.emits)`);
      else problems.push(...validateValue(declaring.transfer!.emits![name]!, value, at));
    }
  });
  if (problems.length) throw new ValidationFailedError(`${names} emitted transfer parameters that do not fit its declaration`, problems);
}

/** The stage's transfer, typed by the stage's author (the reads it declared have been checked: checkTransferIn). */
export function transferOf<T extends object>(ctx: Pick<SegmentScope<object>, 'transfer'>): Partial<T> & Record<string, unknown> {
  return ctx.transfer as Partial<T> & Record<string, unknown>;
}
