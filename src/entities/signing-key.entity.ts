import { getModelForClass, index, modelOptions, prop, Severity } from "@typegoose/typegoose";
import { collectionOf } from "../db/atomic-writes";

/**
 * A managed signing key (src/auth/signing-keys.ts). The _id "<alg>:<slot>" is what makes
 * instances agree: the key of a rotation slot is inserted once.
 */
@modelOptions({
  schemaOptions: { collection: "signing_keys" },
  options: { allowMixed: Severity.ALLOW },
})
@index({ alg: 1, expiresAt: 1 })
export class SigningKeyRecord {
  @prop({ type: String, required: true })
  _id!: string;

  @prop({ required: true })
  kid!: string;

  @prop({ required: true, type: String })
  alg!: "ES256" | "RS256";

  /** The public half as a JWK, as the JWKS publishes it. */
  @prop({ required: true })
  publicJwk!: object;

  /** PKCS#8 PEM, AES-256-GCM encrypted unless the server runs without a key encryption secret. */
  @prop({ required: true })
  privateKey!: {
    encryption: "aes-256-gcm" | "none";
    iv?: string;
    tag?: string;
    data: string;
  };

  @prop({ required: true })
  createdAt!: Date;

  /** In the JWKS from here: before it signs anything, so caches already hold it. */
  @prop({ required: true })
  publishAt!: Date;

  /** Signs from here... */
  @prop({ required: true })
  activatesAt!: Date;

  /** ...until here. */
  @prop({ required: true })
  retiresAt!: Date;

  /** Verifies until every token it signed has expired; then it is deleted. */
  @prop({ required: true })
  expiresAt!: Date;
}

export const SigningKeyModel = getModelForClass(SigningKeyRecord);
export const signingKeyCollection = collectionOf<SigningKeyRecord>(SigningKeyModel);
