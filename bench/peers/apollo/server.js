// The Apollo peer: Apollo Server 4 + @apollo/subgraph + dataloader + pg, answering the
// benchmark's queries with LearnGraph's field names over the same PostgreSQL, written the way a
// careful Node team would (one DataLoader per lookup per request, prepared statements, a pool).
// Read models are not used: everything comes from PostgreSQL.
//
//   DATABASE_URL=postgres://… PORT=58082 JWT_SECRET=… node server.js

import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import DataLoader from "dataloader";
import gql from "graphql-tag";
import jwt from "jsonwebtoken";
import pg from "pg";

// numeric stays a string (exact decimals), as LearnGraph's Decimal
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 32 });

const typeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  enum CourseLevel { BEGINNER INTERMEDIATE ADVANCED }
  enum CourseOrderBy { RELEVANCE NEWEST }
  input CourseFilterInput { levels: [CourseLevel!] search: String }

  type Query {
    courses(first: Int = 20, after: String, filter: CourseFilterInput, orderBy: CourseOrderBy): CourseConnection!
    course(id: ID!): Course
    me: Learner
    quiz(id: ID!): Quiz
  }

  type PageInfo { endCursor: String }
  type CourseConnection { nodes: [Course!]! pageInfo: PageInfo! }
  type Category { name: String! }
  type User @key(fields: "id") { id: ID! firstName: String! lastName: String! }
  type Course @key(fields: "id") {
    id: ID! title: String! description: String price: String! rating: Float! tags: [String!]!
    category: Category instructor: User lessonCount: Int! lessons: [Lesson!]!
  }
  type Lesson { id: ID! title: String! position: Int! durationMinutes: Int isFree: Boolean! content: String }
  type LessonProgress { lessonId: ID! completionPercentage: Int! }
  type Progress { lessons: [LessonProgress!]! }
  type Enrollment { course: Course progress: Progress }
  type EnrollmentConnection { nodes: [Enrollment!]! }
  type Learner { enrollments(first: Int = 20): EnrollmentConnection! }
  type Question { id: ID! prompt: String! }
  type QuizAttempt { attemptNumber: Int! score: Int isPassed: Boolean }
  type Quiz { id: ID! title: String! passingScore: Int! questions: [Question!]! myAttempts: [QuizAttempt!]! }
