import type { Collection, Document } from "mongodb";
import { isDuplicateKeyError } from "./mongo-errors";

/*
 * The only two writes that every MongoDB-compatible server we support applies atomically under
 * concurrency. FerretDB 1.24 runs an update as read, change in Go, write back: two concurrent
 * updates of one document lose one of them (measured: 50 concurrent $inc left 13; 20
 * compare-and-set updates had 5 winners). An insert against a unique key, and a delete by _id
 * that reports how many documents it removed, are decided by the storage engine itself. Every
 * rule that must hold under concurrency (one winner of a name, of a rotation, of a single-use
 * token, of a version) is built on these two.
 *
 * Both filter on _id alone: FerretDB on SQLite answers only a filter that is exactly {_id: value}
 * from its primary key; a filter with any other field scans the whole collection.
 */

/**
 * A model's collection for the driver's own calls, typed by its entity class: the request path
 * uses these to skip mongoose's document building, which costs more than the lookup itself.
 */
export function collectionOf<T extends Document>(model: {
  readonly collection: unknown;
}): Collection<T> {
  return model.collection as Collection<T>;
}

/** Inserts `doc`; false when a document with its key (or another unique key) already exists. */
export async function insertOnce<T extends Document>(
  collection: Collection<T>,
  doc: Parameters<Collection<T>["insertOne"]>[0],
): Promise<boolean> {
  try {
    await collection.insertOne(doc);
    return true;
  } catch (error) {
    if (isDuplicateKeyError(error)) return false;
    throw error;
  }
}

/** Deletes the document with this _id; true only for the one caller that removed it. */
export async function deleteById<T extends Document>(
  collection: Collection<T>,
  id: unknown,
): Promise<boolean> {
  const { deletedCount } = await collection.deleteOne({ _id: id } as never);
  return deletedCount === 1;
}
