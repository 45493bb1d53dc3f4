// The Apollo peer: Apollo Server 4 + @apollo/subgraph + dataloader + pg, answering the
// benchmark's queries with LearnGraph's field names over the same PostgreSQL, written the way a
// careful Node team would (one DataLoader per lookup per request, prepared statements, a pool).
// Read models are not used: everything comes from PostgreSQL.
//
//   DATABASE_URL=postgres://… PORT=58082 JWT_SECRET=… node server.js

import { ApolloServer } from "@apollo/server";
import { GraphQLError } from "graphql";
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
  type QuestionFeedback { questionId: ID! correct: Boolean! pointsAwarded: Int! pointsPossible: Int! }
  type QuizAttempt { attemptNumber: Int! score: Int isPassed: Boolean feedback: [QuestionFeedback!]! }
  input AnswerInput { questionId: ID! optionIds: [ID!]! = [] text: String }
  type Mutation {
    submitQuizAttempt(attemptId: ID!, answers: [AnswerInput!]!, idempotencyKey: String!): QuizAttempt!
  }
  type Quiz { id: ID! title: String! passingScore: Int! questions: [Question!]! myAttempts: [QuizAttempt!]! }
`;

const q = (name, text, values) => pool.query({ name, text, values });

const badInput = (message) => new GraphQLError(message, { extensions: { code: "BAD_USER_INPUT" } });

// LearnGraph's grading rules: all or nothing per question, a score out of 100
function grade(questions, answers) {
  const given = new Map();
  for (const a of answers) {
    const question = questions.find((x) => x.id === a.questionId);
    if (!question) throw badInput(`\`answers\`: the quiz has no question \`${a.questionId}\``);
    if (given.has(a.questionId)) throw badInput(`\`answers\`: question \`${a.questionId}\` is answered twice`);
    if (question.options && a.optionIds.some((o) => !question.options.some((c) => c.id === o))) {
      throw badInput(`\`answers\`: question \`${a.questionId}\` has an unknown option`);
    }
    given.set(a.questionId, a);
  }
  let earned = 0, possible = 0;
  const feedback = questions.map((x) => {
    const a = given.get(x.id);
    let correct = false;
    if (a && x.type === "single_choice") correct = a.optionIds.length === 1 && x.correct.includes(a.optionIds[0]);
    if (a && x.type === "multiple_choice") {
      const chosen = new Set(a.optionIds);
      correct = chosen.size > 0 && chosen.size === new Set(x.correct).size && x.correct.every((c) => chosen.has(c));
    }
    if (a && x.type === "short_answer" && a.text != null) {
      const t = a.text.trim().toLowerCase();
      correct = x.accepted.some((acc) => acc.trim().toLowerCase() === t);
    }
    const points = Math.max(x.points ?? 1, 0);
    possible += points;
    if (correct) earned += points;
    return { question_id: x.id, correct, points_awarded: correct ? points : 0, points_possible: points };
  });
  const score = possible === 0 ? 0 : Math.min(100, Math.max(0, Math.round((earned * 100) / possible)));
  return { score, feedback };
}

const ATTEMPT_COLUMNS = "id, user_id, quiz_id, score, answers, is_passed, attempt_number, started_at, completed_at";

// one transaction: the idempotency key claimed, the attempt locked, graded, completed, and
// the response stored with the key (a retry with the same key replays it)
async function submitQuizAttempt(user, { attemptId, answers, idempotencyKey }) {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const args = { attemptId, answers: answers.map((a) => [a.questionId, a.optionIds, a.text ?? null]) };
    const claim = await client.query({
      name: "claim_key",
      text: "INSERT INTO idempotency_keys (user_id, key, operation, arguments) VALUES ($1, $2, 'submitQuizAttempt', $3) " +
        "ON CONFLICT (user_id, key) DO NOTHING",
      values: [user, idempotencyKey, JSON.stringify(args)],
    });
    if (claim.rowCount === 0) {
      const { rows } = await client.query({ name: "read_key", text: "SELECT response FROM idempotency_keys WHERE user_id = $1 AND key = $2", values: [user, idempotencyKey] });
      await client.query("ROLLBACK");
      return rows[0].response;
    }
    const { rows } = await client.query({
      name: "lock_attempt",
      text: "SELECT a.user_id, a.completed_at, q.questions, q.passing_score, " +
        "(q.time_limit_minutes IS NOT NULL AND now() > a.started_at + make_interval(mins => q.time_limit_minutes) + interval '30 seconds') AS expired, " +
        "(q.is_active AND c.is_published AND EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = a.user_id AND e.course_id = l.course_id)) AS allowed " +
        "FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id JOIN lessons l ON l.id = q.lesson_id " +
        "JOIN courses c ON c.id = l.course_id WHERE a.id = $1 FOR UPDATE OF a",
      values: [attemptId],
    });
    const found = rows[0];
    if (!found || found.user_id !== user) throw badInput("`attemptId`: you have no attempt with this id");
    if (found.completed_at) throw badInput("`attemptId`: this attempt was already submitted");
    if (!found.allowed) throw new GraphQLError("forbidden", { extensions: { code: "FORBIDDEN" } });
    if (found.expired) throw badInput("`attemptId`: the time limit is over");
    const graded = grade(found.questions, answers);
    const sheet = graded.feedback.map((f) => {
      const a = answers.find((x) => x.questionId === f.question_id);
      return { question_id: f.question_id, option_ids: a ? a.optionIds : [], text: a?.text ?? null, feedback: f };
    });
    const done = await client.query({
      name: "complete_attempt",
      text: "UPDATE quiz_attempts SET score = $2, is_passed = $3, answers = $4, completed_at = now(), " +
        "time_taken_minutes = GREATEST(0, CEIL(EXTRACT(EPOCH FROM now() - started_at) / 60))::int " +
        `WHERE id = $1 RETURNING ${ATTEMPT_COLUMNS}`,
      values: [attemptId, graded.score, graded.score >= found.passing_score, JSON.stringify(sheet)],
    });
    const response = done.rows[0];
    await client.query({ name: "store_key", text: "UPDATE idempotency_keys SET response = $3 WHERE user_id = $1 AND key = $2",
      values: [user, idempotencyKey, JSON.stringify(response)] });
    await client.query("COMMIT");
    return response;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

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
  Mutation: {
    submitQuizAttempt(_, args, ctx) {
      if (!ctx.user) throw new GraphQLError("sign in first", { extensions: { code: "UNAUTHENTICATED" } });
      return submitQuizAttempt(ctx.user, args);
    },
  },
  QuizAttempt: {
    attemptNumber: (a) => a.attemptNumber ?? a.attempt_number,
    isPassed: (a) => (a.isPassed !== undefined ? a.isPassed : a.is_passed),
    feedback: (a) => (Array.isArray(a.answers) ? a.answers : []).filter((i) => i.feedback).map((i) => ({
      questionId: i.feedback.question_id, correct: i.feedback.correct,
      pointsAwarded: i.feedback.points_awarded, pointsPossible: i.feedback.points_possible,
    })),
  },
  Course: {
    // a draft is not an entity anyone outside may fetch, as in LearnGraph
    __resolveReference: (ref, ctx) => ctx.loaders.course.load(ref.id).then((c) => (c && c.is_published ? c : null)),
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
