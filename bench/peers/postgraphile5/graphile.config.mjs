// PostGraphile v5 over the bench database, configured as the v4 peer is run: the Amber preset,
// simplified inflection (`course(id:)`, `lessons`), the connection filter, no mutations, no
// Relay global ids (the `id` field stays the primary key), every column orderable and
// filterable, one pool of 16 connections through PgBouncer. Grafast plans each query into one
// SQL statement. (The peer's own configuration, written for this bench.)
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

/** Keeps a primary key column called `id` as `id` (v5 renames it `rowId` to leave `id` to Relay). */
const KeepIdPlugin = {
  name: "BenchKeepIdPlugin",
  version: "1.0.0",
  inflection: {
    replace: {
      _attributeName(previous, _options, details) {
        return previous({ ...details, skipRowId: true });
      },
    },
  },
};

export default {
  extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset, PostGraphileConnectionFilterPreset],
  plugins: [KeepIdPlugin],
  // as v4 runs here: every column can order and filter (v4 ignores indexes by default)
  disablePlugins: [
    "NodePlugin",
    "PgIndexBehaviorsPlugin",
    "PgMutationCreatePlugin",
    "PgMutationUpdateDeletePlugin",
    "MutationPayloadQueryPlugin",
  ],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 16 },
    }),
  ],
  grafserv: { host: "127.0.0.1", port: Number(process.env.PORT), graphqlPath: "/graphql", watch: false },
  grafast: { explain: false },
};
