//! LearnGraph: a GraphQL service for online learning. PostgreSQL is the system of record;
//! MongoDB serves document read models. See `app.rs` for how a request flows.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod loaders;
pub mod metrics;
pub mod migrate;
pub mod progress;
pub mod projection;
pub mod seed;
pub mod store;
pub mod telemetry;
