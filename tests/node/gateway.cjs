// A federated graph in front of LearnGraph, the way a platform would run one: a second
// subgraph ("reviews", written here) extends Course and User by key; Apollo's composition
// builds the supergraph from both SDLs; Apollo's gateway serves it. Run by
// tests/it/federation.rs, which sends the queries and checks the answers.
//
//   node tests/node/gateway.cjs <learngraph url> <learngraph sdl file> <world json>
//
// The world is { courses: [id…], users: [id…], draft: id }: review i is of course i mod
// |courses| by user i mod |users| with 1 + i mod 5 stars; one more review is of the draft.
// Prints one JSON line, { gateway: url }, then serves until stdin closes. Each gateway answer
// carries `extensions.fetches`: the requests the gateway sent to each subgraph, with the
// number of representations per type (what a subgraph's _entities call was asked for).
const fs = require("node:fs");

const load = require("./modules.cjs");
const { parse } = load("graphql");
const { composeServices } = load("@apollo/composition");
const { ApolloGateway, RemoteGraphQLDataSource } = load("@apollo/gateway");
const { ApolloServer } = load("@apollo/server");
const { startStandaloneServer } = load("@apollo/server/standalone");
const { buildSubgraphSchema } = load("@apollo/subgraph");

const [ourUrl, ourSdlFile, worldJson] = process.argv.slice(2);
const world = JSON.parse(worldJson);

const reviews = [];
const count = 2 * Math.max(world.courses.length, world.users.length);
for (let i = 0; i < count; i++) {
  reviews.push({
    id: `r${i}`,
    body: `Review ${i}`,
    stars: 1 + (i % 5),
    courseId: world.courses[i % world.courses.length],
    authorId: world.users[i % world.users.length],
  });
}
reviews.push({ id: "r-draft", body: "Review of a draft", stars: 5, courseId: world.draft, authorId: world.users[0] });

const reviewsTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Query {
    "The first reviews, in order."
    topReviews(first: Int! = 10): [Review!]!
  }

  type Review {
    id: ID!
    body: String!
    stars: Int!
    "Null when the caller may not see the course."
    course: Course
    author: User!
  }

  type Course @key(fields: "id") {
    id: ID!
    reviews: [Review!]!
    averageStars: Float
  }

  type User @key(fields: "id") {
    id: ID!
    reviews: [Review!]!
  }
`);

const of = (field, id) => reviews.filter((r) => r[field] === id);
const reviewsResolvers = {
  Query: { topReviews: (_, { first }) => reviews.slice(0, first) },
  Review: {
    course: (r) => ({ __typename: "Course", id: r.courseId }),
    author: (r) => ({ __typename: "User", id: r.authorId }),
  },
  Course: {
    __resolveReference: (ref) => ({ id: ref.id }),
    reviews: (c) => of("courseId", c.id),
    averageStars: (c) => {
      const list = of("courseId", c.id);
      return list.length ? list.reduce((sum, r) => sum + r.stars, 0) / list.length : null;
    },
  },
  User: {
    __resolveReference: (ref) => ({ id: ref.id }),
    reviews: (u) => of("authorId", u.id),
  },
};

// Records what the gateway asks each subgraph, and passes the caller's token on.
class RecordingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    const representations = request.variables && request.variables.representations;
    const entities = {};
    for (const rep of representations || []) {
      entities[rep.__typename] = (entities[rep.__typename] || 0) + 1;
    }
    if (context.fetches) {
      context.fetches.push({ subgraph: this.name, entities: representations ? entities : null });
    }
    if (context.authorization) {
      request.http.headers.set("authorization", context.authorization);
    }
  }
}

// Apollo's own notices go to stderr: stdout carries only the JSON line.
const logger = { debug() {}, info: (m) => console.error(m), warn: (m) => console.error(m), error: (m) => console.error(m) };

(async () => {
  const reviewsServer = new ApolloServer({ logger, schema: buildSubgraphSchema({ typeDefs: reviewsTypeDefs, resolvers: reviewsResolvers }) });
  const { url: reviewsUrl } = await startStandaloneServer(reviewsServer, { listen: { host: "127.0.0.1", port: 0 } });

  const composed = composeServices([
    { name: "learngraph", typeDefs: parse(fs.readFileSync(ourSdlFile, "utf8")), url: ourUrl },
    { name: "reviews", typeDefs: reviewsTypeDefs, url: reviewsUrl },
  ]);
  if (composed.errors && composed.errors.length) {
    console.error(`composition failed:\n${composed.errors.map((e) => e.message).join("\n")}`);
    process.exit(1);
  }

  const gateway = new ApolloGateway({
    logger,
    supergraphSdl: composed.supergraphSdl,
    buildService: ({ name, url }) => {
      const source = new RecordingDataSource({ url });
      source.name = name;
      return source;
    },
  });
  const recordFetches = {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind === "single") {
            const result = response.body.singleResult;
            result.extensions = { ...(result.extensions || {}), fetches: contextValue.fetches };
          }
        },
      };
    },
  };
  const server = new ApolloServer({ gateway, logger, plugins: [recordFetches] });
  const { url } = await startStandaloneServer(server, {
    listen: { host: "127.0.0.1", port: 0 },
    context: async ({ req }) => ({ fetches: [], authorization: req.headers.authorization }),
  });
  const staffTags = (composed.supergraphSdl.match(/@tag\(name: "staff"\)/g) || []).length;
  const hints = (composed.hints || []).map((h) => h.toString());
  process.stdout.write(`${JSON.stringify({ gateway: url, hints, staffTags })}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
