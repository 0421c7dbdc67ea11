import { Worker } from "node:worker_threads";

/** What a pool worker posts back for each message it was given, in order. */
export type WorkerReply = { ok: true; value: unknown } | { ok: false; error: string };

export interface WorkerPoolOptions {
  /** Most threads running at once; each is started when first needed. */
  size: number;
  /**
   * CommonJS source of the worker, run with `eval: true` so the same string works under
   * ts-jest (no .js file on disk) and from dist/. It answers each message with a WorkerReply.
   */
  source: string;
  workerData?: unknown;
}

interface Task {
  readonly message: unknown;
  /** Called when a thread takes the task: the end of its wait in the queue. */
  readonly onStart: (() => void) | undefined;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  task: Task | undefined;
}

/**
 * A fixed-size pool of worker threads for CPU-bound calls that would otherwise stall the event
 * loop. Calls beyond the pool size wait in a FIFO queue. A worker that dies fails only the call
 * it was running and is replaced on the next call. Idle workers are unref'd so a process (or a
 * jest worker) whose pool was never closed can still exit.
 */
export class WorkerPool {
  private readonly slots = new Set<Slot>();
  private readonly idle: Slot[] = [];
  private readonly queue: Task[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly options: WorkerPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new RangeError(`worker pool size must be a whole number ≥ 1, got ${options.size}`);
    }
  }

  /** Threads currently started (busy or idle). */
  get threads(): number {
    return this.slots.size;
  }

  /** Calls waiting for a thread (not counting the ones running). */
  get waiting(): number {
    return this.queue.length;
  }

  /** `onStart` runs when a thread takes the call, so a caller can tell waiting from working. */
  run<T>(message: unknown, onStart?: () => void): Promise<T> {
    if (this.closing) return Promise.reject(new Error("the worker pool is closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ message, onStart, resolve: resolve as (value: unknown) => void, reject });
      this.pump();
    });
  }

  /** Fails queued and running calls and terminates every thread. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const task of this.queue.splice(0)) task.reject(new Error("the worker pool is closed"));
      this.idle.length = 0;
      await Promise.all([...this.slots].map((slot) => slot.worker.terminate()));
    })();
    return this.closing;
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.closing) {
      const slot = this.idle.pop() ?? this.start();
      if (!slot) return;
      this.assign(slot, this.queue.shift()!);
    }
  }

  private assign(slot: Slot, task: Task): void {
    slot.task = task;
    task.onStart?.();
    // A busy worker must keep the process alive: its caller is waiting for the answer.
    slot.worker.ref();
    slot.worker.postMessage(task.message);
  }

  private start(): Slot | undefined {
    if (this.slots.size >= this.options.size) return undefined;
    const worker = new Worker(this.options.source, {
      eval: true,
      workerData: this.options.workerData,
    });
    const slot: Slot = { worker, task: undefined };
    this.slots.add(slot);

    worker.on("message", (reply: WorkerReply) => {
      const task = slot.task;
      slot.task = undefined;
      if (task) {
        if (reply.ok) task.resolve(reply.value);
        else task.reject(new Error(reply.error));
      }
      const next = this.closing ? undefined : this.queue.shift();
      if (next) {
        this.assign(slot, next);
      } else {
        worker.unref();
        this.idle.push(slot);
      }
    });
    worker.on("error", (error) => {
      slot.task?.reject(error);
      slot.task = undefined;
    });
    worker.on("exit", (code) => {
      slot.task?.reject(new Error(`a pool worker stopped (exit code ${code})`));
      slot.task = undefined;
      this.slots.delete(slot);
      const idleIndex = this.idle.indexOf(slot);
      if (idleIndex >= 0) this.idle.splice(idleIndex, 1);
      // Calls that queued up behind the dead worker get a fresh one.
      this.pump();
    });
    return slot;
  }
}
