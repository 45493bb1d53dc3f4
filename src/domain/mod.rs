//! Pure rules, no I/O: ids and cursors (more as the domain grows: grading, progress).

pub mod cursor;
pub mod grading;
pub mod ids;
pub mod quiz;
pub mod slug;
