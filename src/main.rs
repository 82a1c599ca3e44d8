//! The `traillake` binary: parse arguments, run, map the outcome to an exit code.

use clap::Parser;
use traillake::cli::{self, Cli};

// See `traillake::allocator` for why.
#[global_allocator]
static GLOBAL: traillake::allocator::Allocator = traillake::allocator::Allocator;

fn main() {
    traillake::allocator::tune();
    // `traillake … | head` should end quietly, as other Unix tools do, not panic on EPIPE.
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = match Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            // A mistake on the command line is the user's: exit 1, as every user error does
            // (clap itself would exit 2, which our contract keeps for internal faults). Help
            // and version are not errors.
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    // A server logs every query (info) unless told otherwise.
    let serving = matches!(args.command, cli::Command::Serve(_));
    init_logging(args.verbose, serving);
    // Planning and optimising a query recurse over its expression tree: a generated statement
    // (`1 + 1 + … ` five thousand times, a long OR chain) overflowed the default 2–8 MiB stacks
    // and killed the process. Every thread that plans or runs a query gets a large stack; it is
    // address space, touched only as deep as a query goes.
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(WORKER_STACK_BYTES).build() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                std::process::exit(2);
            }
        };
    let main =
        std::thread::Builder::new().name("traillake-main".into()).stack_size(MAIN_STACK_BYTES).spawn(move || {
            let outcome = runtime.block_on(cli::run(args));
            // The process exits next; waiting here for blocking tasks (a terminal read) could hang.
            std::mem::forget(runtime);
            outcome
        });
    let outcome = match main.map(|t| t.join()) {
        Ok(Ok(outcome)) => outcome,
        _ => {
            eprintln!("error: internal error: the main thread failed");
            std::process::exit(2);
        }
    };
    let code = match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// Stack of the thread that runs the command (and plans its queries), and of the runtime's
/// threads (Flight SQL plans on them; operators recurse too). See `main`.
const MAIN_STACK_BYTES: usize = 256 * 1024 * 1024;
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

fn init_logging(verbose: u8, serving: bool) {
    let default = match verbose {
        0 if serving => "warn,traillake=info",
        0 => "warn",
        1 => "info,traillake=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAILLAKE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    // A server's log is read later: it needs the time of each line; one-shot commands do not.
    if serving {
        builder.init();
    } else {
        builder.without_time().init();
    }
}
