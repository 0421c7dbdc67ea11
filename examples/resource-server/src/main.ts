import { startResourceServer } from "./resource-server";

/** `npm run example:resource-server`, next to `npm start`. */
const authOrigin = process.env.AUTH_SERVER_URL ?? "http://localhost:4000";
startResourceServer({
  jwksUrl: `${authOrigin}/.well-known/jwks.json`,
  issuer: process.env.JWT_ISSUER ?? "graphql-jwt-auth",
  audience: process.env.JWT_AUDIENCE ?? "graphql-jwt-auth",
  port: Number(process.env.PORT ?? 4100),
}).then(
  ({ url }) => console.error(`resource server ready at ${url}`),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
