//! `learngraph`: parse the command line and run it (see `cli.rs`).

fn main() -> std::process::ExitCode {
    learngraph::cli::main()
}
