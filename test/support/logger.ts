// A Nest logger for apps run in-process by e2e tests, so a test can assert on what they logged.
import type { LoggerService } from '@nestjs/common';

/** Keeps every log line; prints errors so a failing run explains itself. */
export class CapturingLogger implements LoggerService {
  readonly lines: { level: string; text: string; message: string }[] = [];
  private add(level: string, message: unknown, context?: unknown): void {
    const text = `${typeof context === 'string' ? `[${context}] ` : ''}${String(message)}`;
    this.lines.push({ level, text, message: String(message) });
    if (level === 'error') console.error(text);
  }
  log(m: unknown, c?: unknown): void { this.add('log', m, c); }
  error(m: unknown, _trace?: unknown, c?: unknown): void { this.add('error', m, c); }
  warn(m: unknown, c?: unknown): void { this.add('warn', m, c); }
  debug(m: unknown, c?: unknown): void { this.add('debug', m, c); }
  verbose(m: unknown, c?: unknown): void { this.add('verbose', m, c); }
  /** The messages logged as warnings, without their context, oldest first. */
  get warnings(): string[] {
    return this.lines.filter((l) => l.level === 'warn').map((l) => l.message);
  }
  text(): string {
    return this.lines.map((l) => l.text).join('\n');
  }
}
