import type { Logger } from "../logger";
import { isDatabaseConnected } from "../db/connection";
import type { Leases } from "./leases";

export interface BackgroundJob {
  /** Also the lease's name: one instance at a time runs it. */
  readonly name: string;
  /** Pause between runs. */
  readonly everyMs: number;
  /**
   * One run: a bounded amount of work (batches with pauses between them), then return. Returns
   * whether more work is waiting, so the runner comes back at once instead of after everyMs.
   */
  run(signal: AbortSignal): Promise<{ more: boolean }>;
  /**
   * For jobs that learn in-process of new work (a mail queued by a request): called once with
   * a function that makes the job run soon instead of after everyMs.
   */
  attachWake?(wake: () => void): void;
}

/** How long a lease lasts; a run renews it before each batch through `stillHolding`. */
const LEASE_MS = 60_000;

/**
 * Runs background jobs on timers that never keep the process alive, each under a lease so that
 * only one instance runs it at a time. A failed run is logged and retried at the next tick:
 * nothing is lost, because every job finds its work in the database each time.
 */
export class BackgroundJobs {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  /** Jobs in a run now, and those woken during it (they run again right after). */
  private readonly busy = new Set<string>();
  private readonly woken = new Set<string>();

  constructor(
    private readonly jobs: readonly BackgroundJob[],
    private readonly leases: Leases,
    private readonly logger: Logger,
  ) {}

  start(): void {
    for (const job of this.jobs) {
      job.attachWake?.(() => this.wake(job));
      this.schedule(job, jitter(job.everyMs));
    }
  }

  /** Runs the job as soon as it is free, instead of at its next tick. */
  private wake(job: BackgroundJob): void {
    if (this.abort.signal.aborted) return;
    if (this.busy.has(job.name)) {
      this.woken.add(job.name);
      return;
    }
    clearTimeout(this.timers.get(job.name));
    this.schedule(job, 0);
  }

  /** Runs a job now under its lease (tests; operators through a restart). */
  async runOnce(name: string): Promise<{ more: boolean } | "not-leader"> {
    const job = this.jobs.find((j) => j.name === name);
    if (!job) throw new Error(`no background job named ${name}`);
    if (!(await this.leases.acquire(job.name, LEASE_MS))) return "not-leader";
    return job.run(this.abort.signal);
  }

  /** Runs a job until it reports no more work (tests). */
  async runUntilDone(name: string): Promise<void> {
    for (let runs = 0; runs < 1000; runs++) {
      const outcome = await this.runOnce(name);
      if (outcome === "not-leader") throw new Error(`another instance holds the ${name} lease`);
      if (!outcome.more) return;
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
    if (isDatabaseConnected()) {
      await Promise.allSettled(this.jobs.map((job) => this.leases.release(job.name)));
    }
  }

  private schedule(job: BackgroundJob, delayMs: number): void {
    if (this.abort.signal.aborted) return;
    const timer = setTimeout(() => {
      this.busy.add(job.name);
      this.woken.delete(job.name);
      const run = this.tick(job).then((more) => {
        this.busy.delete(job.name);
        const again = more || this.woken.delete(job.name);
        this.schedule(job, again ? 0 : job.everyMs);
      });
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
    }, delayMs);
    timer.unref();
    this.timers.set(job.name, timer);
  }

  private async tick(job: BackgroundJob): Promise<boolean> {
    if (!isDatabaseConnected()) return false;
    try {
      if (!(await this.leases.acquire(job.name, LEASE_MS))) return false;
      return (await job.run(this.abort.signal)).more;
    } catch (error) {
      if (!this.abort.signal.aborted) {
        this.logger.warn({ job: job.name, err: error }, "background job failed; retrying later");
      }
      return false;
    }
  }
}

/** Instances started together should not all knock at the same moment. */
function jitter(ms: number): number {
  return Math.round(ms * (0.5 + Math.random() * 0.5));
}
