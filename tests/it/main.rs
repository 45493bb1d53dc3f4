//! The integration tests: one binary, run by `scripts/test` against the real stack
//! (PostgreSQL 15, PgBouncer in transaction mode, SecantusDB). Each test gets its own
//! PostgreSQL database (cloned from a migrated template) and its own Mongo database.
#![recursion_limit = "256"] // the exact-JSON expectations in fields.rs nest deeply

mod support;

mod authoring;
mod authorization;
mod cache;
mod cache_control;
mod cli;
mod courses;
mod dashboard;
mod deploy;
mod discovery;
mod faults;
mod federation;
mod fields;
mod graphiql;
mod http_audit;
mod learner;
mod metrics;
mod migrations;
mod ops;
mod persisted;
mod pooler;
mod projection;
mod quizzes;
mod readiness;
mod round_trips;
mod schema;
mod security;
mod stats;
mod telemetry;
