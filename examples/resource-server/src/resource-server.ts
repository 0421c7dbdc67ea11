import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { GraphQLError } from "graphql";
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";

/**
 * A second GraphQL service that trusts graphql-jwt-auth's access tokens through its JWKS URL
 * alone: it holds no secret and could not mint a token if it wanted to. Another subgraph, a
 * reporting API, anything that only needs to know who is calling and with which roles.
 */

export interface ResourceServerOptions {
  /** e.g. http://localhost:4000/.well-known/jwks.json */
  readonly jwksUrl: string;
  /** JWT_ISSUER and JWT_AUDIENCE of the auth server. */
  readonly issuer: string;
  readonly audience: string;
  readonly port?: number;
}

interface Caller {
  readonly userId: string;
  readonly roles: readonly string[];
}

const typeDefs = `#graphql
  type Query {
    "Anyone with a valid access token."
    whoAmI: String!
    "Only callers whose token carries the ADMIN role."
    quarterlyReport: String!
  }
`;

function requireCaller(caller: Caller | undefined): Caller {
  if (!caller) {
    throw new GraphQLError("Send a valid access token.", {
      extensions: { code: "UNAUTHENTICATED" },
    });
  }
  return caller;
}

export async function startResourceServer(
  options: ResourceServerOptions,
): Promise<{ url: string; stop(): Promise<void> }> {
  // Fetched once and cached; a token naming a kid it has not seen makes it fetch again
  // (rate-limited by jose), which is how new keys of a rotation arrive.
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl));
  const server = new ApolloServer<{ caller?: Caller }>({
    typeDefs,
    resolvers: {
      Query: {
        whoAmI: (_root, _args, { caller }) => requireCaller(caller).userId,
        quarterlyReport: (_root, _args, { caller }) => {
          if (!requireCaller(caller).roles.includes("ADMIN")) {
            throw new GraphQLError("Administrators only.", { extensions: { code: "FORBIDDEN" } });
          }
          return "Q4: all green.";
        },
      },
    },
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: options.port ?? 0, host: "127.0.0.1" },
    context: async ({ req }) => {
      const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? "");
      if (!match?.[1]) return {};
      try {
        const { payload } = await jwtVerify(match[1], jwks, {
          issuer: options.issuer,
          audience: options.audience,
          // Only what the auth server signs with: never "none", never a shared-secret HS256.
          algorithms: ["ES256", "RS256"],
        });
        return { caller: callerOf(payload) };
      } catch {
        throw new GraphQLError("This access token is not valid.", {
          extensions: { code: "UNAUTHENTICATED", http: { status: 401 } },
        });
      }
    },
  });
  return { url, stop: () => server.stop() };
}

function callerOf(payload: JWTPayload): Caller | undefined {
  const roles = payload.roles;
  if (typeof payload.sub !== "string" || !Array.isArray(roles)) return undefined;
  return { userId: payload.sub, roles: roles.filter((r): r is string => typeof r === "string") };
}
