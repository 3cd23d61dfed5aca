// PostGraphile v5, the peer of the benchmark: the amber preset plus the connection-filter
// plugin over the same `public` schema. bench/postgraphile.py copies this file next to the
// npm install (outside the repository) and starts `postgraphile --config` on it.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";
import { makePgService } from "postgraphile/adaptors/pg";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  // The module filters and orders on every column; without this PostGraphile offers only
  // the indexed ones (`name` has no index), so the W1/W3 filter could not be expressed.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString: process.env.BENCH_DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 20 },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.BENCH_POSTGRAPHILE_PORT || 15678),
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
    maxRequestLength: 64 * 1024 * 1024,
  },
  grafast: { explain: false },
  schema: {
    connectionFilterAllowNullInput: false,
  },
};

export default preset;
