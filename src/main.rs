//! `learngraph`: parse the command line and run it (see `cli.rs`).

/// mimalloc rather than glibc's malloc: profiles of the benchmark's queries (bench/run
/// --profile) spent 23% (Q1) to 32% (Q7) of the service's CPU in glibc's allocator, whose
/// per-thread arenas consolidate and unlink chunks on the request path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    learngraph::cli::main()
}
