/**
 * Ends every run with one plain line, "tests: N passed, N failed", that tools outside jest
 * (CI summaries) can read without knowing jest's own format.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed`;
    // At exit, so it comes after jest's own closing lines.
    process.once("exit", () => {
      process.stdout.write(`${skipped > 0 ? `${line}, ${skipped} skipped` : line}\n`);
    });
  }
}

module.exports = SummaryReporter;
