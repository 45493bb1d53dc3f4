//! The bridge from PostgreSQL (system of record) to the MongoDB read models: the outbox
//! written by triggers in the same transaction as every change (migration 14), document
//! builders, the projector that drains the outbox, and rebuild/verify.

pub mod build;
pub mod cache;
pub mod docs;
pub mod feed;
pub mod maintain;
pub mod projector;
pub mod read;
