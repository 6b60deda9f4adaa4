//! The `tally` binary.

fn main() -> std::process::ExitCode {
    tally::cli::main()
}
