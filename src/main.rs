// glibc's malloc spent a third of a corpus build in allocation and freeing across threads;
// mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sigc::cli::main()
}
