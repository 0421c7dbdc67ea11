import type mongoose from "mongoose";

/** One database command as the driver saw it finish. */
export interface DatabaseCommand {
  /** The driver's command name: find, insert, update, findAndModify, aggregate, ... */
  readonly name: string;
  readonly durationSeconds: number;
  readonly failed: boolean;
}

export type DatabaseCommandListener = (command: DatabaseCommand) => void;

const listeners = new Set<DatabaseCommandListener>();
const watched = new WeakSet<mongoose.mongo.MongoClient>();

/**
 * Hears every command of the process's connection (there is one per process, shared by every
 * server instance in it). Only connections made with `monitorCommands` report any: the driver
 * builds an event object per command for them, a cost paid only when something listens.
 * Returns a function that stops listening.
 */
export function onDatabaseCommand(listener: DatabaseCommandListener): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/** Forwards the client's command events to the listeners; once per client. */
export function watchCommands(client: mongoose.mongo.MongoClient): void {
  if (watched.has(client)) return;
  watched.add(client);
  const report = (command: DatabaseCommand) => {
    for (const listener of listeners) {
      try {
        listener(command);
      } catch {
        // A metric's failure must never fail the query it measured.
      }
    }
  };
  client.on("commandSucceeded", (event) =>
    report({ name: event.commandName, durationSeconds: event.duration / 1000, failed: false }),
  );
  client.on("commandFailed", (event) =>
    report({ name: event.commandName, durationSeconds: event.duration / 1000, failed: true }),
  );
}
