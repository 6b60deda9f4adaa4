//! The `tally` binary.

/// jemalloc instead of the system allocator. The consumer allocates and frees every batch's
/// events (tens of thousands of small strings, a few multi-megabyte buffers); glibc's malloc
/// handed that memory back to the kernel between batches and page-faulted it in again, about
/// a quarter of the consumer's CPU in a profile. jemalloc keeps freed pages for reuse
/// (`docs/BENCHMARKS.md`, "Sixth session"). Its options are set at build time in
/// `.cargo/config.toml` (`oversize_threshold:0`, see there).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    tally::cli::main()
}
