import { registerEnumType } from "type-graphql";

export enum Role {
  USER = "USER",
  MODERATOR = "MODERATOR",
  ADMIN = "ADMIN",
}

registerEnumType(Role, {
  name: "Role",
  description: "What a user may see and do. A user holds one or more roles.",
});

const allRoles = new Set<string>(Object.values(Role));

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && allRoles.has(value);
}