`;

const q = (name, text, values) => pool.query({ name, text, values });

function loaders() {
  const byId = (name, sql) =>
    new DataLoader(async (ids) => {
      const { rows } = await q(name, sql, [ids]);
      const map = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => map.get(id) ?? null);
    });
  return {
    category: byId("categories", "SELECT id, name FROM categories WHERE id = ANY($1)"),
    user: byId("users", "SELECT id, first_name, last_name FROM users WHERE id = ANY($1)"),
    course: byId("courses", "SELECT * FROM courses WHERE id = ANY($1)"),
    lessonCount: new DataLoader(async (ids) => {
      const { rows } = await q("lesson_counts",
        "SELECT course_id, count(*)::int AS n FROM lessons WHERE course_id = ANY($1) GROUP BY course_id", [ids]);
      const map = new Map(rows.map((r) => [r.course_id, r.n]));
      return ids.map((id) => map.get(id) ?? 0);
    }),
    lessons: new DataLoader(async (ids) => {
      const { rows } = await q("lessons",
        "SELECT * FROM lessons WHERE course_id = ANY($1) ORDER BY course_id, order_position", [ids]);
      return ids.map((id) => rows.filter((r) => r.course_id === id));
    }),
    // the learner is part of the key: "user course"
    progress: new DataLoader(async (keys) => {
      const pairs = keys.map((k) => k.split(" "));
      const { rows } = await q("progress",
        "SELECT user_id, course_id, lesson_id, completion_percentage FROM user_progress " +
        "WHERE user_id = $1 AND course_id = ANY($2)", [pairs[0][0], pairs.map((p) => p[1])]);
      return pairs.map(([u, c]) => rows.filter((r) => r.user_id === u && r.course_id === c));
    }),
  };
}

const cursorOf = (c) => Buffer.from(`${c.created_at.toISOString()}|${c.id}`).toString("base64url");
const DOC = "c.search_vector"; // the stored search document (LearnGraph's migration 017)

const resolvers = {
  Query: {
    async courses(_, { first, after, filter, orderBy }) {
      const values = [];
      const where = ["c.is_published"];
      if (filter?.levels?.length) {
        values.push(filter.levels.map((l) => l.toLowerCase()));
        where.push(`c.level = ANY($${values.length}::text[])`);
      }
      let order = "c.created_at DESC, c.id DESC";
      if (filter?.search) {
        // the same words, ranking and typo tolerance as LearnGraph's
        const words = filter.search.split(/\s+/).filter((w) => w && !w.startsWith("-")).map((w) => w.replace(/"/g, "")).join(" ");
        values.push(filter.search, words);
        const [qp, wp] = [`$${values.length - 1}`, `$${values.length}`];
        where.push(`(${DOC} @@ websearch_to_tsquery('english', ${qp}) OR ${wp} <% c.title)`);
        if (orderBy !== "NEWEST") {
          order = `(ts_rank_cd(${DOC}, websearch_to_tsquery('english', ${qp}))::float8 + word_similarity(${wp}, c.title)::float8) DESC, c.id DESC`;
        }
      }
      if (after) {
        const [at, id] = Buffer.from(after, "base64url").toString().split("|");
        values.push(at, id);
        where.push(`(c.created_at, c.id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
      }
      const sql = `SELECT c.* FROM courses c WHERE ${where.join(" AND ")} ORDER BY ${order} LIMIT ${Math.min(first, 100)}`;
      const { rows } = await pool.query(sql, values);
      return { nodes: rows, pageInfo: { endCursor: rows.length ? cursorOf(rows[rows.length - 1]) : null } };
    },
    course: (_, { id }, ctx) => ctx.loaders.course.load(id).then((c) => (c && c.is_published ? c : null)),
    me: (_, __, ctx) => (ctx.user ? { id: ctx.user } : null),
    async quiz(_, { id }) {
      const { rows } = await q("quiz", "SELECT * FROM quizzes WHERE id = $1 AND is_active", [id]);
      return rows[0] ?? null;
    },
  },
  Course: {
    __resolveReference: (ref, ctx) => ctx.loaders.course.load(ref.id),
    rating: (c) => Number(c.rating),
    category: (c, _, ctx) => (c.category_id ? ctx.loaders.category.load(c.category_id) : null),
    instructor: (c, _, ctx) => (c.instructor_id ? ctx.loaders.user.load(c.instructor_id) : null),
    lessonCount: (c, _, ctx) => ctx.loaders.lessonCount.load(c.id),
    lessons: (c, _, ctx) => ctx.loaders.lessons.load(c.id),
  },
  User: {
    __resolveReference: (ref, ctx) => ctx.loaders.user.load(ref.id),
    firstName: (u) => u.first_name,
    lastName: (u) => u.last_name,
  },
  Lesson: {
    position: (l) => l.order_position,
    durationMinutes: (l) => l.duration_minutes,
    isFree: (l) => l.is_free,
  },
  Learner: {
    async enrollments(learner, { first }) {
      const { rows } = await q("enrollments",
        "SELECT user_id, course_id FROM enrollments WHERE user_id = $1 ORDER BY enrolled_at DESC, course_id DESC LIMIT $2",
        [learner.id, first]);
      return { nodes: rows };
    },
  },
  Enrollment: {
    // an unpublished course reads as null, as in LearnGraph
    course: (e, _, ctx) => ctx.loaders.course.load(e.course_id).then((c) => (c && c.is_published ? c : null)),
    progress: async (e, _, ctx) => ({ lessons: await ctx.loaders.progress.load(`${e.user_id} ${e.course_id}`) }),
  },
  LessonProgress: {
    lessonId: (p) => p.lesson_id,
    completionPercentage: (p) => p.completion_percentage,
  },
  Quiz: {
    passingScore: (z) => z.passing_score,
    questions: (z) => z.questions.map((x) => ({ id: x.id, prompt: x.prompt })),
    async myAttempts(z, _, ctx) {
      if (!ctx.user) return [];
      const { rows } = await q("attempts",
        "SELECT attempt_number, score, is_passed, completed_at FROM quiz_attempts WHERE user_id = $1 AND quiz_id = $2 " +
        "ORDER BY attempt_number DESC", [ctx.user, z.id]);
      return rows.map((a) => ({
        attemptNumber: a.attempt_number,
        score: a.completed_at ? a.score : null,
        isPassed: a.completed_at ? a.is_passed : null,
      }));
    },
  },
};

const server = new ApolloServer({ schema: buildSubgraphSchema([{ typeDefs, resolvers }]) });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(process.env.PORT ?? 58082), host: "127.0.0.1" },
  context: async ({ req }) => {
    let user = null;
    const auth = req.headers.authorization ?? "";
    if (auth.startsWith("Bearer ")) {
      const claims = jwt.verify(auth.slice(7), process.env.JWT_SECRET, { algorithms: ["HS256"] });
      user = claims.sub;
    }
    return { user, loaders: loaders() };
  },
});
console.log(`apollo peer on ${url}`);
