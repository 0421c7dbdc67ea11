import { getModelForClass, index, modelOptions, prop, Severity } from "@typegoose/typegoose";
import { RECORD_VERSIONS } from "../db/versioned-records";

/*
 * The collections behind VersionedRecords (src/db/versioned-records.ts), declared as models so
 * their indexes are created with the others and the retention sweep can reach them. Request
 * code reads them by _id only.
 *
 * Heads live in one collection per kind of record, so `db.usernames.find()` shows who owns
 * which name: usernames and emails (the unique names of accounts), signin_throttle,
 * user_sessions, records (administrators, background-work leases, rate limits).
 */

@modelOptions({ options: { allowMixed: Severity.ALLOW } })
@index({ exp: 1 })
export class RecordHead {
  @prop({ type: String, required: true })
  _id!: string;

  @prop({ required: true })
  v!: number;

  @prop()
  s?: unknown;

  @prop({ required: true })
  at!: Date;

  /** When the state stops mattering: the sweep deletes the record (and its versions) after. */
  @prop({ required: true })
  exp!: Date;
}

export const HEAD_COLLECTIONS = {
  usernames: "usernames",
  emails: "emails",
  signinThrottle: "signin_throttle",
  userSessions: "user_sessions",
  records: "records",
} as const;

export const headModels = Object.values(HEAD_COLLECTIONS).map((collection) =>
  getModelForClass(RecordHead, {
    schemaOptions: { collection },
    options: { customName: `RecordHead_${collection}` },
  }),
);

@modelOptions({
  schemaOptions: { collection: RECORD_VERSIONS },
  options: { allowMixed: Severity.ALLOW },
})
@index({ k: 1, v: 1 })
@index({ at: 1 })
export class RecordVersion {
  @prop({ type: String, required: true })
  _id!: string;

  /** "<namespace>:<key>"; the _id is "<namespace>:<key>#<v>". */
  @prop({ required: true })
  k!: string;

  @prop({ required: true })
  v!: number;

  @prop()
  s?: unknown;

  @prop({ required: true })
  at!: Date;
}

export const RecordVersionModel = getModelForClass(RecordVersion);
