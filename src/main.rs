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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

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
