// A jest reporter that ends the run with how long each test file took, slowest first, and the sum,
// so the cost of a new suite is visible in every `npm test` (jest alone prints a time only for
// files slower than its threshold).
import path from 'node:path';

export default class SuiteTimesReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.times = [];
    this.started = Date.now();
  }

  onRunStart() {
    this.started = Date.now();
  }

  onTestResult(test, result) {
    const { start, end } = result.perfStats;
    const project = test.context.config.displayName?.name ?? '';
    this.times.push({ file: path.relative(this.rootDir, result.testFilePath), project, ms: end - start, failed: result.numFailingTests > 0 || !!result.testExecError });
  }

  onRunComplete() {
    if (this.times.length === 0) return;
    const sorted = [...this.times].sort((a, b) => b.ms - a.ms);
    const total = sorted.reduce((s, t) => s + t.ms, 0);
    const width = Math.max(...sorted.map((t) => t.file.length));
    const lines = sorted.map((t) => `  ${(t.ms / 1000).toFixed(1).padStart(7)} s  ${t.project.padEnd(4)}  ${t.file.padEnd(width)}${t.failed ? '  FAILED' : ''}`.trimEnd());
    const wall = (Date.now() - this.started) / 1000;
    process.stdout.write(`\nTime per test file (slowest first), ${(total / 1000).toFixed(0)} s in all, ${wall.toFixed(0)} s from start to end:\n${lines.join('\n')}\n`);
  }
}
